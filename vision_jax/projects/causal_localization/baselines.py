"""Box baselines measured on the same test images as the box head.

- mean box: every image gets the mean ground-truth box of the training split (cxcywh mean), the
  class from the network: what a box head that ignores the image scores.
- CAM box (Zhou et al. 2016, the classic "localization from a classifier"): the Grad-CAM map of the
  predicted class, thresholded at t * max, box of the connected component holding the maximum. This is
  how the paper's classification-only network would localize; t is chosen on the validation split
  (grid CAM_THRESHOLDS, best mean IoU), never on test images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vision_jax import explain as ex
from vision_jax.metrics import boxes as B
from vision_jax.train import state as state_lib

CAM_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def mean_box(train_boxes_xyxy: np.ndarray, n: int) -> np.ndarray:
  """(n, 4) copies of the training split's mean box (mean of cx, cy, w, h, back to xyxy)."""
  mean = np.asarray(B.xyxy_to_cxcywh(np.asarray(train_boxes_xyxy, np.float64))).mean(0)
  return np.repeat(np.asarray(B.cxcywh_to_xyxy(mean))[None], n, axis=0)


def box_from_map(heat: np.ndarray, threshold: float) -> np.ndarray:
  """xyxy pixel box of the connected region {heat >= threshold * max} that contains the maximum."""
  h = np.asarray(heat, np.float64)
  peak = np.unravel_index(int(np.argmax(h)), h.shape)
  if h[peak] <= 0:
    return np.array([0.0, 0.0, h.shape[1], h.shape[0]])
  labels, _ = ndimage.label(h >= threshold * h[peak])
  rows, cols = np.nonzero(labels == labels[peak])
  return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.float64)


def cam_maps(model, state, images: np.ndarray, predicted: np.ndarray, batch_size: int = 128) -> np.ndarray:
  """(N, H, W) Grad-CAM maps of the predicted classes, in batches."""
  variables = state_lib.model_variables(state)
  out = [np.asarray(ex.grad_cam(model, variables, images[i:i + batch_size], predicted[i:i + batch_size]))
         for i in range(0, len(images), batch_size)]
  return np.concatenate(out)


def cam_boxes(maps: np.ndarray, threshold: float) -> np.ndarray:
  return np.stack([box_from_map(m, threshold) for m in maps])


def tune_cam_threshold(val_maps: np.ndarray, val_data) -> tuple[float, dict]:
  """(best threshold, {threshold: validation mean IoU}) over CAM_THRESHOLDS."""
  table = {}
  for t in CAM_THRESHOLDS:
    iou = B.best_iou_per_image(cam_boxes(val_maps, t), val_data.aux["all_boxes"], val_data.aux["box_image"])
    table[t] = float(iou.mean())
  return max(table, key=table.get), table
