"""The paper's numbers (seed 002, article 1: Nicholas-Omoregbe et al., explainable DL for COVID-19 CXR;
shared/specs/seed-002-a1-a3-covid-bev-pvsoiling.md, section A1), quoted as its claims and never as
measurements; the checks its own numbers pass; and the one-line verdict.
"""

from __future__ import annotations

import itertools

import numpy as np

from vision_jax.projects.covid_cxr import evaluation

SOURCE = "seed 002 article 1 (shared/specs/seed-002-a1-a3-covid-bev-pvsoiling.md, A1)"
DATASET = "COVID-19 Radiography Database (21,165 PA CXRs; ImageNet-pretrained Xception, 512 px)"
TEST_POSITIVES, TEST_NEGATIVES = 542, 2633  # the paper's test split
CLASS_COUNTS = {"COVID": 3616, "Normal": 10192, "Lung_Opacity": 6012, "Viral Pneumonia": 1345}  # Table 1

# Results at threshold 0.5 and 0.4 (text), with their confusion counts.
AT_05 = {"accuracy": 0.953, "precision": 0.882, "recall": 0.838, "f1": 0.859, "mcc": 0.83, "auc": 0.983}
CM_05 = {"tn": 2572, "tp": 454, "fn": 88, "fp": 61}
AT_04 = {"accuracy": 0.951, "precision": 0.834, "recall": 0.891, "f1": 0.862, "mcc": 0.83}
CM_04 = {"fn": 59, "fp": 96}
STATED_PLATEAU = (0.35, 0.45)
# Fig. 13 examples: (name, P(COVID), threshold, % CAM energy inside the lungs).
FIG13 = (("Normal-7067", 0.1706, 0.4, 50.7), ("COVID-3111", 0.7670, 0.4, 61.1))
# Table 2: threshold -> (Acc, Prec, Rec, F1, MCC), two decimals.
TABLE2 = {
    0.05: (.70, .37, .99, .53, .48), 0.10: (.82, .49, .99, .65, .61), 0.15: (.88, .58, .98, .73, .69),
    0.20: (.91, .67, .97, .80, .76), 0.25: (.93, .71, .95, .81, .78), 0.30: (.94, .76, .93, .84, .81),
    0.35: (.95, .81, .91, .86, .83), 0.40: (.95, .83, .89, .86, .83), 0.45: (.95, .85, .87, .86, .83),
    0.50: (.95, .88, .84, .86, .83), 0.55: (.95, .90, .82, .86, .83), 0.60: (.95, .93, .78, .85, .82),
    0.65: (.95, .94, .74, .83, .80), 0.70: (.94, .96, .69, .80, .78), 0.75: (.94, .98, .65, .78, .77),
    0.80: (.92, .98, .57, .72, .71), 0.85: (.91, .99, .48, .65, .66), 0.90: (.89, 1.00, .37, .54, .57),
    0.95: (.86, .99, .20, .34, .41),
}
METRICS = ("accuracy", "precision", "recall", "f1", "mcc")


def _close(reported: float, value: float, decimals: int) -> bool:
  return abs(reported - value) <= 0.5 * 10.0 ** -decimals + 1e-9


def confusion_checks() -> list[dict]:
  """Recomputes the text's metrics at 0.5 and 0.4 from its confusion counts (the 0.4 counts complete
  from the test split's 542 / 2633): rows {check, reported, recomputed, consistent}."""
  rows = []
  m = evaluation.counts_metrics(CM_05["tp"], CM_05["fp"], CM_05["fn"], CM_05["tn"])
  rows.append({"check": "threshold 0.5: TP + FN = 542 positives, TN + FP = 2633 negatives",
               "reported": f"{CM_05['tp'] + CM_05['fn']} / {CM_05['tn'] + CM_05['fp']}",
               "recomputed": f"{TEST_POSITIVES} / {TEST_NEGATIVES}",
               "consistent": bool(CM_05["tp"] + CM_05["fn"] == TEST_POSITIVES and CM_05["tn"] + CM_05["fp"] == TEST_NEGATIVES)})
  for k in METRICS:
    rows.append({"check": f"threshold 0.5: {k} from TN 2572, TP 454, FN 88, FP 61", "reported": AT_05[k],
                 "recomputed": round(m[k], 4), "consistent": _close(AT_05[k], m[k], 2 if k == "mcc" else 3)})
  tp, tn = TEST_POSITIVES - CM_04["fn"], TEST_NEGATIVES - CM_04["fp"]
  m4 = evaluation.counts_metrics(tp, CM_04["fp"], CM_04["fn"], tn)
  for k in METRICS:
    rows.append({"check": f"threshold 0.4: {k} from FN 59, FP 96 (TP {tp}, TN {tn})", "reported": AT_04[k],
                 "recomputed": round(m4[k], 4), "consistent": _close(AT_04[k], m4[k], 2 if k == "mcc" else 3)})
  return rows


def table2_checks() -> list[dict]:
  """For each Table 2 row: the confusion counts that its (rounded) precision and recall imply on 542 / 2633,
  and whether its accuracy, F1 and MCC are reachable from them within the rounding (+-0.005 on each
  of precision and recall, then +-0.005 on the reported value)."""
  rows = []
  for t, (acc, prec, rec, f1, mcc) in TABLE2.items():
    reach = {"accuracy": [], "f1": [], "mcc": []}
    for dp, dr in itertools.product(np.linspace(-0.005, 0.005, 11), repeat=2):
      p, r = min(prec + dp, 1.0), min(rec + dr, 1.0)
      tp = r * TEST_POSITIVES
      fp = tp * (1 - p) / p if p > 0 else 0.0
      m = evaluation.counts_metrics(tp, fp, TEST_POSITIVES - tp, TEST_NEGATIVES - fp)
      for k in reach:
        reach[k].append(m[k])
    row = {"threshold": t}
    for k, rep in (("accuracy", acc), ("f1", f1), ("mcc", mcc)):
      lo, hi = min(reach[k]), max(reach[k])
      row[f"{k}_range"] = (round(float(lo), 3), round(float(hi), 3))
      row[f"{k}_ok"] = bool(lo - 0.005 - 1e-9 <= rep <= hi + 0.005 + 1e-9)
    row["consistent"] = bool(all(row[f"{k}_ok"] for k in ("accuracy", "f1", "mcc")))
    rows.append(row)
  return rows


def table2_plateau(tolerance: float = 0.0) -> tuple[float, float, float]:
  """The MCC plateau of the paper's own Table 2 (thresholds sharing its best two-decimal MCC)."""
  rows = [{"threshold": t, "mcc": v[4]} for t, v in TABLE2.items()]
  return evaluation.mcc_plateau(rows, tolerance)


def table2_monotone() -> dict:
  rec = [v[2] for v in TABLE2.values()]
  prec = [v[1] for v in TABLE2.values()]
  return {"recall_non_increasing": bool(np.all(np.diff(rec) <= 0)),
          "precision_non_decreasing": bool(np.all(np.diff(prec) >= 0))}


def paper_consistency() -> dict:
  """Every check of the paper's own numbers, with a summary: {"confusion", "table2", "plateau",
  "monotone", "all_confusion_consistent", "table2_inconsistent_thresholds"}."""
  conf, tab = confusion_checks(), table2_checks()
  return {"confusion": conf, "table2": tab, "plateau": table2_plateau(), "stated_plateau": STATED_PLATEAU,
          "monotone": table2_monotone(), "all_confusion_consistent": all(r["consistent"] for r in conf),
          "table2_inconsistent_thresholds": [r["threshold"] for r in tab if not r["consistent"]]}


def verdict(consistency: dict, findings: dict) -> str:
  """One line: the paper's own numbers, what cannot be tested offline, and the measured findings
  (findings: {"shortcut_coverage_falls", "shortcut_mcc_drops", "ablation_ran", "plateau": (lo, hi)})."""
  lo, hi, _ = consistency["plateau"]
  own = ("internally consistent" if consistency["all_confusion_consistent"]
         and not consistency["table2_inconsistent_thresholds"] else "inconsistent in places")
  plateau_note = (f"its Table 2 plateau is {lo:.2f}-{hi:.2f}, not the stated "
                  f"{STATED_PLATEAU[0]:.2f}-{STATED_PLATEAU[1]:.2f}" if (lo, hi) != STATED_PLATEAU else
                  "its stated plateau matches Table 2")
  parts = [f"Verdict: the paper's reported numbers are {own} (its confusion matrices reproduce its MCC and F1; "
           f"{plateau_note}); its headline Acc 95.3 / AUC 0.983 / MCC 0.83 is not tested here (a different "
           "dataset: synthetic phantoms, no ImageNet weights) - not reproduced, not refuted"]
  if findings:
    fall, drop = findings.get("shortcut_coverage_falls"), findings.get("shortcut_mcc_drops")
    fall_hires = findings.get("shortcut_coverage_falls_hires")
    if fall is not None and drop is not None:
      any_fall = fall or bool(fall_hires)
      outcome = "verified" if any_fall and drop else ("refuted" if not any_fall and not drop else "partly verified")
      hires = "" if fall_hires is None else f", on the finer layer: {'yes' if fall_hires else 'no'}"
      parts.append(f"the expected shortcut finding (lung coverage falls and clean-test MCC drops) is {outcome} "
                   f"(coverage falls on the last feature map: {'yes' if fall else 'no'}{hires}; "
                   f"MCC drops: {'yes' if drop else 'no'})")
  return "; ".join(parts) + "."
