"""Classification losses on logits (N, K) and integer labels (N,).

- `softmax_cross_entropy`: label smoothing with target (1 - eps) * onehot + eps / K
  (optax.smooth_labels), optional per-class weights with PyTorch
  `CrossEntropyLoss(weight=w, label_smoothing=eps)` semantics: the per-sample loss is
  -sum_k w_k * target_k * log p_k and the "mean" reduction divides by sum_i w_{y_i}.
- `focal_loss`: softmax focal loss (Lin et al. 2017), FL = -alpha_{y} (1 - p_y)^gamma log p_y;
  gamma = 0 and alpha = None is cross-entropy.
- `sigmoid_focal_loss`: the binary / multi-label form of the paper (matches optax).

Labels are validated on concrete arrays (ValueError naming the bad label); inside jit the
check is skipped.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.metrics.classification import check_labels

__all__ = ["softmax_cross_entropy", "focal_loss", "sigmoid_focal_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check(logits, labels, reduction):
  if np.ndim(logits) < 1:
    raise ValueError(f"logits has shape {np.shape(logits)}; expected (..., num_classes)")
  if np.shape(labels) != np.shape(logits)[:-1]:
    raise ValueError(f"labels has shape {np.shape(labels)} but logits has shape {np.shape(logits)}; "
                     f"expected labels of shape {np.shape(logits)[:-1]}")
  if reduction not in _REDUCTIONS:
    raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(_REDUCTIONS)}")
  check_labels(labels, np.shape(logits)[-1], "labels")


def _class_vector(values, k, name):
  v = jnp.asarray(values, jnp.float32)
  if v.shape != (k,):
    raise ValueError(f"{name} has shape {v.shape}; expected ({k},) one value per class")
  return v


def softmax_cross_entropy(logits, labels, *, label_smoothing: float = 0.0, class_weights=None,
                          reduction: str = "mean") -> jax.Array:
  """Cross-entropy of softmax(logits) against smoothed one-hot integer labels.

  Args:
    logits: (..., K) unnormalised scores.
    labels: (...) integer class ids in [0, K).
    label_smoothing: eps in [0, 1); target = (1 - eps) * onehot + eps / K.
    class_weights: optional (K,) nonnegative weights (PyTorch semantics, see module doc).
    reduction: "mean" (weighted mean when class_weights is given), "sum" or "none".
  Returns:
    a scalar, or the per-sample losses (...) for reduction="none".
  """
  _check(logits, labels, reduction)
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing={label_smoothing!r} is invalid; expected 0 <= eps < 1")
  logits = jnp.asarray(logits)
  k = logits.shape[-1]
  labels = jnp.asarray(labels).astype(jnp.int32)
  onehot = jax.nn.one_hot(labels, k, dtype=logits.dtype)
  target = (1.0 - label_smoothing) * onehot + label_smoothing / k
  logp = jax.nn.log_softmax(logits, axis=-1)
  if class_weights is None:
    losses = -jnp.sum(target * logp, axis=-1)
    norm = jnp.asarray(losses.size, logits.dtype)
  else:
    w = _class_vector(class_weights, k, "class_weights")
    losses = -jnp.sum(w * target * logp, axis=-1)
    norm = jnp.sum(w[labels])
  if reduction == "none":
    return losses
  if reduction == "sum":
    return losses.sum()
  return losses.sum() / norm


def focal_loss(logits, labels, *, gamma: float = 2.0, alpha=None, reduction: str = "mean") -> jax.Array:
  """Softmax focal loss -alpha_y * (1 - p_y)^gamma * log p_y (Lin et al., 2017).

  Args:
    logits: (..., K); labels: (...) integer class ids in [0, K).
    gamma: focusing parameter >= 0 (0 gives cross-entropy).
    alpha: None, a (K,) per-class weight vector, or a float for K == 2 (alpha for class 1,
      1 - alpha for class 0, as in the paper's binary form).
    reduction: "mean" (plain mean over samples; alpha is a weighting, not renormalised),
      "sum" or "none".
  """
  _check(logits, labels, reduction)
  if gamma < 0:
    raise ValueError(f"gamma={gamma!r} is invalid; expected >= 0")
  logits = jnp.asarray(logits)
  k = logits.shape[-1]
  labels = jnp.asarray(labels).astype(jnp.int32)
  logp = jax.nn.log_softmax(logits, axis=-1)
  logp_t = jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
  one_minus_p = -jnp.expm1(logp_t)  # 1 - p_t, accurate when p_t -> 1
  modulator = jnp.ones_like(logp_t) if gamma == 0 else jnp.power(jnp.maximum(one_minus_p, 0.0), gamma)
  losses = -modulator * logp_t
  if alpha is not None:
    if np.ndim(alpha) == 0:
      if k != 2:
        raise ValueError(f"scalar alpha={alpha!r} needs K == 2 classes (got {k}); pass a ({k},) vector")
      a = jnp.asarray([1.0 - float(alpha), float(alpha)], jnp.float32)
    else:
      a = _class_vector(alpha, k, "alpha")
    losses = a[labels] * losses
  if reduction == "none":
    return losses
  return losses.sum() if reduction == "sum" else losses.mean()


def sigmoid_focal_loss(logits, targets, *, gamma: float = 2.0, alpha: float | None = None,
                       reduction: str = "mean") -> jax.Array:
  """Binary / multi-label focal loss on sigmoid logits; targets in {0, 1}, same shape as logits.

  Elementwise -alpha_t (1 - p_t)^gamma log p_t with alpha_t = alpha for targets 1 and
  1 - alpha for targets 0 (equal to optax.sigmoid_focal_loss before reduction).
  """
  if np.shape(logits) != np.shape(targets):
    raise ValueError(f"targets has shape {np.shape(targets)} but logits has {np.shape(logits)}; expected equal shapes")
  if reduction not in _REDUCTIONS:
    raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(_REDUCTIONS)}")
  check_labels(targets, 2, "targets")
  x = jnp.asarray(logits)
  t = jnp.asarray(targets).astype(x.dtype)
  log_p = jax.nn.log_sigmoid(x)
  log_1mp = jax.nn.log_sigmoid(-x)
  log_pt = t * log_p + (1 - t) * log_1mp
  one_minus_pt = -jnp.expm1(log_pt)
  losses = -(one_minus_pt ** gamma if gamma else 1.0) * log_pt
  if alpha is not None:
    losses = (alpha * t + (1 - alpha) * (1 - t)) * losses
  if reduction == "none":
    return losses
  return losses.sum() if reduction == "sum" else losses.mean()
