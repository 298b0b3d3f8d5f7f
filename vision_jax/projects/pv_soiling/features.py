"""The RF branch: hand-crafted texture / sharpness features of a grayscale panel image and the forest.

Features (paper Section 3.4, eq. 5-11), on the grayscale image in [0, 1] at the paper's 224 px:
  laplacian_variance  Var(lap I), lap the 4-neighbour kernel [[0,1,0],[1,-4,1],[0,1,0]] (OpenCV's
                      cv2.Laplacian with ksize=1; scipy.ndimage.laplace, reflected borders);
  mean, std           mu_I and sigma_I (population std, eq. 9);
  rms_contrast        eq. 10 as printed, which is sigma_I again: kept as a duplicate column so the
                      vector is the paper's, and reported as a duplicate (`DUPLICATE_OF`);
  local_std           mean of the standard deviations of non-overlapping 8 x 8 blocks (window not
                      given in the paper; 8 x 8 is the spec's choice);
  lbp_0 .. lbp_9      the normalised histogram of uniform LBP_{8,1} codes (skimage
                      local_binary_pattern, method "uniform": 10 bins; P, R and bins are not given).
The forest: scikit-learn RandomForestClassifier(400 trees, gini, max_depth=None, max_features="sqrt",
class_weight="balanced"), probabilities from predict_proba.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.color import rgb2gray
from skimage.feature import local_binary_pattern
from skimage.util import view_as_blocks

LBP_POINTS, LBP_RADIUS = 8, 1
LBP_BINS = LBP_POINTS + 2  # uniform patterns 0..P plus one bin for all non-uniform ones
BLOCK = 8
FEATURE_NAMES = ("laplacian_variance", "mean", "std", "rms_contrast", "local_std") + tuple(
    f"lbp_{i}" for i in range(LBP_BINS))
DUPLICATE_OF = {"rms_contrast": "std"}


def to_gray(image: np.ndarray) -> np.ndarray:
  """(H, W, 3) RGB or (H, W[, 1]) gray in [0, 1] -> (H, W) float64 luminance (skimage rgb2gray)."""
  image = np.asarray(image, np.float64)
  if image.ndim == 3 and image.shape[-1] == 3:
    return rgb2gray(image)
  if image.ndim == 3 and image.shape[-1] == 1:
    return image[..., 0]
  if image.ndim == 2:
    return image
  raise ValueError(f"image has shape {image.shape}; expected (H, W), (H, W, 1) or (H, W, 3)")


def laplacian_variance(gray: np.ndarray) -> float:
  """Var of the 4-neighbour Laplacian (reflected borders) of a (H, W) image."""
  return float(np.var(ndimage.laplace(gray, mode="reflect")))


def local_std(gray: np.ndarray, block: int = BLOCK) -> float:
  """Mean standard deviation of the non-overlapping block x block tiles (the image cropped to a multiple)."""
  h, w = (gray.shape[0] // block) * block, (gray.shape[1] // block) * block
  if h == 0 or w == 0:
    raise ValueError(f"image of shape {gray.shape} is smaller than one {block} x {block} block")
  tiles = view_as_blocks(np.ascontiguousarray(gray[:h, :w]), (block, block))
  return float(tiles.std(axis=(2, 3)).mean())


def lbp_histogram(gray: np.ndarray) -> np.ndarray:
  """(10,) normalised histogram of uniform LBP_{8,1} codes of the image quantised to 8 bits."""
  codes = local_binary_pattern(np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8), LBP_POINTS, LBP_RADIUS,
                               method="uniform")
  hist = np.bincount(codes.astype(int).ravel(), minlength=LBP_BINS)[:LBP_BINS].astype(np.float64)
  return hist / hist.sum()


def panel_features(image: np.ndarray) -> np.ndarray:
  """(15,) the feature vector of FEATURE_NAMES for one image."""
  g = to_gray(image)
  std = float(np.std(g))
  rms = float(np.sqrt(np.mean((g - g.mean()) ** 2)))  # eq. 10 as printed: identical to std
  return np.concatenate([[laplacian_variance(g), float(g.mean()), std, rms, local_std(g)], lbp_histogram(g)])


def feature_matrix(images: np.ndarray, progress: bool = False) -> np.ndarray:
  """(N, 15) features of images (N, H, W, C)."""
  from vision_jax.progress import progress_bar
  rows = [panel_features(im) for im in progress_bar(images, desc="hand-crafted features", unit="img",
                                                   disable=not progress)]
  return np.stack(rows) if rows else np.zeros((0, len(FEATURE_NAMES)))


def random_forest(seed: int, n_estimators: int = 400, n_jobs: int = 1):
  """The paper's forest (Section 4.2)."""
  from sklearn.ensemble import RandomForestClassifier
  return RandomForestClassifier(n_estimators=n_estimators, criterion="gini", max_depth=None, max_features="sqrt",
                                class_weight="balanced", random_state=seed, n_jobs=n_jobs)
