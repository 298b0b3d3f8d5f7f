"""The EKD paper's numbers (seed 002 article 8, Vrbancic & Podgorelec; shared/specs/seed-002-a5-a9-...md,
A8), quoted as claims and never as measurements, and the verdict line."""

from __future__ import annotations

import math

SOURCE = "seed 002 article 8 (Vrbancic & Podgorelec, EKD; shared/specs/seed-002-a5-a9-medmnist-lightfield-highlight-kd-video.md, A8)"
# Table 2: mean +- std over 10 folds.
PAPER_TABLE2 = {
    "accuracy": {"Student": (0.87, 0.05), "SGDRE": (0.96, 0.01), "KD": (0.86, 0.09), "EKD": (0.95, 0.01)},
    "auc": {"Student": (0.85, 0.05), "SGDRE": (0.95, 0.01), "KD": (0.79, 0.19), "EKD": (0.94, 0.01)},
    "f1": {"Student": (0.87, 0.05), "SGDRE": (0.96, 0.01), "KD": (0.83, 0.14), "EKD": (0.95, 0.01)},
    "kappa": {"Student": (0.69, 0.10), "SGDRE": (0.89, 0.01), "KD": (0.57, 0.37), "EKD": (0.87, 0.02)},
    "epochs": {"Student": (18.20, 6.65), "SGDRE": (97.90, 0.30), "KD": (20.70, 8.67), "EKD": (23.30, 6.54)},
    "train_seconds": {"Student": (114.00, 39.66), "SGDRE": (634.70, 53.98), "KD": (373.20, 148.58), "EKD": (528.10, 140.03)},
    "inference_seconds": {"Student": (1.29, 0.08), "SGDRE": (6.67, 1.00), "KD": (1.40, 0.13), "EKD": (1.32, 0.09)},
}
# Friedman rank averages (Table 4; "Time" is the training time).
PAPER_RANKS = {"accuracy": (3.60, 1.15, 3.3, 1.95), "auc": (3.70, 1.40, 3.3, 1.60), "f1": (3.60, 1.20, 3.30, 1.90),
               "kappa": (3.70, 1.20, 3.20, 1.90), "train_seconds": (1.00, 3.60, 2.30, 3.10),
               "epochs": (1.60, 4.00, 2.00, 2.40)}
# Wilcoxon signed-rank + Holm (Table 5): Student vs SGDRE, Student vs EKD, KD vs EKD, SGDRE vs EKD.
PAIRS = (("Student", "SGDRE"), ("Student", "EKD"), ("KD", "EKD"), ("SGDRE", "EKD"))
PAPER_WILCOXON = {"accuracy": (0.047, 0.047, 0.047, 0.297), "auc": (0.047, 0.047, 0.047, 0.422),
                  "f1": (0.047, 0.047, 0.047, 0.297), "kappa": (0.047, 0.047, 0.047, 0.297),
                  "train_seconds": (0.047, 0.047, 0.420, 0.422), "epochs": (0.047, 0.422, 0.422, 0.047)}
PAPER_COST = {"teacher_ensemble_params": 20_386_182, "student_params": 4_737_698, "params_ratio": 4.31,
              "teacher_ensemble_flops": 2_486_904_420, "student_flops": 382_573_292, "flops_ratio": 6.5}
CLAIM = ("EKD (0.95 accuracy, 0.87 kappa) beats the student (0.87 / 0.69) and single-teacher KD (0.86 / 0.57), "
         "lands within 1 pt of the SGDRE snapshot ensemble (0.96 / 0.89) and infers 5x faster (1.32 s vs 6.67 s), "
         "with 4.31x fewer parameters and 6.5x fewer FLOPs (Tables 2-3).")


# Below this mean kappa for every method, the models are no better than the majority-class guess.
INFORMATIVE_KAPPA = 0.05


def verdict(means: dict, statistics: dict, folds: int) -> str:
  """One line: does EKD beat Student and KD on accuracy / F1 / kappa (fold means), land within 2 pt of
  SGDRE's accuracy, and infer in at most ~1/3 of the ensemble's time? With the paired tests.
  Inconclusive when no method's mean kappa reaches INFORMATIVE_KAPPA (all at the majority-class guess)."""
  key = ("accuracy", "f1", "kappa")
  beats = {o: all(means[m]["EKD"] > means[m][o] for m in key) for o in ("Student", "KD")}
  gap = 100 * (means["accuracy"]["SGDRE"] - means["accuracy"]["EKD"])
  ratio = means["inference_seconds"]["EKD"] / means["inference_seconds"]["SGDRE"]
  ok = beats["Student"] and beats["KD"] and gap <= 2.0 and ratio <= 0.4
  p = {pair: statistics["accuracy"]["wilcoxon"][i]["p_holm"] for i, pair in enumerate(PAIRS)}
  tests = ", ".join(f"{a} vs {b} p_Holm = {v:.3f}" for (a, b), v in p.items() if not math.isnan(v))
  sig = "" if folds >= 6 else f" (with {folds} folds no Wilcoxon p can fall below {2 / 2 ** folds:.3f})"
  parts = [f"EKD {'beats' if beats['Student'] else 'does not beat'} the student and "
           f"{'beats' if beats['KD'] else 'does not beat'} KD on mean accuracy / F1 / kappa",
           f"EKD is {abs(gap):.1f} pt {'below' if gap >= 0 else 'above'} the SGDRE ensemble's accuracy",
           f"EKD inference takes {ratio:.2f}x the ensemble's"]
  word = "reproduced" if ok else "not reproduced"
  best_kappa = max(means["kappa"].values())
  if best_kappa < INFORMATIVE_KAPPA:  # every method at chance agreement: nothing to compare
    word = (f"inconclusive (no method's mean Cohen's kappa reaches {INFORMATIVE_KAPPA}: best {best_kappa:.3f}, "
            "every model is at or near the majority-class guess, so the comparison says nothing at this budget)")
  return f"Verdict: {word}. " + "; ".join(parts) + f". Wilcoxon (accuracy): {tests}{sig}."
