"""Axis-aligned boxes: conversions, IoU / GIoU, greedy NMS (JAX), and VOC / COCO average precision (numpy).

Box layouts (last axis of size 4, any leading axes):
- xyxy:   (x0, y0, x1, y1) with x1 >= x0, y1 >= y0 (corners; continuous coordinates, no "+1");
- cxcywh: (cx, cy, w, h) (centre and size, as DETR-style box heads predict them);
- xywh:   (x0, y0, w, h) (the COCO annotation layout).
Units are whatever the caller uses (pixels, or fractions of the image side); area = w h.

The JAX functions (conversions, `box_iou`, `pairwise_iou`, `generalized_iou`, `pairwise_giou`,
`nms`) are jittable and differentiable where that makes sense. The AP functions take python/numpy
detections and ground truths and follow the reference evaluators' matching rules exactly:
`voc_ap` (PASCAL VOC devkit: each detection takes the ground truth of highest IoU, a second hit on a
matched box is a false positive; 11-point or all-point interpolation) and `coco_ap` (pycocotools
COCOeval for bbox, area "all", maxDets 100: each detection takes the unmatched ground truth of
highest IoU >= t; 101-point interpolated precision averaged over IoU thresholds 0.50:0.05:0.95);
tests/test_boxes.py checks `coco_ap` against pycocotools.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["xyxy_to_cxcywh", "cxcywh_to_xyxy", "xywh_to_xyxy", "xyxy_to_xywh", "box_area", "box_iou",
           "pairwise_iou", "generalized_iou", "pairwise_giou", "nms", "nms_numpy", "voc_ap", "coco_ap",
           "COCO_IOU_THRESHOLDS", "best_iou_per_image", "localization_metrics"]

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # pycocotools' np.linspace(.5, 0.95, 10)
_EPS = 1e-12


def _last4(boxes, name: str = "boxes"):
  b = jnp.asarray(boxes)
  if b.ndim < 1 or b.shape[-1] != 4:
    raise ValueError(f"{name} has shape {b.shape}; expected (..., 4)")
  return b


def xyxy_to_cxcywh(boxes) -> jax.Array:
  """(..., 4) corners (x0, y0, x1, y1) -> (cx, cy, w, h)."""
  b = _last4(boxes)
  x0, y0, x1, y1 = jnp.moveaxis(b, -1, 0)
  return jnp.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def cxcywh_to_xyxy(boxes) -> jax.Array:
  """(..., 4) (cx, cy, w, h) -> corners (x0, y0, x1, y1)."""
  b = _last4(boxes)
  cx, cy, w, h = jnp.moveaxis(b, -1, 0)
  return jnp.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def xywh_to_xyxy(boxes) -> jax.Array:
  """(..., 4) COCO (x0, y0, w, h) -> corners."""
  b = _last4(boxes)
  x0, y0, w, h = jnp.moveaxis(b, -1, 0)
  return jnp.stack([x0, y0, x0 + w, y0 + h], axis=-1)


def xyxy_to_xywh(boxes) -> jax.Array:
  """(..., 4) corners -> COCO (x0, y0, w, h)."""
  b = _last4(boxes)
  x0, y0, x1, y1 = jnp.moveaxis(b, -1, 0)
  return jnp.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)


def box_area(boxes) -> jax.Array:
  """(...,) areas of xyxy boxes; a box with x1 < x0 or y1 < y0 has area 0."""
  b = _last4(boxes)
  return jnp.maximum(b[..., 2] - b[..., 0], 0) * jnp.maximum(b[..., 3] - b[..., 1], 0)


def _inter_union(a, b):
  """Intersection and union of broadcast xyxy boxes a (..., 4), b (..., 4)."""
  lt = jnp.maximum(a[..., :2], b[..., :2])
  rb = jnp.minimum(a[..., 2:], b[..., 2:])
  wh = jnp.maximum(rb - lt, 0)
  inter = wh[..., 0] * wh[..., 1]
  return inter, box_area(a) + box_area(b) - inter


def _iou(a, b):
  inter, union = _inter_union(a, b)
  return jnp.where(union > 0, inter / jnp.where(union > 0, union, 1), 0.0)


def _giou(a, b):
  inter, union = _inter_union(a, b)
  iou = jnp.where(union > 0, inter / jnp.where(union > 0, union, 1), 0.0)
  lt = jnp.minimum(a[..., :2], b[..., :2])
  rb = jnp.maximum(a[..., 2:], b[..., 2:])
  wh = jnp.maximum(rb - lt, 0)
  hull = wh[..., 0] * wh[..., 1]
  return iou - jnp.where(hull > 0, (hull - union) / jnp.where(hull > 0, hull, 1), 0.0)


def box_iou(a, b) -> jax.Array:
  """Elementwise IoU of broadcastable xyxy boxes a, b (..., 4) -> (...); 0 where the union is empty."""
  return _iou(_last4(a, "a"), _last4(b, "b"))


def pairwise_iou(a, b) -> jax.Array:
  """IoU matrix (N, M) of xyxy boxes a (N, 4) and b (M, 4)."""
  a, b = _last4(a, "a"), _last4(b, "b")
  if a.ndim != 2 or b.ndim != 2:
    raise ValueError(f"pairwise_iou takes (N, 4) and (M, 4) boxes, got {a.shape} and {b.shape}")
  return _iou(a[:, None, :], b[None, :, :])


def generalized_iou(a, b) -> jax.Array:
  """Elementwise GIoU (Rezatofighi et al. 2019) of broadcastable xyxy boxes (..., 4) -> (...) in [-1, 1]:
  IoU - |C \\ (A u B)| / |C| with C the smallest box enclosing A and B."""
  return _giou(_last4(a, "a"), _last4(b, "b"))


def pairwise_giou(a, b) -> jax.Array:
  """GIoU matrix (N, M) of xyxy boxes a (N, 4) and b (M, 4)."""
  a, b = _last4(a, "a"), _last4(b, "b")
  if a.ndim != 2 or b.ndim != 2:
    raise ValueError(f"pairwise_giou takes (N, 4) and (M, 4) boxes, got {a.shape} and {b.shape}")
  return _giou(a[:, None, :], b[None, :, :])


@jax.jit
def _nms_keep(boxes, scores, iou_threshold):
  order = jnp.argsort(-scores, stable=True)
  b = boxes[order]
  iou = _iou(b[:, None, :], b[None, :, :])
  n = b.shape[0]

  def body(i, keep):
    # box i survives if no kept box before it overlaps it by more than the threshold
    suppressed = jnp.any(keep & (jnp.arange(n) < i) & (iou[i] > iou_threshold))
    return keep.at[i].set(~suppressed)

  keep_sorted = jax.lax.fori_loop(0, n, body, jnp.zeros((n,), bool))
  return jnp.zeros((n,), bool).at[order].set(keep_sorted)


def nms(boxes, scores, iou_threshold: float = 0.5) -> jax.Array:
  """Greedy non-maximum suppression; returns a keep mask (N,) bool (jittable, fixed shape).

  Boxes (N, 4) xyxy are visited by decreasing score (ties: lower index first); a box is kept unless
  a kept, higher-ranked box overlaps it with IoU > iou_threshold (torchvision.ops.nms' rule).
  """
  b = _last4(boxes)
  s = jnp.asarray(scores)
  if b.ndim != 2 or s.shape != (b.shape[0],):
    raise ValueError(f"nms takes boxes (N, 4) and scores (N,), got {b.shape} and {s.shape}")
  if not 0.0 <= float(iou_threshold) <= 1.0:
    raise ValueError(f"iou_threshold={iou_threshold!r} is invalid; expected 0 <= t <= 1")
  if b.shape[0] == 0:
    return jnp.zeros((0,), bool)
  return _nms_keep(b, s, jnp.asarray(iou_threshold, b.dtype))


def nms_numpy(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
  """Reference greedy NMS in plain numpy: indices kept, by decreasing score (for tests and host code)."""
  boxes = np.asarray(boxes, np.float64)
  order = list(np.argsort(-np.asarray(scores, np.float64), kind="stable"))
  keep = []
  while order:
    i = order.pop(0)
    keep.append(i)
    order = [j for j in order if float(_np_iou(boxes[i], boxes[j])) <= iou_threshold]
  return np.asarray(keep, np.int64)


# ----------------------------------------------------------------------------- average precision (numpy)
def _np_iou(a, b):
  """IoU of xyxy boxes a (..., 4), b (..., 4) in float64 numpy (broadcasting)."""
  lt = np.maximum(a[..., :2], b[..., :2])
  rb = np.minimum(a[..., 2:], b[..., 2:])
  wh = np.clip(rb - lt, 0, None)
  inter = wh[..., 0] * wh[..., 1]
  area = lambda x: np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)
  union = area(a) + area(b) - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _check_dets(detections, ground_truths):
  """Validates the AP inputs; returns (dets, gts) as lists of dicts of float64 / int64 numpy arrays."""
  if len(detections) != len(ground_truths):
    raise ValueError(f"{len(detections)} detection entries for {len(ground_truths)} images; expected one per image")
  dets, gts = [], []
  for i, (d, g) in enumerate(zip(detections, ground_truths)):
    db = np.asarray(d["boxes"], np.float64).reshape(-1, 4)
    ds = np.asarray(d["scores"], np.float64).reshape(-1)
    dl = np.asarray(d["labels"], np.int64).reshape(-1)
    gb = np.asarray(g["boxes"], np.float64).reshape(-1, 4)
    gl = np.asarray(g["labels"], np.int64).reshape(-1)
    if not (len(db) == len(ds) == len(dl)):
      raise ValueError(f"image {i}: {len(db)} boxes, {len(ds)} scores, {len(dl)} labels; expected equal counts")
    if len(gb) != len(gl):
      raise ValueError(f"image {i}: {len(gb)} ground-truth boxes for {len(gl)} labels; expected equal counts")
    for name, b in (("detection", db), ("ground-truth", gb)):
      if len(b) and np.any(b[:, 2:] < b[:, :2]):
        raise ValueError(f"image {i}: a {name} box has x1 < x0 or y1 < y0; expected xyxy corners")
    dets.append({"boxes": db, "scores": ds, "labels": dl})
    gts.append({"boxes": gb, "labels": gl})
  return dets, gts


def _voc_interpolate(recall, precision, use_07_metric):
  if use_07_metric:  # VOC2007 11-point interpolation
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
      p = precision[recall >= t].max() if np.any(recall >= t) else 0.0
      ap += p / 11.0
    return float(ap)
  mrec = np.concatenate([[0.0], recall, [1.0]])
  mpre = np.concatenate([[0.0], precision, [0.0]])
  mpre = np.maximum.accumulate(mpre[::-1])[::-1]
  idx = np.flatnonzero(mrec[1:] != mrec[:-1])
  return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def voc_ap(detections: Sequence[dict], ground_truths: Sequence[dict], iou_threshold: float = 0.5,
           use_07_metric: bool = False) -> dict:
  """PASCAL VOC average precision per class and its mean (the devkit's `voc_eval` rules, no "difficult").

  Args:
    detections: one dict per image with "boxes" (D, 4) xyxy, "scores" (D,), "labels" (D,) ints.
    ground_truths: one dict per image with "boxes" (G, 4) xyxy and "labels" (G,).
    iou_threshold: a detection is a true positive when its best-overlapping ground truth (same class,
      same image) has IoU > threshold and was not matched by a higher-scored detection.
    use_07_metric: VOC2007 11-point interpolation instead of the area under the monotone PR curve.
  Returns:
    {"per_class": {label: AP}, "mAP": mean over classes with ground truth}; a class with ground truth
    but no detection has AP 0.
  """
  dets, gts = _check_dets(detections, ground_truths)
  classes = sorted({int(c) for g in gts for c in g["labels"]})
  per_class = {}
  for c in classes:
    npos = sum(int(np.sum(g["labels"] == c)) for g in gts)
    records = [(s, i, b) for i, d in enumerate(dets) for s, b, l in zip(d["scores"], d["boxes"], d["labels"]) if l == c]
    records.sort(key=lambda r: -r[0])  # stable: ties keep image order, as the devkit's argsort of -score
    matched = [np.zeros(int(np.sum(g["labels"] == c)), bool) for g in gts]
    tp = np.zeros(len(records))
    for k, (_, i, box) in enumerate(records):
      gb = gts[i]["boxes"][gts[i]["labels"] == c]
      if len(gb):
        ious = _np_iou(box[None], gb)
        j = int(np.argmax(ious))
        if ious[j] > iou_threshold and not matched[i][j]:
          matched[i][j] = True
          tp[k] = 1.0
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / max(npos, 1)
    precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    per_class[c] = _voc_interpolate(recall, precision, use_07_metric) if len(records) else 0.0
  return {"per_class": per_class, "mAP": float(np.mean(list(per_class.values()))) if per_class else float("nan")}


def coco_ap(detections: Sequence[dict], ground_truths: Sequence[dict], iou_thresholds=COCO_IOU_THRESHOLDS,
            max_detections: int = 100) -> dict:
  """COCO box AP as pycocotools' COCOeval computes it (area range "all", no crowd boxes).

  Same inputs as `voc_ap`. Per image and class, the `max_detections` highest-scored detections are
  matched in score order, each to the still-unmatched ground truth of highest IoU >= t. Per class and
  threshold the detections of all images are pooled by score (stable), precision is made monotone
  and read at the 101 recall points 0:0.01:1 (0 beyond the last recall reached).
  Returns {"AP": mean over classes and thresholds, "AP50", "AP75" (when those thresholds are in
  iou_thresholds), "per_threshold": (T,) means over classes, "per_class": {label: mean over T}}.
  Classes without ground truth are left out, as COCOeval does (-1 entries).
  """
  dets, gts = _check_dets(detections, ground_truths)
  thr = np.asarray(iou_thresholds, np.float64)
  rec_thrs = np.linspace(0.0, 1.0, 101)
  classes = sorted({int(c) for g in gts for c in g["labels"]})
  table = np.zeros((len(thr), len(classes)))
  for ci, c in enumerate(classes):
    scores, matches, npig = [], [], 0
    for d, g in zip(dets, gts):
      gb = g["boxes"][g["labels"] == c]
      sel = np.flatnonzero(d["labels"] == c)
      sel = sel[np.argsort(-d["scores"][sel], kind="mergesort")][:max_detections]
      db, ds = d["boxes"][sel], d["scores"][sel]
      npig += len(gb)
      m = np.zeros((len(thr), len(db)), bool)
      if len(gb) and len(db):
        ious = _np_iou(db[:, None, :], gb[None, :, :])
        for ti, t in enumerate(thr):
          taken = np.zeros(len(gb), bool)
          for di in range(len(db)):
            best, bj = min(t, 1 - 1e-10), -1
            for gj in range(len(gb)):
              if taken[gj] or ious[di, gj] < best:
                continue
              best, bj = ious[di, gj], gj
            if bj >= 0:
              taken[bj] = True
              m[ti, di] = True
      scores.append(ds)
      matches.append(m)
    if npig == 0:
      continue
    s = np.concatenate(scores) if scores else np.zeros(0)
    order = np.argsort(-s, kind="mergesort")
    tps = np.concatenate(matches, axis=1)[:, order] if matches else np.zeros((len(thr), 0), bool)
    for ti in range(len(thr)):
      tp = np.cumsum(tps[ti]).astype(np.float64)
      fp = np.cumsum(~tps[ti]).astype(np.float64)
      rc = tp / npig
      pr = tp / (fp + tp + np.spacing(1))
      pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
      idx = np.searchsorted(rc, rec_thrs, side="left")
      q = np.zeros(len(rec_thrs))
      ok = idx < len(pr)
      q[ok] = pr[idx[ok]]
      table[ti, ci] = q.mean()
  if not classes:
    return {"AP": float("nan"), "per_threshold": np.full(len(thr), np.nan), "per_class": {}}
  out = {"AP": float(table.mean()), "per_threshold": table.mean(axis=1),
         "per_class": {c: float(table[:, ci].mean()) for ci, c in enumerate(classes)}}
  for name, t in (("AP50", 0.5), ("AP75", 0.75)):
    hit = np.flatnonzero(np.isclose(thr, t))
    if hit.size:
      out[name] = float(table[hit[0]].mean())
  return out


# ----------------------------------------------------------------------------- single-object localization
def best_iou_per_image(pred_boxes, gt_boxes, gt_image=None) -> np.ndarray:
  """(N,) IoU of each image's predicted xyxy box (N, 4) with its best-overlapping ground truth.

  gt_boxes: (N, 4) one box per image, or (M, 4) with gt_image (M,) naming each box's image (several
  ground truths per image, as in ILSVRC); an image without ground truth gets 0.
  """
  p = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
  g = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
  if gt_image is None:
    if g.shape != p.shape:
      raise ValueError(f"gt_boxes has shape {g.shape} for {len(p)} predictions; expected one per image or gt_image")
    return _np_iou(p, g)
  idx = np.asarray(gt_image, np.int64)
  if idx.shape != (len(g),) or (idx.size and (idx.min() < 0 or idx.max() >= len(p))):
    raise ValueError(f"gt_image has shape {idx.shape} / range outside [0, {len(p)}); expected ({len(g)},) image ids")
  best = np.zeros(len(p))
  np.maximum.at(best, idx, _np_iou(p[idx], g))
  return best


def localization_metrics(pred_labels, pred_boxes, labels, gt_boxes, gt_image=None, iou_threshold: float = 0.5) -> dict:
  """Single-object localization scores (the ILSVRC criterion and its parts), batch means.

  Returns {"accuracy": label correct, "mean_iou": mean best IoU, "box_accuracy": IoU >= threshold,
  "localization_accuracy": label correct AND IoU >= threshold (ILSVRC), "iou" (N,) per image}.
  """
  pl, lab = np.asarray(pred_labels).reshape(-1), np.asarray(labels).reshape(-1)
  if pl.shape != lab.shape:
    raise ValueError(f"pred_labels has shape {pl.shape} but labels {lab.shape}; expected equal")
  iou = best_iou_per_image(pred_boxes, gt_boxes, gt_image)
  if iou.shape != pl.shape:
    raise ValueError(f"{len(iou)} predicted boxes for {len(pl)} labels; expected one per image")
  correct, hit = pl == lab, iou >= iou_threshold
  return {"accuracy": float(correct.mean()), "mean_iou": float(iou.mean()), "box_accuracy": float(hit.mean()),
          "localization_accuracy": float((correct & hit).mean()), "iou": iou}
