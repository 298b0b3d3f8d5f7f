"""Binary evaluation of p(COVID): metrics at a threshold, the Table 2 sweep, the MCC plateau, the
validation-chosen threshold, bootstrap intervals, ROC / PR curves, and metrics from confusion counts
(for checking the paper's own numbers).

A case is predicted positive when p >= threshold (as vision_jax.metrics.classification.threshold_sweep).
Metrics of predictions come from vision_jax.metrics.classification (cross-checked against
scikit-learn there); `counts_metrics` is the closed form on (possibly fractional) counts.
"""

from __future__ import annotations

import math

import numpy as np

from vision_jax.config_utils import split_names
from vision_jax.metrics import classification as cm

PLATEAU_TOLERANCE = 0.01  # thresholds whose MCC is within this of the best form the plateau


def check_threshold(t: float, name: str = "threshold") -> float:
  """ValueError unless 0 < t < 1."""
  if not (isinstance(t, (int, float, np.floating)) and 0.0 < float(t) < 1.0):
    raise ValueError(f"{name}={t!r} is invalid; expected a threshold strictly between 0 and 1")
  return float(t)


def sweep_thresholds(config) -> list[float]:
  """config.eval.sweep: "start:stop:step" (inclusive, e.g. the paper's 0.05:0.95:0.05) or a comma list."""
  text = str(config.eval.sweep).strip()
  try:
    if ":" in text:
      start, stop, step = (float(x) for x in text.split(":"))
      if step <= 0:
        raise ValueError
      n = int(math.floor((stop - start) / step + 1e-9)) + 1
      return [round(start + k * step, 10) for k in range(n)]
    return [float(x) for x in split_names(text)]
  except ValueError:
    raise ValueError(f"eval.sweep={text!r} is invalid; expected 'start:stop:step' or comma-separated thresholds") from None


def counts_metrics(tp: float, fp: float, fn: float, tn: float) -> dict:
  """Accuracy, precision, recall, specificity, F1 and MCC from confusion counts (floats allowed);
  undefined ratios are 0 (as scikit-learn's zero_division=0)."""
  n = tp + fp + fn + tn
  div = lambda a, b: a / b if b > 0 else 0.0  # noqa: E731
  prec, rec = div(tp, tp + fp), div(tp, tp + fn)
  den = math.sqrt(max((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn), 0.0))
  return {"accuracy": div(tp + tn, n), "precision": prec, "recall": rec, "specificity": div(tn, tn + fp),
          "f1": div(2 * prec * rec, prec + rec), "mcc": div(tp * tn - fp * fn, den)}


def binary_metrics(labels, probs, threshold: float) -> dict:
  """Metrics of p >= threshold: accuracy, precision, recall, specificity, F1, MCC (positive class COVID),
  AUC (threshold-free) and the confusion counts tn, fp, fn, tp."""
  check_threshold(float(threshold))
  y = np.asarray(labels).astype(np.int32)
  p = np.asarray(probs, np.float64)
  if y.shape != p.shape or y.ndim != 1:
    raise ValueError(f"labels have shape {y.shape} but probs {p.shape}; expected two (N,) arrays")
  pred = (p >= threshold).astype(np.int32)
  (tn, fp), (fn, tp) = np.asarray(cm.confusion_matrix(y, pred, 2)).tolist()
  prec, rec, f1 = (float(np.asarray(v)[1]) for v in cm.precision_recall_f1(y, pred, 2, None))
  auc = float(cm.roc_auc(y, p)) if 0 < y.sum() < y.size else float("nan")
  return {"threshold": float(threshold), "accuracy": float(cm.accuracy(y, pred, 2)), "precision": prec,
          "recall": rec, "specificity": tn / (tn + fp) if tn + fp else 0.0, "f1": f1,
          "mcc": float(cm.matthews_corrcoef(y, pred, 2)), "auc": auc, "tn": tn, "fp": fp, "fn": fn, "tp": tp}


def sweep(labels, probs, thresholds) -> list[dict]:
  """binary_metrics at every threshold (the paper's Table 2 layout)."""
  return [binary_metrics(labels, probs, t) for t in thresholds]


def mcc_plateau(rows: list[dict], tolerance: float = PLATEAU_TOLERANCE) -> tuple[float, float, float]:
  """(low, high, best MCC): the contiguous run of sweep thresholds around the best MCC whose MCC is
  within `tolerance` of it (the paper: 0.35-0.45, "the MCC plateau")."""
  if not rows:
    raise ValueError("the threshold sweep is empty; expected at least one threshold")
  mcc = np.asarray([r["mcc"] for r in rows])
  best = int(np.argmax(mcc))
  ok = mcc >= mcc[best] - tolerance
  lo = hi = best
  while lo > 0 and ok[lo - 1]:
    lo -= 1
  while hi < len(rows) - 1 and ok[hi + 1]:
    hi += 1
  return rows[lo]["threshold"], rows[hi]["threshold"], float(mcc[best])


def choose_threshold(labels, probs, thresholds) -> float:
  """The sweep threshold with the best validation MCC (ties: the one closest to 0.5)."""
  rows = sweep(labels, probs, thresholds)
  mcc = np.asarray([r["mcc"] for r in rows])
  cand = np.flatnonzero(mcc >= mcc.max() - 1e-12)
  return float(min((rows[i]["threshold"] for i in cand), key=lambda t: (abs(t - 0.5), t)))


def is_monotone(rows: list[dict]) -> dict:
  """Whether recall never rises and precision never falls as the threshold rises (ties allowed;
  precision is only compared where something is predicted positive)."""
  rec = np.asarray([r["recall"] for r in rows])
  prec = [(r["precision"]) for r in rows if r["tp"] + r["fp"] > 0]
  return {"recall_non_increasing": bool(np.all(np.diff(rec) <= 1e-12)),
          "precision_non_decreasing": bool(np.all(np.diff(np.asarray(prec)) >= -1e-12)) if len(prec) > 1 else True}


def bootstrap_interval(labels, probs, threshold: float, metric: str = "mcc", num: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
  """Percentile bootstrap interval of a binary_metrics entry over resampled test cases (stratified:
  positives and negatives resampled separately, so every resample has both classes)."""
  y = np.asarray(labels).astype(np.int32)
  p = np.asarray(probs, np.float64)
  rng = np.random.default_rng(seed)
  pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
  values = []
  for _ in range(int(num)):
    idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
    yy, pp = y[idx], p[idx]
    if metric == "auc":
      values.append(float(cm.roc_auc(yy, pp)))
    else:
      pred = pp >= threshold
      tp, fp = float(np.sum(pred & (yy == 1))), float(np.sum(pred & (yy == 0)))
      fn, tn = float(np.sum(~pred & (yy == 1))), float(np.sum(~pred & (yy == 0)))
      values.append(counts_metrics(tp, fp, fn, tn)[metric])
  a = (1 - level) / 2
  return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def curves(labels, probs) -> dict:
  """ROC (fpr, tpr) and precision-recall (recall, precision) points (scikit-learn) and average precision."""
  from sklearn import metrics as skm
  fpr, tpr, _ = skm.roc_curve(labels, probs)
  prec, rec, _ = skm.precision_recall_curve(labels, probs)
  return {"fpr": fpr, "tpr": tpr, "recall": rec, "precision": prec,
          "average_precision": float(skm.average_precision_score(labels, probs))}


def paired_difference(labels, probs_a, probs_b, threshold: float, metric: str = "mcc", num: int = 1000,
                      seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
  """metric(a) - metric(b) of two models scored on the same test cases, with a paired stratified
  bootstrap interval (the same resampled cases for both): (difference, low, high)."""
  y = np.asarray(labels).astype(np.int32)
  pa, pb = np.asarray(probs_a, np.float64), np.asarray(probs_b, np.float64)
  if not (y.shape == pa.shape == pb.shape):
    raise ValueError(f"labels {y.shape} and the two models' probs {pa.shape}, {pb.shape} differ; expected the "
                     "same test cases")

  def value(idx, p):
    yy, pred = y[idx], p[idx] >= threshold
    tp, fp = float(np.sum(pred & (yy == 1))), float(np.sum(pred & (yy == 0)))
    fn, tn = float(np.sum(~pred & (yy == 1))), float(np.sum(~pred & (yy == 0)))
    return counts_metrics(tp, fp, fn, tn)[metric]

  every = np.arange(y.size)
  diff = value(every, pa) - value(every, pb)
  rng = np.random.default_rng(seed)
  pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
  draws = []
  for _ in range(int(num)):
    idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
    draws.append(value(idx, pa) - value(idx, pb))
  a = (1 - level) / 2
  return float(diff), float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


def paired_coverage_test(cov_a, cov_b) -> dict:
  """Median of the per-image differences a - b (same test images) and the two-sided Wilcoxon
  signed-rank p-value (scipy.stats.wilcoxon; 1.0 when every difference is 0)."""
  from scipy import stats
  a, b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
  if a.shape != b.shape:
    raise ValueError(f"coverages have shapes {a.shape} and {b.shape}; expected the same test images")
  d = a - b
  p = 1.0 if not np.any(d != 0) else float(stats.wilcoxon(a, b).pvalue)
  return {"median_difference": float(np.median(d)), "mean_difference": float(d.mean()), "p_value": p}
