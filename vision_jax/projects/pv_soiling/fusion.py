"""OR fusion, the Soiling Index and its cleaning bands, binary metrics and the paper's t-based CI.

Decisions use the threshold 0.5 on p(dusty): a branch says dusty when p >= 0.5 (with two classes this
is the argmax up to the tie p = 0.5, which 400-tree forests do produce; we count ties as dusty so that
the OR rule is exactly SI >= 50). The ensemble: dusty if either branch says dusty (eq. in Section
3.6); p_ens = max(p_RF, p_CNN) (eq. 16); SI = 100 p_ens (eq. 17); bands SI < 30 no cleaning,
30 <= SI < 60 light cleaning, SI >= 60 full cleaning (Section 3.7).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from vision_jax.metrics import classification as cm

THRESHOLD = 0.5
BANDS = (("no cleaning", 0.0, 30.0), ("light cleaning", 30.0, 60.0), ("full cleaning", 60.0, np.inf))


def decide(p_dusty: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
  """(N,) int 1 (dusty) where p_dusty >= threshold."""
  return (np.asarray(p_dusty) >= threshold).astype(np.int32)


def or_fusion(pred_rf: np.ndarray, pred_cnn: np.ndarray) -> np.ndarray:
  """(N,) dusty if either branch predicts dusty."""
  return (np.asarray(pred_rf).astype(bool) | np.asarray(pred_cnn).astype(bool)).astype(np.int32)


def ensemble_probability(p_rf: np.ndarray, p_cnn: np.ndarray) -> np.ndarray:
  """p_ens = max(p_RF, p_CNN) (N,)."""
  return np.maximum(np.asarray(p_rf, np.float64), np.asarray(p_cnn, np.float64))


def soiling_index(p_rf: np.ndarray, p_cnn: np.ndarray) -> np.ndarray:
  """SI = 100 max(p_RF, p_CNN) in [0, 100]."""
  return 100.0 * ensemble_probability(p_rf, p_cnn)


def band_of(si: np.ndarray) -> np.ndarray:
  """(N,) index into BANDS of each SI value."""
  si = np.asarray(si, np.float64)
  return np.select([si < 30.0, si < 60.0], [0, 1], 2)


def band_table(si: np.ndarray, labels: np.ndarray, or_pred: np.ndarray) -> list[dict]:
  """Per band: panels, how many are labelled clean / dusty, and how many the OR rule calls clean."""
  b = band_of(si)
  return [{"band": name, "range": f"[{lo:g}, {hi:g})", "panels": int((b == i).sum()),
           "true_clean": int(((b == i) & (labels == 0)).sum()), "true_dusty": int(((b == i) & (labels == 1)).sum()),
           "or_says_clean": int(((b == i) & (or_pred == 0)).sum())} for i, (name, lo, hi) in enumerate(BANDS)]


def binary_scores(labels: np.ndarray, pred: np.ndarray, p_dusty: np.ndarray) -> dict:
  """Accuracy, dusty precision / recall / F1, specificity, FP, FN, AUC of p_dusty (dusty positive)."""
  labels, pred = np.asarray(labels, np.int32), np.asarray(pred, np.int32)
  conf = np.asarray(cm.confusion_matrix(labels, pred, 2))
  tn, fp, fn, tp = conf[0, 0], conf[0, 1], conf[1, 0], conf[1, 1]
  p, r, f1 = (float(np.asarray(v)[1]) for v in cm.precision_recall_f1(labels, pred, 2, None))
  auc = float(cm.roc_auc(labels, np.asarray(p_dusty, np.float64))) if 0 < labels.sum() < len(labels) else float("nan")
  return {"accuracy": float((tp + tn) / len(labels)), "dusty_precision": p, "dusty_recall": r, "dusty_f1": f1,
          "specificity": float(tn / max(tn + fp, 1)), "fp": int(fp), "fn": int(fn), "tp": int(tp), "tn": int(tn),
          "auc": auc, "n": int(len(labels))}


def t_interval(values, confidence: float = 0.95) -> dict:
  """mean, sd (ddof 1) and mean -+ t_{(1+c)/2, n-1} sd / sqrt(n) (for n = 10: t = 2.262, as the paper)."""
  v = np.asarray(values, np.float64)
  n = v.size
  if n < 2:
    raise ValueError(f"a t interval needs at least 2 values; got {n}")
  mean, sd = float(v.mean()), float(v.std(ddof=1))
  half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / np.sqrt(n)
  return {"mean": mean, "sd": sd, "lo": mean - half, "hi": mean + half, "n": int(n)}
