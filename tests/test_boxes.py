"""Box utilities (vision_jax.metrics.boxes) and box losses (vision_jax.losses.boxes): closed forms,
a rasterised IoU, the greedy-NMS rule, hand-computed VOC/COCO AP, and pycocotools on a synthetic set."""

import contextlib
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax.losses import boxes as box_losses
from vision_jax.metrics import boxes as B


def test_conversions_round_trip_and_closed_form():
  xyxy = np.array([[1.0, 2.0, 5.0, 8.0], [0.0, 0.0, 0.5, 0.25]])
  c = np.asarray(B.xyxy_to_cxcywh(xyxy))
  np.testing.assert_allclose(c, [[3.0, 5.0, 4.0, 6.0], [0.25, 0.125, 0.5, 0.25]])
  np.testing.assert_allclose(B.cxcywh_to_xyxy(c), xyxy)
  np.testing.assert_allclose(B.xywh_to_xyxy(B.xyxy_to_xywh(xyxy)), xyxy)
  np.testing.assert_allclose(B.box_area(xyxy), [24.0, 0.125])
  with pytest.raises(ValueError, match=r"expected \(\.\.\., 4\)"):
    B.box_iou(np.zeros((3, 3)), np.zeros((3, 3)))


def test_iou_giou_closed_forms():
  a = np.array([0.0, 0.0, 2.0, 2.0])
  np.testing.assert_allclose(B.box_iou(a, [1.0, 1.0, 3.0, 3.0]), 1 / 7, rtol=1e-6)
  np.testing.assert_allclose(B.generalized_iou(a, [1.0, 1.0, 3.0, 3.0]), 1 / 7 - 2 / 9, rtol=1e-6)
  np.testing.assert_allclose(B.generalized_iou(a, a), 1.0)
  # disjoint: IoU 0, GIoU = -(hull - union) / hull = -(6 - 2) / 6 ... for unit boxes 2 apart: hull 3, union 2
  u = np.array([0.0, 0.0, 1.0, 1.0])
  np.testing.assert_allclose(B.box_iou(u, [2.0, 0.0, 3.0, 1.0]), 0.0)
  np.testing.assert_allclose(B.generalized_iou(u, [2.0, 0.0, 3.0, 1.0]), -1 / 3, rtol=1e-6)
  # far apart boxes: GIoU -> -1
  assert float(B.generalized_iou(u, [1e4, 1e4, 1e4 + 1, 1e4 + 1])) < -0.999


def test_pairwise_iou_matches_rasterised_overlap():
  rng = np.random.default_rng(0)
  lo = rng.integers(0, 40, size=(6, 2))
  wh = rng.integers(1, 25, size=(6, 2))
  boxes = np.concatenate([lo, lo + wh], axis=1).astype(np.float64)
  grid = np.zeros((6, 70, 70), bool)  # integer-corner boxes: pixel counting is exact
  for i, (x0, y0, x1, y1) in enumerate(boxes.astype(int)):
    grid[i, y0:y1, x0:x1] = True
  inter = np.einsum("ahw,bhw->ab", grid.astype(int), grid.astype(int))
  area = grid.sum((1, 2))
  want = inter / (area[:, None] + area[None, :] - inter)
  np.testing.assert_allclose(B.pairwise_iou(boxes, boxes), want, rtol=1e-6)
  np.testing.assert_allclose(jnp.diagonal(B.pairwise_giou(boxes, boxes)), 1.0, rtol=1e-6)
  g = np.asarray(B.pairwise_giou(boxes, boxes))
  assert np.all(g <= want + 1e-6) and np.all(g >= -1 - 1e-6)


def test_nms_greedy_rule_and_reference():
  boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0], [21, 20, 31, 30]], float)
  scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
  # 3 (0.95) suppresses 0 (IoU 0.9) and... 1 overlaps 3 by 0.62 > 0.5 -> suppressed; 2 kept; 4 overlaps 2 by 0.82
  keep = np.asarray(B.nms(boxes, scores, 0.5))
  np.testing.assert_array_equal(np.flatnonzero(keep), [2, 3])
  np.testing.assert_array_equal(np.sort(B.nms_numpy(boxes, scores, 0.5)), [2, 3])
  rng = np.random.default_rng(1)
  for t in (0.3, 0.5, 0.7):
    lo = rng.uniform(0, 50, (40, 2))
    b = np.concatenate([lo, lo + rng.uniform(5, 30, (40, 2))], 1)
    s = rng.random(40)
    got = np.flatnonzero(np.asarray(jax.jit(B.nms, static_argnums=2)(b, s, t)))
    np.testing.assert_array_equal(got, np.sort(B.nms_numpy(b, s, t)))


def _one_class(det_boxes, scores, gt_boxes):
  dets = [{"boxes": det_boxes, "scores": scores, "labels": np.zeros(len(scores), int)}]
  return dets, [{"boxes": gt_boxes, "labels": np.zeros(len(gt_boxes), int)}]


def test_ap_hand_computed():
  gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
  det = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], float)
  dets, gts = _one_class(det, np.array([0.9, 0.8, 0.7]), gt)
  # precision (1, 1/2, 2/3) at recall (1/2, 1/2, 1)
  assert B.voc_ap(dets, gts)["mAP"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
  assert B.voc_ap(dets, gts, use_07_metric=True)["mAP"] == pytest.approx((6 + 5 * 2 / 3) / 11)
  coco = B.coco_ap(dets, gts)
  assert coco["AP50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
  assert coco["AP"] == pytest.approx((51 + 50 * 2 / 3) / 101)  # exact boxes: every threshold alike


def test_voc_and_coco_differ_on_a_duplicate_as_specified():
  # the second detection overlaps gt0 best (already taken) but gt1 above 0.5: VOC counts a false
  # positive (devkit: best-IoU ground truth only), COCO matches it to gt1
  gt = np.array([[0, 0, 10, 10], [2, 0, 12, 10]], float)
  det = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], float)
  dets, gts = _one_class(det, np.array([0.9, 0.8]), gt)
  assert B.voc_ap(dets, gts)["mAP"] == pytest.approx(0.5)
  assert B.coco_ap(dets, gts, iou_thresholds=[0.5])["AP"] == pytest.approx(1.0)


def _synthetic_set(rng, n_images=25, n_classes=3):
  dets, gts = [], []
  for _ in range(n_images):
    g = rng.integers(0, 4)
    lo = rng.uniform(0, 80, (g, 2))
    gb = np.concatenate([lo, lo + rng.uniform(4, 40, (g, 2))], 1)
    gl = rng.integers(0, n_classes, g)
    keep = rng.random(g) < 0.8  # misses
    jitter = rng.normal(0, 2.5, (g, 4))
    db = np.concatenate([gb[keep] + jitter[keep], ], 0)
    db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
    dl = gl[keep].copy()
    flip = rng.random(len(dl)) < 0.1  # wrong class
    dl[flip] = (dl[flip] + 1) % n_classes
    f = rng.integers(0, 3)  # false positives
    flo = rng.uniform(0, 80, (f, 2))
    db = np.concatenate([db, np.concatenate([flo, flo + rng.uniform(4, 40, (f, 2))], 1)], 0)
    dl = np.concatenate([dl, rng.integers(0, n_classes, f)])
    ds = np.round(rng.random(len(dl)), 2)  # rounded: ties exercise the stable sort
    dets.append({"boxes": db, "scores": ds, "labels": dl})
    gts.append({"boxes": gb, "labels": gl})
  return dets, gts


def _pycocotools_stats(dets, gts):
  from pycocotools.coco import COCO
  from pycocotools.cocoeval import COCOeval
  images, anns, results = [], [], []
  for i, (d, g) in enumerate(zip(dets, gts)):
    images.append({"id": i + 1, "width": 128, "height": 128})
    for b, l in zip(g["boxes"], g["labels"]):
      w, h = b[2] - b[0], b[3] - b[1]
      anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(l) + 1,
                   "bbox": [float(b[0]), float(b[1]), float(w), float(h)], "area": float(w * h), "iscrowd": 0})
    for b, s, l in zip(d["boxes"], d["scores"], d["labels"]):
      results.append({"image_id": i + 1, "category_id": int(l) + 1, "score": float(s),
                      "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": k} for k in (1, 2, 3)]}
    gt.createIndex()
    ev = COCOeval(gt, gt.loadRes(results), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
  return ev.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_ap_matches_pycocotools(seed):
  dets, gts = _synthetic_set(np.random.default_rng(seed))
  stats = _pycocotools_stats(dets, gts)
  ours = B.coco_ap(dets, gts)
  assert 0.05 < ours["AP"] < 0.95  # a set with misses, false positives and wrong classes
  np.testing.assert_allclose([ours["AP"], ours["AP50"], ours["AP75"]], stats[:3], atol=1e-9)


def test_ap_input_errors():
  with pytest.raises(ValueError, match="one per image"):
    B.coco_ap([], [{"boxes": np.zeros((0, 4)), "labels": []}])
  with pytest.raises(ValueError, match="x1 < x0"):
    B.voc_ap([{"boxes": [[5, 0, 1, 1]], "scores": [1], "labels": [0]}], [{"boxes": [[0, 0, 1, 1]], "labels": [0]}])


def test_box_losses_values_and_gradient_when_disjoint():
  pred = jnp.array([[0.25, 0.25, 0.2, 0.2]])
  target = jnp.array([[0.75, 0.75, 0.2, 0.2]])
  out = box_losses.box_loss(pred, target)
  np.testing.assert_allclose(out["l1"], 1.0, rtol=1e-6)
  # disjoint: hull side 0.7, union 0.08 -> GIoU = -(0.49 - 0.08) / 0.49
  np.testing.assert_allclose(out["giou"], 1 + 0.41 / 0.49, rtol=1e-5)
  np.testing.assert_allclose(out["total"], 5 * 1.0 + 2 * (1 + 0.41 / 0.49), rtol=1e-5)
  g = jax.grad(lambda p: box_losses.giou_loss(p, target))(pred)
  assert float(g[0, 0]) < 0 and float(g[0, 1]) < 0  # moving the centre toward the target lowers the loss
  iou_grad = jax.grad(lambda p: 1 - B.box_iou(B.cxcywh_to_xyxy(p), B.cxcywh_to_xyxy(target)).sum())(pred)
  np.testing.assert_allclose(iou_grad, 0.0)  # why GIoU: plain IoU is flat here
  np.testing.assert_allclose(box_losses.giou_loss(target, target), 0.0, atol=1e-6)
  with pytest.raises(ValueError, match="expected equal"):
    box_losses.box_loss(pred, target[:, :3])


def test_localization_metrics_ilsvrc_criterion_and_multiple_ground_truths():
  pred_boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], float)
  gt = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 4, 4]], float)
  m = B.localization_metrics([1, 2, 3], pred_boxes, [1, 0, 3], gt)
  np.testing.assert_allclose(m["iou"], [1.0, 50 / 150, 0.0])
  assert m["accuracy"] == pytest.approx(2 / 3) and m["box_accuracy"] == pytest.approx(1 / 3)
  assert m["localization_accuracy"] == pytest.approx(1 / 3) and m["mean_iou"] == pytest.approx((1 + 1 / 3) / 3)
  # several ground truths per image (ILSVRC): the best one counts
  many = np.array([[0, 0, 4, 4], [0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
  np.testing.assert_allclose(B.best_iou_per_image(pred_boxes, many, [0, 0, 1, 2]), [1.0, 50 / 150, 1.0])
  with pytest.raises(ValueError, match="image ids"):
    B.best_iou_per_image(pred_boxes, many, [0, 0, 1, 5])
