"""The paper's numbers (seed 002, article 3: Khan, Wadood et al., RF + MobileNetV3-Small OR-ensemble for PV
soiling), quoted as its claims and never as measurements, and the one-line verdict."""

from __future__ import annotations

SOURCE = "seed 002 article 3 (shared/specs/seed-002-a1-a3-covid-bev-pvsoiling.md, section A3)"
MODELS = ("RF", "CNN", "OR")
# Table 4: the stratified 70/15/15 split of the 383 Kaggle images (clean, dusty).
TABLE4_SPLIT = {"train": (135, 133), "val": (29, 29), "test": (29, 28)}
# Table 6 (10 stratified runs, seeds 100-109): metric -> (mean, sd, CI low, CI high), 4 decimals.
TABLE6 = {
    "RF": {"accuracy": (0.8534, 0.0338, 0.8293, 0.8776), "dusty_recall": (0.8966, 0.0488, 0.8617, 0.9314),
           "dusty_f1": (0.8594, 0.0321, 0.8365, 0.8824), "auc": (0.9380, 0.0272, 0.9185, 0.9574)},
    "CNN": {"accuracy": (0.8897, 0.0260, 0.8711, 0.9082), "dusty_recall": (0.8172, 0.0631, 0.7721, 0.8624),
            "dusty_f1": (0.8801, 0.0320, 0.8571, 0.9030), "auc": (0.9623, 0.0106, 0.9547, 0.9699)},
    "OR": {"accuracy": (0.9663, 0.0177, 0.9537, 0.9790), "dusty_recall": (0.9896, 0.0104, 0.9822, 0.9970),
           "dusty_f1": (0.9592, 0.0295, 0.9381, 0.9803), "auc": (0.9920, 0.0102, 0.9847, 0.9993)},
}
TABLE6_DECIMALS = 4
# Table 7 (unseen Kaggle set, 2562 images: 1493 clean, 1069 dusty): accuracy (fraction of the printed
# percent, 4 decimals), dusty recall and dusty F1 (2 decimals).
TABLE7 = {"RF": (0.6710, 0.69, 0.64), "CNN": (0.7455, 0.76, 0.71), "OR": (0.8593, 0.90, 0.87)}
TABLE7_COUNTS = (1493, 1069)
SEEN_COUNTS = (193, 190)
QUOTES = (
    "\"a panel is marked dusty if either model marks it dusty, and it is marked clean only if both models agree "
    "on a clean state\" (Section 3.6); p_ens = max(p_RF, p_CNN), SI = 100 p_ens, bands < 30 / 30-60 / >= 60 (Section 3.7).",
    "\"the proposed OR-ensemble achieves an average accuracy of 0.9663 +- 0.0177 with dusty recall of 0.9896 +- "
    "0.0104\" and, on the unseen set, \"an accuracy of up to 85.93% and [...] a dusty-panel detection rate of 0.90\" (abstract).",
    "Figure 8: \"Confusion matrix of the proposed OR-based ensemble model on the full seen dataset (N = 383)\", "
    "training images included (Section 5.3).",
)


def verdict(audit_impossible: list[str], measured_or_acc: float, measured_max_member_fp: float,
            measured_or_fp: float, num_seeds: int) -> str:
  """One line: the arithmetic audit of the paper's tables and what the OR rule measured here costs."""
  claim = (f"Paper claim: OR-ensemble accuracy {TABLE6['OR']['accuracy'][0]:.4f} (Table 6) and "
           f"{100 * TABLE7['OR'][0]:.2f} % on the unseen set (Table 7).")
  here = (f"Measured here (held-out test splits, {num_seeds} seeds): OR accuracy {measured_or_acc:.3f} with "
          f"{measured_or_fp:.1f} false positives per split against {measured_max_member_fp:.1f} for the worse member.")
  if audit_impossible:
    return (f"{claim} Audit: {' and '.join(audit_impossible)} exceed what an OR of the reported members allows. "
            f"{here} Verdict: inconsistent (the paper's ensemble figures cannot come from its OR rule).")
  return f"{claim} Audit: no reported figure contradicts an OR of its members. {here} Verdict: not contradicted."
