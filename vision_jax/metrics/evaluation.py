"""All metrics of one classification evaluation, from labels and class probabilities (NumPy in, NumPy
out), built from the jax.numpy metrics of vision_jax.metrics.classification (each cross-checked
against scikit-learn in the tests)."""

from __future__ import annotations

import numpy as np

from vision_jax.metrics import classification as cm

def softmax(logits: np.ndarray) -> np.ndarray:
  """Row-wise softmax of (N, K) logits in float64 (stable)."""
  z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=-1, keepdims=True)


def compute_metrics(labels: np.ndarray, probs: np.ndarray, thresholds=()) -> dict:
  """All metrics of one evaluation from labels (N,) and class probabilities (N, K).

  Returns {"summary": {name: float}, "per_class": {precision, recall, f1, support, roc_auc: (K,)},
  "confusion_matrix": (K, K) ints (rows true, columns predicted), "threshold_sweep": rows for
  binary tasks}. ROC-AUC is one-vs-rest per class (NaN for a class absent from `labels`, or the only
  one present); macro ROC-AUC averages the defined ones; for K = 2 it is the AUC of p(class 1).
  """
  y = np.asarray(labels).astype(np.int32)
  probs = np.asarray(probs, np.float64)
  k = probs.shape[1]
  pred = probs.argmax(-1).astype(np.int32)
  f = lambda v: float(np.asarray(v))
  s = {"accuracy": f(cm.accuracy(y, pred, k)), "balanced_accuracy": f(cm.balanced_accuracy(y, pred, k))}
  for avg in ("macro", "weighted"):
    p, r, f1 = cm.precision_recall_f1(y, pred, k, avg)
    s.update({f"precision_{avg}": f(p), f"recall_{avg}": f(r), f"f1_{avg}": f(f1)})
  s["mcc"] = f(cm.matthews_corrcoef(y, pred, k))
  s["cohen_kappa"] = f(cm.cohen_kappa(y, pred, k))
  for top in (2, 5):
    if top < k:
      s[f"top{top}_accuracy"] = f(cm.top_k_accuracy(y, probs, top))
  s["log_loss"] = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-15, None))))
  aucs = np.full(k, np.nan)
  for c in range(k):
    pos = (y == c).astype(np.int32)
    if 0 < pos.sum() < len(y):
      aucs[c] = f(cm.roc_auc(pos, probs[:, c]))
  if k == 2 and np.isfinite(aucs[1]):
    s["roc_auc"] = float(aucs[1])
  else:
    s["roc_auc_macro"] = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")
  p, r, f1 = (np.asarray(v, np.float64) for v in cm.precision_recall_f1(y, pred, k, None))
  out = {"summary": s,
         "per_class": {"precision": p, "recall": r, "f1": f1, "support": np.bincount(y, minlength=k), "roc_auc": aucs},
         "confusion_matrix": np.asarray(cm.confusion_matrix(y, pred, k)),
         "threshold_sweep": []}
  if k == 2 and len(thresholds) and len(np.unique(y)) == 2:
    out["threshold_sweep"] = [dict(zip(("threshold", "tpr", "fpr", "precision", "f1"), row))
                              for row in cm.threshold_sweep(y, probs[:, 1], thresholds)]
  return out
