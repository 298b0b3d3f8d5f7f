"""Seed 000's numbers, quoted as its claims (never as measurements), the spec's targets, and the verdict lines."""

from __future__ import annotations

import numpy as np
from scipy import stats

SOURCE = "seed 000, Kapoor 2025, 'Achieving High-End Image Localization via Causality Infused Renet50 Model' (abstract, results)"
PAPER_VAL_ACCURACY = 0.997  # "achieving a validation accuracy of 99.7%"
PAPER_QUOTE = '"achieving a validation accuracy of 99.7%" (ImageNet-pretrained ResNet50 fine-tuned on 10 ImageNet animal classes)'
PAPER_CAUSAL_CLAIM = "a dense network of significant causal links between PCA components (Fig. 9; figures only, no numbers)"
CITED_NOT_MEASURED = {  # numbers the paper quotes from its references [3][7], not its own runs
    "iNaturalist, ResNet-101": 0.854, "PASCAL-50S, ResNet-101": 0.862, "Tiny ImageNet, ResNet-50": 0.775,
    "EuroSAT, ResNet-50": 0.986}
# What "working" means for our reproduction (the spec's targets, ours, not the paper's).
TARGETS = {"accuracy": 0.95, "mean_iou": 0.7, "localization_accuracy": 0.9}


def accuracy_verdict(val_acc: float, test_acc: float) -> str:
  """One line on the 99.7 % claim."""
  here = f"this run (synthetic digit canvases, trained from scratch, no ImageNet weights): validation {val_acc:.1%}, held-out test {test_acc:.1%}"
  if test_acc >= 0.99:
    judge = "reproduced in kind: an easy 10-class task reaches ~99 % without any causal component"
  elif test_acc >= TARGETS["accuracy"]:
    judge = (f"not reproduced at this scale ({PAPER_VAL_ACCURACY - test_acc:+.1%} short), though above the 95 % "
             "target; the paper's ImageNet number cannot be checked offline (no ImageNet, no pretrained weights)")
  else:
    judge = f"not reproduced ({test_acc:.1%} < 95 % target at this scale)"
  return f"Paper claim: {PAPER_QUOTE}. Ours: {here}. Verdict: {judge}."


def localization_verdict(m: dict) -> str:
  """One line on localization, which the paper names but never measures."""
  met = [k for k, t in TARGETS.items() if m[k] >= t]
  status = "all targets met" if len(met) == len(TARGETS) else f"targets met: {', '.join(met) or 'none'}"
  return (f"The paper reports no IoU and no localization accuracy (it has no box head). Ours (box head, L1 + GIoU): "
          f"accuracy {m['accuracy']:.1%}, mean IoU {m['mean_iou']:.3f}, ILSVRC localization accuracy (label and "
          f"IoU >= 0.5) {m['localization_accuracy']:.1%} on held-out test images; {status} "
          f"(targets: accuracy 95 %, mean IoU 0.70, localization 90 %).")


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
  """Clopper-Pearson interval of a proportion k / n."""
  res = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
  return float(res.low), float(res.high)


def causal_verdict(fractions: dict, pairs: int, alpha: float) -> str:
  """One line: does class order manufacture the 'causal network'? fractions: per-draw arrays."""
  ordered, shuffled = np.asarray(fractions["class_order"]), np.asarray(fractions["shuffled"])
  n_tests = pairs * len(shuffled)
  lo, hi = binomial_interval(int(round(shuffled.mean() * n_tests)), n_tests)
  size_ok = lo <= alpha <= hi
  inflated = ordered.mean() > 2 * alpha and ordered.min() > hi
  text = (f"Paper: {PAPER_CAUSAL_CLAIM}. Ours: {ordered.mean():.1%} of the {pairs} ordered pairs significant with samples "
          f"ordered by class vs {shuffled.mean():.1%} shuffled (95 % CI {lo:.1%}-{hi:.1%}; alpha {alpha:.0%}; "
          f"{len(shuffled)} draws).")
  if inflated and size_ok:
    judge = ("the links are an artifact of sample order: shuffling the same features leaves the false-positive "
             "rate alpha, so the 'causal network' says nothing about the model (inconsistent with a causal reading)")
  elif size_ok and not inflated:
    judge = "class order does not inflate the significant share here; no dense network appears in either order (not reproduced)"
  else:
    judge = "even shuffled samples exceed alpha: the features of distinct images are not exchangeable here; inspect the draws"
  return f"{text} Verdict: {judge}."
