"""Box regression losses (DETR-style): L1 on (cx, cy, w, h) plus the GIoU loss 1 - GIoU.

Boxes are (..., 4) in cxcywh layout (what a sigmoid box head predicts, as fractions of the image
side). GIoU (Rezatofighi et al. 2019) keeps a gradient when prediction and target do not overlap,
where 1 - IoU is flat.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.metrics.boxes import cxcywh_to_xyxy, generalized_iou

__all__ = ["l1_box_loss", "giou_loss", "box_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check(pred, target, reduction):
  if np.shape(pred) != np.shape(target) or np.shape(pred)[-1:] != (4,):
    raise ValueError(f"pred has shape {np.shape(pred)} and target {np.shape(target)}; expected equal (..., 4)")
  if reduction not in _REDUCTIONS:
    raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(_REDUCTIONS)}")


def _reduce(x, reduction):
  return x.mean() if reduction == "mean" else (x.sum() if reduction == "sum" else x)


def l1_box_loss(pred, target, reduction: str = "mean") -> jax.Array:
  """sum over the 4 coordinates of |pred - target| per box, (...) or reduced."""
  _check(pred, target, reduction)
  return _reduce(jnp.abs(jnp.asarray(pred) - jnp.asarray(target)).sum(-1), reduction)


def giou_loss(pred, target, reduction: str = "mean") -> jax.Array:
  """1 - GIoU(pred, target) per box in [0, 2], boxes in cxcywh."""
  _check(pred, target, reduction)
  return _reduce(1.0 - generalized_iou(cxcywh_to_xyxy(pred), cxcywh_to_xyxy(target)), reduction)


def box_loss(pred, target, *, l1_weight: float = 5.0, giou_weight: float = 2.0, reduction: str = "mean") -> dict:
  """{"l1", "giou", "total"} with total = l1_weight * L1 + giou_weight * (1 - GIoU) (DETR's 5 and 2)."""
  if l1_weight < 0 or giou_weight < 0:
    raise ValueError(f"l1_weight={l1_weight!r}, giou_weight={giou_weight!r}; expected nonnegative weights")
  l1 = l1_box_loss(pred, target, reduction)
  g = giou_loss(pred, target, reduction)
  return {"l1": l1, "giou": g, "total": l1_weight * l1 + giou_weight * g}
