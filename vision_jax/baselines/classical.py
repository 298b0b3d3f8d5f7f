"""Classical denoisers (scikit-image, bm3d) behind one signature: `fn(noisy, sigma, **overrides) -> denoised`.

Every wrapper takes a grayscale image `noisy` of shape (H, W), float, nominally in [0, 1] (AWGN
leaves it slightly outside; nothing is clipped), and the noise standard deviation `sigma` on the
0-255 scale -- the true sigma of the experiment, so that every method is compared on the same
footing (oracle noise level, no per-method estimate). Each returns the denoised (H, W) image in
the input's floating dtype (float64 for integer input). sigma == 0 returns a copy of the input.

Parameter rules (sigma01 = sigma / 255). These are starting points, not tuned on any image here;
comparison tables tune them on a validation image with `vision_jax.baselines.methods.tune_classical`
(the same grid search the PDE priors get) and report the setting chosen:
  tv_chambolle  skimage.restoration.denoise_tv_chambolle, weight = weight_per_sigma * sigma01
                (default 1.0; `weight=` sets the weight directly).
  nl_means      skimage.restoration.denoise_nl_means, h = h_factor sigma01 (default 0.8), sigma = sigma01,
                patch_size 5, patch_distance 6, fast_mode=True (the scikit-image gallery setting).
  wavelet       skimage.restoration.denoise_wavelet, BayesShrink, soft thresholding, sigma = sigma01,
                rescale_sigma; wavelet 'db1' (the scikit-image default).
  bm3d          bm3d.bm3d(noisy, sigma_psd = sigma01), all stages, default profile 'np' (the reference
                implementation's default); needs the optional `bm3d` package
                (pip install 'vision_jax[baselines]'). Not tuned.
"""

from __future__ import annotations

import importlib.util
from typing import Callable

import numpy as np

from vision_jax.validate import check_choice, check_finite, check_rank

__all__ = [
  "tv_chambolle",
  "nl_means",
  "wavelet",
  "bm3d",
  "CLASSICAL_BASELINES",
  "available_baselines",
  "run_baseline",
  "TV_WEIGHT_PER_SIGMA",
]

TV_WEIGHT_PER_SIGMA = 1.0


def _prepare(noisy, sigma) -> tuple[np.ndarray, float]:
  """Validates (H, W) finite image and sigma >= 0; returns (float image, sigma on [0, 1] scale)."""
  check_rank(noisy, 2, name="noisy image", layout="grayscale (H, W)")
  img = np.asarray(noisy)
  if not np.issubdtype(img.dtype, np.floating):
    img = img.astype(np.float64)
  check_finite(img, name="noisy image")
  try:
    s = float(sigma)
  except (TypeError, ValueError):
    raise ValueError(f"sigma={sigma!r} is invalid; expected a number >= 0 on the 0-255 scale") from None
  if not (np.isfinite(s) and s >= 0):
    raise ValueError(f"sigma={sigma!r} is invalid; expected a finite number >= 0 on the 0-255 scale")
  return img, s / 255.0


def _out(result, like: np.ndarray) -> np.ndarray:
  return np.asarray(result, dtype=like.dtype)


def tv_chambolle(noisy, sigma, weight: float | None = None, weight_per_sigma: float = TV_WEIGHT_PER_SIGMA,
                 **kwargs) -> np.ndarray:
  """Total-variation (ROF) denoising by Chambolle's projection algorithm.

  Args:
    noisy: (H, W) float image, nominally [0, 1].
    sigma: noise std on the 0-255 scale (>= 0).
    weight: TV weight; default weight_per_sigma * sigma / 255. Larger = smoother.
    weight_per_sigma: the weight per unit of sigma / 255 (used when weight is None).
    **kwargs: passed to skimage.restoration.denoise_tv_chambolle (eps, max_num_iter).
  Returns:
    (H, W) denoised image.
  """
  from skimage.restoration import denoise_tv_chambolle

  img, s01 = _prepare(noisy, sigma)
  if weight is None:
    if s01 == 0:
      return img.copy()
    weight = float(weight_per_sigma) * s01
  return _out(denoise_tv_chambolle(img, weight=weight, **kwargs), img)


def nl_means(noisy, sigma, h_factor: float = 0.8, patch_size: int = 5, patch_distance: int = 6,
             fast_mode: bool = True) -> np.ndarray:
  """Non-local means (Buades et al.) with the noise level passed to skimage.

  Args:
    noisy: (H, W) float image, nominally [0, 1].
    sigma: noise std on the 0-255 scale (>= 0).
    h_factor: filter strength h = h_factor * sigma / 255.
    patch_size, patch_distance, fast_mode: as in skimage.restoration.denoise_nl_means.
  Returns:
    (H, W) denoised image.
  """
  from skimage.restoration import denoise_nl_means

  img, s01 = _prepare(noisy, sigma)
  if s01 == 0:
    return img.copy()
  out = denoise_nl_means(img, h=h_factor * s01, sigma=s01, patch_size=patch_size,
                         patch_distance=patch_distance, fast_mode=fast_mode)
  return _out(out, img)


def wavelet(noisy, sigma, wavelet_name: str = "db1", method: str = "BayesShrink", mode: str = "soft") -> np.ndarray:
  """Wavelet shrinkage (BayesShrink by default) with the given noise level.

  Args:
    noisy: (H, W) float image, nominally [0, 1].
    sigma: noise std on the 0-255 scale (>= 0).
    wavelet_name: PyWavelets wavelet name.
    method, mode: as in skimage.restoration.denoise_wavelet.
  Returns:
    (H, W) denoised image.
  """
  from skimage.restoration import denoise_wavelet

  img, s01 = _prepare(noisy, sigma)
  if s01 == 0:
    return img.copy()
  out = denoise_wavelet(img, sigma=s01, wavelet=wavelet_name, method=method, mode=mode, rescale_sigma=True)
  return _out(out, img)


def bm3d(noisy, sigma, profile: str = "np") -> np.ndarray:
  """BM3D (Dabov et al.; the `bm3d` package by Makinen et al.) with sigma_psd = sigma / 255.

  Args:
    noisy: (H, W) float image, nominally [0, 1].
    sigma: noise std on the 0-255 scale (>= 0).
    profile: bm3d profile name ('np' default, 'refilter', 'vn', 'high', 'deb').
  Returns:
    (H, W) denoised image.
  Raises:
    ImportError if the optional `bm3d` package is not installed.
  """
  try:
    import bm3d as bm3d_lib
  except ImportError as err:
    raise ImportError("the bm3d baseline needs the `bm3d` package: pip install 'vision_jax[baselines]'") from err
  img, s01 = _prepare(noisy, sigma)
  if s01 == 0:
    return img.copy()
  out = bm3d_lib.bm3d(img.astype(np.float64), sigma_psd=s01, profile=profile)
  return _out(out, img)


CLASSICAL_BASELINES: dict[str, Callable[..., np.ndarray]] = {
  "tv_chambolle": tv_chambolle,
  "nl_means": nl_means,
  "wavelet": wavelet,
  "bm3d": bm3d,
}

_REQUIRES = {"wavelet": ("pywt",), "bm3d": ("bm3d",)}  # beyond scikit-image itself


def available_baselines() -> list[str]:
  """Names in CLASSICAL_BASELINES whose optional dependencies are importable, in registry order."""
  return [name for name in CLASSICAL_BASELINES
          if all(importlib.util.find_spec(mod) is not None for mod in _REQUIRES.get(name, ()))]


def run_baseline(name: str, noisy, sigma, **kwargs) -> np.ndarray:
  """Runs CLASSICAL_BASELINES[name](noisy, sigma, **kwargs); ValueError listing valid names if unknown."""
  check_choice(name, CLASSICAL_BASELINES, "baseline")
  return CLASSICAL_BASELINES[name](noisy, sigma, **kwargs)
