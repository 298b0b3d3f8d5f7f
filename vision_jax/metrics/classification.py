"""Classification metrics in jax.numpy (jittable with a static `num_classes`).

Conventions
-----------
- `y_true`, `y_pred`: integer class labels, shape (N,), values in [0, num_classes).
- `scores`: (N,) real scores for the positive class (binary) or (N, K) class
  scores/probabilities (multi-class).
- Per-class statistics average over *all* `num_classes` classes (like scikit-learn
  with `labels=range(num_classes)`); a class with no predictions (or no support)
  gets precision (recall) 0, like scikit-learn's `zero_division=0`.
- Labels are validated on concrete arrays (ValueError naming the bad label);
  inside `jit` the check is skipped. Pass `num_classes` explicitly under `jit`.

Every function is cross-checked against scikit-learn in tests/test_classification_metrics.py.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "accuracy", "top_k_accuracy", "confusion_matrix", "precision_recall_f1", "precision",
    "recall", "f1_score", "balanced_accuracy", "matthews_corrcoef", "cohen_kappa", "roc_auc",
    "threshold_sweep", "check_labels",
]

_AVERAGES = (None, "macro", "weighted", "micro")


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_labels(labels, num_classes: int | None = None, name: str = "y_true") -> None:
  """Raises ValueError unless `labels` are integers in [0, num_classes) (concrete arrays only).

  Non-integer values (e.g. 1.5) and negative labels are rejected even without `num_classes`.
  """
  if not _is_concrete(labels):
    return
  arr = np.asarray(labels)
  if arr.size == 0:
    return
  if arr.dtype.kind == "f":
    bad = np.flatnonzero(arr.ravel() != np.round(arr.ravel()))
    if bad.size:
      i = int(bad[0])
      raise ValueError(f"{name} contains non-integer label {float(arr.ravel()[i])} at index {i}; expected integer class ids")
  elif arr.dtype.kind not in "iub":
    raise ValueError(f"{name} has dtype {arr.dtype}; expected integer class ids")
  flat = arr.ravel().astype(np.int64)
  hi = np.inf if num_classes is None else num_classes
  bad = np.flatnonzero((flat < 0) | (flat >= hi))
  if bad.size:
    i = int(bad[0])
    rng = f"[0, {num_classes})" if num_classes is not None else ">= 0"
    raise ValueError(f"{name} contains label {int(flat[i])} at index {i}; expected integers in {rng}")


def _num_classes(num_classes, *label_arrays) -> int:
  if num_classes is not None:
    if int(num_classes) < 1:
      raise ValueError(f"num_classes={num_classes!r} is invalid; expected >= 1")
    return int(num_classes)
  if not all(_is_concrete(a) for a in label_arrays):
    raise ValueError("num_classes=None inside jit; pass num_classes explicitly (a static int)")
  return int(max(int(np.max(np.asarray(a))) for a in label_arrays if np.size(a))) + 1


def _prepare(y_true, y_pred, num_classes):
  if np.shape(y_true) != np.shape(y_pred):
    raise ValueError(f"y_true has shape {np.shape(y_true)} but y_pred has shape {np.shape(y_pred)}; expected equal shapes")
  k = _num_classes(num_classes, y_true, y_pred)
  check_labels(y_true, k, "y_true")
  check_labels(y_pred, k, "y_pred")
  return jnp.asarray(y_true).astype(jnp.int32).ravel(), jnp.asarray(y_pred).astype(jnp.int32).ravel(), k


def _safe_div(num, den):
  den = jnp.asarray(den, jnp.float32)
  return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def accuracy(y_true, y_pred, num_classes: int | None = None) -> jax.Array:
  """Fraction of exact matches, a scalar (labels validated against num_classes when given)."""
  if np.shape(y_true) != np.shape(y_pred):
    raise ValueError(f"y_true has shape {np.shape(y_true)} but y_pred has shape {np.shape(y_pred)}; expected equal shapes")
  check_labels(y_true, num_classes, "y_true")
  check_labels(y_pred, num_classes, "y_pred")
  return jnp.mean((jnp.asarray(y_true) == jnp.asarray(y_pred)).astype(jnp.float32))


def top_k_accuracy(y_true, scores, k: int = 5) -> jax.Array:
  """Fraction of samples whose true label is among the `k` highest of `scores` (N, K).

  Ties are broken by counting classes with a strictly higher score (as scikit-learn does
  for distinct scores).
  """
  scores = jnp.asarray(scores)
  if scores.ndim != 2:
    raise ValueError(f"scores has shape {scores.shape}; expected (N, num_classes)")
  check_labels(y_true, scores.shape[1], "y_true")
  if not 1 <= k:
    raise ValueError(f"k={k!r} is invalid; expected >= 1")
  y = jnp.asarray(y_true).astype(jnp.int32)
  true_score = jnp.take_along_axis(scores, y[:, None], axis=1)
  n_higher = jnp.sum(scores > true_score, axis=1)
  return jnp.mean((n_higher < k).astype(jnp.float32))


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> jax.Array:
  """(K, K) int32 counts; rows are true classes, columns predicted (scikit-learn layout)."""
  yt, yp, k = _prepare(y_true, y_pred, num_classes)
  return jnp.zeros((k, k), jnp.int32).at[yt, yp].add(1)


def precision_recall_f1(y_true, y_pred, num_classes: int | None = None, average: str | None = "macro"):
  """Precision, recall and F1.

  average: None -> three (K,) per-class arrays; "macro" -> unweighted mean over classes;
  "weighted" -> mean weighted by support (true count); "micro" -> global counts.
  """
  if average not in _AVERAGES:
    raise ValueError(f"unknown average {average!r}; valid: None, macro, weighted, micro")
  cm = confusion_matrix(y_true, y_pred, num_classes).astype(jnp.float32)
  tp = jnp.diag(cm)
  pred_pos = cm.sum(axis=0)
  support = cm.sum(axis=1)
  if average == "micro":
    p = r = _safe_div(tp.sum(), cm.sum())
    return p, r, _safe_div(2 * p * r, p + r)
  p = _safe_div(tp, pred_pos)
  r = _safe_div(tp, support)
  f = _safe_div(2 * p * r, p + r)
  if average is None:
    return p, r, f
  if average == "macro":
    return p.mean(), r.mean(), f.mean()
  w = _safe_div(support, support.sum())
  return (w * p).sum(), (w * r).sum(), (w * f).sum()


def precision(y_true, y_pred, num_classes=None, average="macro"):
  """Precision (see precision_recall_f1)."""
  return precision_recall_f1(y_true, y_pred, num_classes, average)[0]


def recall(y_true, y_pred, num_classes=None, average="macro"):
  """Recall (see precision_recall_f1)."""
  return precision_recall_f1(y_true, y_pred, num_classes, average)[1]


def f1_score(y_true, y_pred, num_classes=None, average="macro"):
  """F1 score (see precision_recall_f1)."""
  return precision_recall_f1(y_true, y_pred, num_classes, average)[2]


def balanced_accuracy(y_true, y_pred, num_classes: int | None = None) -> jax.Array:
  """Mean recall over the classes that occur in y_true (scikit-learn semantics)."""
  cm = confusion_matrix(y_true, y_pred, num_classes).astype(jnp.float32)
  support = cm.sum(axis=1)
  present = support > 0
  rec = _safe_div(jnp.diag(cm), support)
  return jnp.sum(jnp.where(present, rec, 0.0)) / jnp.maximum(present.sum(), 1)


def matthews_corrcoef(y_true, y_pred, num_classes: int | None = None) -> jax.Array:
  """Multi-class Matthews correlation (Gorodkin's R_K); 0 when undefined (as scikit-learn)."""
  cm = confusion_matrix(y_true, y_pred, num_classes).astype(jnp.float32)
  t = cm.sum(axis=1)
  p = cm.sum(axis=0)
  c = jnp.trace(cm)
  s = cm.sum()
  cov_ytyp = c * s - jnp.dot(t, p)
  cov_ypyp = s * s - jnp.dot(p, p)
  cov_ytyt = s * s - jnp.dot(t, t)
  den = cov_ypyp * cov_ytyt
  return jnp.where(den > 0, cov_ytyp / jnp.sqrt(jnp.where(den > 0, den, 1.0)), 0.0)


def cohen_kappa(y_true, y_pred, num_classes: int | None = None, weights: str | None = None) -> jax.Array:
  """Cohen's kappa; weights None, "linear" or "quadratic" (as scikit-learn)."""
  if weights not in (None, "linear", "quadratic"):
    raise ValueError(f"unknown weights {weights!r}; valid: None, linear, quadratic")
  cm = confusion_matrix(y_true, y_pred, num_classes).astype(jnp.float32)
  k = cm.shape[0]
  expected = jnp.outer(cm.sum(axis=1), cm.sum(axis=0)) / jnp.maximum(cm.sum(), 1.0)
  i, j = jnp.meshgrid(jnp.arange(k), jnp.arange(k), indexing="ij")
  if weights is None:
    w = (i != j).astype(jnp.float32)
  elif weights == "linear":
    w = jnp.abs(i - j).astype(jnp.float32)
  else:
    w = ((i - j) ** 2).astype(jnp.float32)
  return 1.0 - jnp.sum(w * cm) / jnp.sum(w * expected)


def _average_ranks(v):
  """1-based average ranks with ties (scipy.stats.rankdata 'average'), jittable."""
  s = jnp.sort(v)
  left = jnp.searchsorted(s, v, side="left")
  right = jnp.searchsorted(s, v, side="right")
  return (left + right + 1) / 2.0


def _binary_auc(pos, scores):
  """Exact ROC-AUC via the Mann-Whitney U statistic; ties count 1/2. NaN if one class is empty."""
  pos = pos.astype(jnp.float32)
  ranks = _average_ranks(scores.astype(jnp.float32))
  n1 = pos.sum()
  n0 = pos.shape[0] - n1
  u = jnp.sum(ranks * pos) - n1 * (n1 + 1) / 2.0
  return jnp.where((n1 > 0) & (n0 > 0), u / jnp.maximum(n1 * n0, 1.0), jnp.nan)


def roc_auc(y_true, scores, average: str = "macro") -> jax.Array:
  """Exact area under the ROC curve (Mann-Whitney rank statistic, ties count 1/2).

  Binary: `y_true` in {0, 1}, `scores` (N,) for class 1.
  Multi-class: `scores` (N, K) probabilities; one-vs-rest AUC per class averaged with
  `average` = "macro" (unweighted) or "weighted" (by prevalence), or None for per-class (K,).
  Raises ValueError (concrete inputs) when a class needed for an AUC has no samples.
  """
  scores = jnp.asarray(scores)
  if scores.ndim == 1:
    check_labels(y_true, 2, "y_true")
    y = jnp.asarray(y_true).ravel()
    if _is_concrete(y_true) and len(np.unique(np.asarray(y_true))) < 2:
      raise ValueError("y_true holds a single class; ROC-AUC needs both positives and negatives")
    return _binary_auc(y == 1, scores)
  if scores.ndim != 2:
    raise ValueError(f"scores has shape {scores.shape}; expected (N,) or (N, num_classes)")
  if average not in (None, "macro", "weighted"):
    raise ValueError(f"unknown average {average!r}; valid: None, macro, weighted")
  k = scores.shape[1]
  check_labels(y_true, k, "y_true")
  y = jnp.asarray(y_true).astype(jnp.int32).ravel()
  if _is_concrete(y_true):
    missing = sorted(set(range(k)) - set(np.unique(np.asarray(y_true)).tolist()))
    if missing:
      raise ValueError(f"y_true has no samples of class {missing[0]}; one-vs-rest ROC-AUC needs every class of the {k} score columns")
  aucs = jax.vmap(lambda c, col: _binary_auc(y == c, col), in_axes=(0, 1))(jnp.arange(k), scores)
  if average is None:
    return aucs
  if average == "macro":
    return aucs.mean()
  prev = jnp.bincount(y, length=k).astype(jnp.float32)
  return jnp.sum(aucs * prev) / prev.sum()


def threshold_sweep(y_true, scores, thresholds: Sequence[float]) -> list[tuple[float, float, float, float, float]]:
  """Binary operating points: a row (threshold, tpr, fpr, precision, f1) per threshold.

  A sample is predicted positive when score >= threshold. Undefined ratios are 0.
  Plain numpy (for reports, not for jit).
  """
  check_labels(y_true, 2, "y_true")
  y = np.asarray(y_true).ravel().astype(bool)
  s = np.asarray(scores, dtype=np.float64).ravel()
  if y.shape != s.shape:
    raise ValueError(f"y_true has {y.size} entries but scores has {s.size}; expected equal lengths")
  pos, neg = y.sum(), (~y).sum()
  rows = []
  for t in np.asarray(thresholds, dtype=np.float64).ravel():
    pred = s >= t
    tp = float(np.sum(pred & y))
    fp = float(np.sum(pred & ~y))
    tpr = tp / pos if pos else 0.0
    fpr = fp / neg if neg else 0.0
    prec = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * prec * tpr / (prec + tpr) if prec + tpr else 0.0
    rows.append((float(t), tpr, fpr, prec, f1))
  return rows
