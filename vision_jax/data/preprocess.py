"""General image preprocessing steps (numpy / scipy / scikit-image, not jitted): Otsu thresholds,
connected components, CLAHE with OpenCV's clip-limit semantics, bilateral bone suppression, an ideal
radial FFT band-pass, Frangi vesselness, local binary patterns, min-max scaling and flip / rotation
augmentation.

Every function takes one grayscale image (H, W) (floats in [0, 1] unless stated) and returns a new
array; none of them runs inside jit, so each wraps its library (scikit-image, scipy) and the tests
check it against that library or a closed form (tests/test_covid_cxr_preprocess.py).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["to_uint8", "otsu_threshold", "between_class_variance", "largest_components", "clahe",
           "opencv_clip_to_skimage", "bilateral", "bone_suppression", "radial_frequency", "radial_bandpass",
           "frangi_vesselness", "local_binary_pattern", "minmax_scale", "flip_rotate"]


def _check_2d(image, name: str = "image") -> np.ndarray:
  a = np.asarray(image)
  if a.ndim != 2 or min(a.shape) < 1:
    raise ValueError(f"{name} has shape {a.shape}; expected one grayscale image (H, W)")
  return a


def to_uint8(image) -> np.ndarray:
  """[0, 1] floats (H, W) -> uint8 levels round(255 x), values outside [0, 1] clipped."""
  a = _check_2d(image)
  if a.dtype == np.uint8:
    return a
  return np.round(np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def between_class_variance(hist) -> np.ndarray:
  """Otsu's sigma_b^2(t) = w0 w1 (mu0 - mu1)^2 for every threshold t (class 0 = levels <= t).

  hist: (L,) counts of levels 0..L-1. Returns (L,) float64; 0 where a class is empty.
  """
  p = np.asarray(hist, np.float64)
  p = p / max(p.sum(), 1.0)
  levels = np.arange(p.size, dtype=np.float64)
  w0 = np.cumsum(p)
  w1 = 1.0 - w0
  m0 = np.cumsum(p * levels)  # sum_{i<=t} i p_i
  mu_total = m0[-1]
  with np.errstate(divide="ignore", invalid="ignore"):
    mu0 = np.where(w0 > 0, m0 / w0, 0.0)
    mu1 = np.where(w1 > 1e-15, (mu_total - m0) / w1, 0.0)
  var = w0 * w1 * (mu0 - mu1) ** 2
  return np.where((w0 > 0) & (w1 > 1e-15), var, 0.0)


def otsu_threshold(image) -> int:
  """Otsu's threshold t* = argmax_t sigma_b^2(t) on the 256-level histogram of a uint8 image
  (floats in [0, 1] are quantised with to_uint8); class 0 is levels <= t*. The first maximiser wins;
  a constant image (every sigma_b^2 = 0) gives t* = 0, i.e. its level (or 0) in class 0."""
  u8 = to_uint8(image)
  var = between_class_variance(np.bincount(u8.ravel(), minlength=256))
  if not np.any(var > 0):
    return int(u8.min())
  return int(np.argmax(var))


def largest_components(mask, k: int = 2) -> np.ndarray:
  """The k largest 8-connected components of a bool mask (H, W) (fewer if it has fewer); ties keep the
  lower label (scan order of scipy.ndimage.label)."""
  m = _check_2d(mask, "mask").astype(bool)
  if k < 1:
    raise ValueError(f"k={k!r} is invalid; expected >= 1 components")
  labels, n = ndimage.label(m, structure=np.ones((3, 3), bool))
  if n <= k:
    return m
  sizes = np.bincount(labels.ravel())[1:]
  keep = np.argsort(-sizes, kind="stable")[:k] + 1
  return np.isin(labels, keep)


def opencv_clip_to_skimage(clip_limit: float, nbins: int = 256) -> float:
  """OpenCV createCLAHE(clipLimit) -> scikit-image equalize_adapthist(clip_limit).

  OpenCV clips each of its 256 histogram bins at clipLimit x (tile pixels / 256), i.e. clipLimit
  times the mean bin height; scikit-image clips at clip_limit x (tile pixels). So clip_limit =
  clipLimit / 256 with nbins=256 (clipLimit 3.0 -> 0.01172).
  """
  if not clip_limit > 0:
    raise ValueError(f"clip_limit={clip_limit!r} is invalid; expected > 0 (OpenCV clipLimit)")
  return float(clip_limit) / float(nbins)


def clahe(image, clip_limit: float = 3.0, tiles: int = 8) -> np.ndarray:
  """CLAHE with OpenCV semantics: clipLimit `clip_limit` (x mean bin height) on a tiles x tiles grid
  of contextual regions (OpenCV's default tileGridSize (8, 8)), 256 bins; scikit-image
  equalize_adapthist underneath. (H, W) in [0, 1] -> (H, W) float64 in [0, 1]."""
  from skimage import exposure
  a = _check_2d(image).astype(np.float64)
  if int(tiles) != tiles or tiles < 1:
    raise ValueError(f"tiles={tiles!r} is invalid; expected a positive integer (tiles per side)")
  kernel = (max(a.shape[0] // int(tiles), 2), max(a.shape[1] // int(tiles), 2))
  return exposure.equalize_adapthist(np.clip(a, 0, 1), kernel_size=kernel,
                                     clip_limit=opencv_clip_to_skimage(clip_limit), nbins=256)


def bilateral(image, sigma_color: float = 0.1, sigma_spatial: float = 2.0) -> np.ndarray:
  """Edge-preserving bilateral filter (scikit-image denoise_bilateral; window 2 ceil(3 sigma_spatial) + 1,
  range kernel exp(-d^2 / (2 sigma_color^2)) on intensities in [0, 1])."""
  from skimage.restoration import denoise_bilateral
  a = _check_2d(image).astype(np.float64)
  if not (sigma_color > 0 and sigma_spatial > 0):
    raise ValueError(f"sigma_color={sigma_color!r}, sigma_spatial={sigma_spatial!r} are invalid; expected > 0")
  win = 2 * int(np.ceil(3 * sigma_spatial)) + 1
  return denoise_bilateral(np.clip(a, 0, 1), win_size=win, sigma_color=float(sigma_color),
                           sigma_spatial=float(sigma_spatial), mode="reflect")


def bone_suppression(image, weight: float = 0.18, sigma_color: float = 0.1, sigma_spatial: float = 2.0,
                     base=None) -> np.ndarray:
  """Out = Base + weight (I - Base) with Base = bilateral(I): keeps `weight` of the detail layer.

  weight 1 returns I, weight 0 the bilateral base. `base` may pass a precomputed Base.
  """
  a = _check_2d(image).astype(np.float64)
  if not 0.0 <= weight <= 1.0:
    raise ValueError(f"weight={weight!r} is invalid; expected 0 <= weight <= 1 (share of the detail layer kept)")
  b = bilateral(a, sigma_color, sigma_spatial) if base is None else np.asarray(base, np.float64)
  return b + float(weight) * (a - b)


def radial_frequency(shape) -> np.ndarray:
  """(H, W) radius d = sqrt(fy^2 + fx^2) in cycles per pixel of each fftshifted DFT coefficient."""
  h, w = shape
  fy = np.fft.fftshift(np.fft.fftfreq(h))
  fx = np.fft.fftshift(np.fft.fftfreq(w))
  return np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def radial_bandpass(image, low: float, high: float) -> np.ndarray:
  """Ideal radial band-pass: keeps the DFT coefficients with low < d < high (d in cycles per pixel,
  0..~0.707) of the fftshifted spectrum, returns |IFFT|. (H, W) -> (H, W) float64 >= 0.

  A cosine of frequency f inside the band comes back as |cos| (amplitude kept); one outside is removed.
  """
  a = _check_2d(image).astype(np.float64)
  if not 0.0 <= low < high:
    raise ValueError(f"band ({low!r}, {high!r}) is invalid; expected 0 <= low < high (cycles per pixel)")
  spectrum = np.fft.fftshift(np.fft.fft2(a))
  d = radial_frequency(a.shape)
  keep = (d > low) & (d < high)
  return np.abs(np.fft.ifft2(np.fft.ifftshift(spectrum * keep)))


def frangi_vesselness(image, sigmas=tuple(range(1, 9)), black_ridges: bool = False, beta: float = 0.5,
                      gamma: float | None = None) -> np.ndarray:
  """Frangi vesselness (scikit-image filters.frangi, reflect boundary): the maximum over the Gaussian scales
  `sigmas` (pixels) of exp(-R_b^2 / (2 beta^2)) (1 - exp(-S^2 / (2 gamma^2))) with R_b = |l1| / l2,
  S = sqrt(l1^2 + l2^2) and |l1| <= |l2| the Hessian eigenvalues; bright ridges (vessels on a radiograph)
  with black_ridges=False. gamma None: half the largest S at the first scale (scikit-image's rule)."""
  from skimage.filters import frangi
  a = _check_2d(image).astype(np.float64)
  sig = [float(s) for s in sigmas]
  if not sig or min(sig) <= 0:
    raise ValueError(f"sigmas={sigmas!r} is invalid; expected positive Gaussian scales in pixels")
  return frangi(a, sigmas=sig, beta=beta, gamma=gamma, black_ridges=black_ridges, mode="reflect")


def local_binary_pattern(image, points: int = 8, radius: float = 1.0) -> np.ndarray:
  """LBP_{P,R} = sum_{p<P} s(i_p - i_c) 2^p, s(x) = 1[x >= 0], neighbours i_p on a circle of radius R
  (bilinear; p = 0 to the right, counter-clockwise), on the uint8 levels of the image (scikit-image
  local_binary_pattern, method "default"). Returns float64 codes in [0, 2^P - 1]."""
  from skimage.feature import local_binary_pattern as lbp
  if int(points) != points or points < 1:
    raise ValueError(f"points={points!r} is invalid; expected a positive integer")
  if not radius > 0:
    raise ValueError(f"radius={radius!r} is invalid; expected > 0")
  return lbp(to_uint8(image), int(points), float(radius), method="default")


def minmax_scale(image) -> np.ndarray:
  """(x - min) / (max - min) per image, float32 in [0, 1]; a constant image maps to 0."""
  a = np.asarray(image, np.float64)
  lo, hi = float(a.min()), float(a.max())
  if not hi > lo:
    return np.zeros(a.shape, np.float32)
  return ((a - lo) / (hi - lo)).astype(np.float32)


def flip_rotate(images, rng: np.random.Generator, *, max_degrees: float = 7.0, hflip: float = 0.5,
                cval: float | None = None) -> np.ndarray:
  """Per image: horizontal flip with probability `hflip`, then a rotation by U(-max_degrees,
  max_degrees) about the centre (bilinear, same size; corners filled with `cval`, default each
  channel's minimum). (N, H, W, C) -> same shape, float32."""
  x = np.asarray(images, np.float32)
  if x.ndim != 4:
    raise ValueError(f"images has shape {x.shape}; expected (N, H, W, C)")
  if not 0.0 <= hflip <= 1.0 or max_degrees < 0:
    raise ValueError(f"hflip={hflip!r}, max_degrees={max_degrees!r} are invalid; expected 0 <= hflip <= 1, "
                     "max_degrees >= 0")
  n = x.shape[0]
  flips = rng.random(n) < hflip
  angles = rng.uniform(-max_degrees, max_degrees, n)
  out = np.empty_like(x)
  for i in range(n):
    img = x[i, :, ::-1] if flips[i] else x[i]
    if max_degrees > 0 and angles[i] != 0:
      for c in range(img.shape[-1]):
        fill = float(img[..., c].min()) if cval is None else float(cval)
        out[i, ..., c] = ndimage.rotate(img[..., c], angles[i], reshape=False, order=1, mode="constant", cval=fill)
    else:
      out[i] = img
  return out
