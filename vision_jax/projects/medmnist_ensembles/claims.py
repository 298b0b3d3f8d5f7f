"""The MedMNIST ensembles paper's numbers (seed 002 article 5; shared/specs/seed-002-a5-a9-...md), quoted
as its claims and never as measurements, and the verdict lines."""

from __future__ import annotations

import math

SOURCE = "seed 002 article 5 (Prvan et al.; shared/specs/seed-002-a5-a9-medmnist-lightfield-highlight-kd-video.md, A5)"
DATASET_LABELS = {"pathmnist": "Path", "organamnist": "OrganA", "octmnist": "OCT"}

# The text's F' picks (Section 4.3, after Figure 11) with their Table 5-7 rows:
# (name, wS, wP, F1, BA, AUC, size MB, FLOPs M, time s).
PAPER_PICKS = {
    "pathmnist": {"CNN": ("A_C2", 0.896, 0.901, 0.896, 0.865, 0.986, 8.44, 643.032, 45),
                  "DNN": ("MobNetV2_MobV3", 0.882, 0.887, 0.882, 0.856, 0.984, 20.12, 23.285, 13),
                  "HYB": ("MobNetV2_MobV3_C2_D2", 0.908, 0.913, 0.908, 0.882, 0.990, 31.52, 320.638, 29)},
    "organamnist": {"CNN": ("C3_D3", 0.932, 0.933, 0.932, 0.922, 0.996, 18.61, 412.772, 121),
                    "DNN": ("MobNetV2_MobV3", 0.934, 0.934, 0.933, 0.930, 0.996, 20.14, 23.882, 28),
                    "HYB": ("MobV2_C2", 0.931, 0.932, 0.931, 0.928, 0.996, 9.69, 49.842, 26)},
    "octmnist": {"CNN": ("C2_D2", 0.785, 0.836, 0.762, 0.785, 0.970, 9.86, 296.697, 5),
                 "DNN": ("MobNetV2_MobV3", 0.726, 0.767, 0.689, 0.726, 0.945, 20.07, 23.851, 9),
                 "HYB": ("MobNetV2_D2", 0.781, 0.823, 0.758, 0.781, 0.963, 15.86, 161.393, 5)},
}
PAPER_OVERALL = {"pathmnist": "HYB", "organamnist": "HYB", "octmnist": "CNN"}
# Table 4 (custom CNNs) and Table 3 (ImageNet-pretrained DNNs), PathMNIST: (wS, size MB, FLOPs M, params).
PAPER_SINGLE_PATH = {
    "A": (0.851, 4.280, 495.324, 1_123_081), "B1": (0.796, 6.17, 19.097, 1_618_345), "B2": (0.845, 3.32, 39.205, 870_953),
    "B3": (0.841, 3.10, 60.345, 813_865), "B4": (0.852, 5.48, 88.144, 1_436_969), "C1": (0.859, 6.24, 48.071, 1_635_561),
    "C3": (0.875, 12.98, 350.592, 3_402_281), "D1": (0.798, 12.37, 51.486, 3_242_729),
    "D2": (0.824, 7.24, 149.645, 1_896_105), "D3": (0.852, 17.01, 353.127, 4_455_081),
    "Dense121": (0.886, 26.88, 115.712, 7_046_729), "Res50": (0.873, 89.90, 158.495, 23_564_498),
    "MobNetV2": (0.871, 8.66, 11.428, 2_269_513), "EffB0": (0.860, 22.62, 29.326, 5_930_841),
    "MobV3": (0.833, 11.46, 11.857, 3_005_001),
}
# Table 11: (wS fp32, wS int8, size fp32, size int8) of the proposed hybrids.
PAPER_INT8 = {"pathmnist": ("MobNetV2_MobV3_C2_D2", 0.908, 0.906, 31.52, 8.88),
              "organamnist": ("MobNetV2_C2", 0.931, 0.930, 9.69, 2.86),
              "octmnist": ("MobNetV2_D2", 0.781, 0.777, 15.86, 4.44)}
CLAIMS = (
    "CNN ensembles gain +0.1 to +0.5 pt wS over their best member (Tables 4-5).",
    "The two-stage selection (Pareto, then radar area under a 34 MB cap) picks a hybrid ensemble in two of "
    "three datasets (MobNetV2_MobV3_C2_D2, MobNetV2_C2; CNN-only C2_D2 on OCT), Section 4.3.",
    "int8 post-training quantization shrinks the picks ~3.4-3.6x at a cost of 0.1-0.4 pt wS (Table 11).",
    "A stacking meta-learner is not significantly different from averaging (Mann-Whitney U, e.g. U = 40, "
    "p = 0.469), Section 4.4.",
)
NO_IMAGENET = "no ImageNet weights (the paper's DNN members are ImageNet-pretrained; here they train from scratch)"


def _fmt(x) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.2f} pt"


def dataset_verdict(dataset: str, gain: dict, heldout_overall: str | None, heldout_category: str | None,
                    int8_drop_pt: float | None, mwu_p: float | None) -> str:
  """One line per dataset: ensembles vs best member, the held-out pick's category vs the paper's,
  the int8 cost, stacking vs averaging."""
  parts = []
  if "best_ensemble_test_wS" in gain:
    d = 100 * (gain["best_ensemble_test_wS"] - gain["best_member_test_wS"])
    parts.append(f"best CNN ensemble {gain['best_ensemble']} vs best CNN member {gain['best_member']} (both chosen "
                 f"on val, scored on test): {_fmt(d)} wS ({'reproduced' if d >= 0 else 'not reproduced'}; "
                 f"{100 * gain['fraction_not_worse']:.0f}% of CNN ensembles >= their best member)")
  paper_cat = PAPER_OVERALL.get(dataset)
  if heldout_overall:
    same = "same category as the paper's" if heldout_category == paper_cat else f"paper: {paper_cat}"
    parts.append(f"held-out F' pick {heldout_overall} ({heldout_category}; {same})")
  if int8_drop_pt is not None:
    parts.append(f"int8 weights change wS by {_fmt(-int8_drop_pt)} ({'within' if int8_drop_pt <= 0.5 else 'beyond'} "
                 "the paper's loss of <= 0.4-0.5 pt)")
  if mwu_p is not None and not math.isnan(mwu_p):
    parts.append(f"stacking vs averaging Mann-Whitney p = {mwu_p:.3f} "
                 f"({'no significant difference, as the paper' if mwu_p >= 0.05 else 'significant, unlike the paper'})")
  return f"{DATASET_LABELS.get(dataset, dataset)}: " + "; ".join(parts) + "."


def overall_verdict(lines_ok: list[bool]) -> str:
  """reproduced / not reproduced on the qualitative claims measurable on the stand-in data."""
  if all(lines_ok):
    return ("Verdict: reproduced (qualitatively, on the synthetic stand-in): averaging CNNs never loses to the best "
            "member; absolute numbers are not comparable with the paper's (other data, " + NO_IMAGENET + ").")
  return ("Verdict: not reproduced on all datasets (see the lines above); absolute numbers are not comparable with "
          "the paper's (other data, " + NO_IMAGENET + ").")
