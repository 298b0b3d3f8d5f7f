"""The paper's numbers (seed 002, article 12: Fiscale et al., VGG19 -> t-SNE -> CFM + XGBoost), quoted as
its claims and never as measurements, and the one-line verdict."""

from __future__ import annotations

SOURCE = ("seed 002 article 12 (shared/specs/seed-002-a10-a12-pose-legaltext-exoplanet.md, section C; "
          "paper Tables 3 and 4)")
# Table 4, Kepler Q1-Q17 DR24 test set: precision, recall, F1, misclassification rate (%).
TABLE4_DR24 = {
    "AFP": (0.9943, 0.9932, 0.9937, 1.25),
    "PC": (0.9972, 0.9986, 0.9979, 0.42),
    "NTP": (0.9803, 0.9803, 0.9803, 3.93),
}
TABLE4_DR25 = {"AFP": (0.910, 0.985, 0.946), "PC": (0.971, 0.996, 0.983), "NTP": (0.997, 0.972, 0.984)}
TABLE4_TEY23_F1 = 1.0  # B, E and J all 1.000 / 1.000 / 1.000, 0 % misclassified
# Table 3, "This work": Kepler = macro mean of the six DR24 + DR25 class scores.
TABLE3_KEPLER = {"precision": 0.974, "recall": 0.987, "f1": 0.980}
TABLE3_TESS = {"precision": 1.0, "recall": 1.0, "f1": 1.0}
QUOTES = (
    "\"The n 2560-length feature vectors [...] are saved at the end of the last training epoch\" after "
    "VGG19 is \"trained for 300 epochs on each dataset [...] until overfitting\" on all n global views (Section 4, Step 1).",
    "t-SNE is run on D1-train and on \"the entire dataset D1, from which D2 is obtained. We extract from this "
    "representation the set D2-test\" (Section 4, Step 2).",
    "\"our model achieves the highest scores on both Kepler and TESS datasets, with an F1-score of 0.980 and 1.0\" "
    "(Section 6.4); the abstract says 98 %, the introduction 99 %.",
)


def dr24_macro_f1() -> float:
  """Macro F1 of the paper's Table 4 DR24 rows (the closest analogue of the simulated DR24-like set)."""
  return sum(v[2] for v in TABLE4_DR24.values()) / len(TABLE4_DR24)


def verdict(scores: dict) -> str:
  """One line from {protocol: macro F1 of the CFM classifier} (paper and heldout when both ran)."""
  claim = dr24_macro_f1()
  head = f"Paper claim: macro F1 {claim:.3f} on Kepler DR24 (Table 4; Table 3 Kepler {TABLE3_KEPLER['f1']:.3f})."
  if "paper" not in scores or "heldout" not in scores:
    ran = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
    return f"{head} Measured CFM macro F1: {ran}. Verdict: incomplete (run both the paper and heldout protocols)."
  paper, held = scores["paper"], scores["heldout"]
  here = f"Measured CFM macro F1: paper protocol {paper:.3f}, held-out {held:.3f}."
  if held >= claim - 0.02:
    judge = "reproduced under the held-out protocol"
  elif paper >= claim - 0.05 and paper - held >= 0.05:
    judge = (f"not reproduced: the near-perfect score needs the leak (the held-out protocol loses "
             f"{paper - held:.3f} F1)")
  elif paper - held >= 0.05:
    judge = (f"not reproduced: even with the leak the score stays {claim - paper:.3f} below the claim, and the "
             f"leak is worth {paper - held:.3f} F1")
  else:
    judge = "not reproduced, and the leak does not explain the gap at this scale"
  return f"{head} {here} Verdict: {judge}."
