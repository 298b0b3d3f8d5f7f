"""Noise-level estimation for AWGN images: the wavelet MAD estimator (Donoho and Johnstone, 1994).

    sigma_hat = median(|d|) / Phi^-1(3/4),   Phi^-1(3/4) = 0.6745

over the finest diagonal (HH) detail coefficients d of a one-level 2-D Daubechies-2 wavelet
transform (`skimage.restoration.estimate_sigma`, which computes exactly this; exact zeros of d are
left out). For Gaussian noise those coefficients are N(0, sigma^2), and the median ignores the few
large ones that edges produce. The estimate is biased upwards by fine texture (the clean image's
own HH energy): on the bundled scikit-image pictures it is within 10 % of the true sigma at 15, 25
and 50 except on 'grass' (+30 % at sigma 15), and it reads about 2 on noise-free 8-bit images
(quantisation and texture), so it overestimates small levels (sigma 5: +20 % typical).

Levels are on the 0-255 scale of vision_jax.noise (images in [0, 1]).
"""

from __future__ import annotations

import numpy as np

from vision_jax import validate


def estimate_sigma(image) -> float:
  """AWGN sigma (0-255 scale) of one grayscale image in [0, 1]: (H, W) or (H, W, 1), H, W >= 4."""
  from skimage.restoration import estimate_sigma as skimage_estimate
  img = np.asarray(image, np.float64)
  if img.ndim == 3 and img.shape[-1] == 1:
    img = img[..., 0]
  validate.check_rank(img, 2, "image", "(H, W) or (H, W, 1)")
  if min(img.shape) < 4:
    raise ValueError(f"image of shape {np.shape(image)} is too small to estimate its noise; expected H, W >= 4")
  validate.check_finite(img)
  return 255.0 * float(skimage_estimate(img, channel_axis=None))


def estimate_sigma_channels(image) -> list[float]:
  """One sigma estimate (0-255) per channel of an (H, W, C) image, or [sigma] for (H, W)."""
  img = np.asarray(image)
  if img.ndim == 2:
    return [estimate_sigma(img)]
  validate.check_rank(img, (2, 3), "image", "(H, W) or (H, W, C)")
  return [estimate_sigma(img[..., c]) for c in range(img.shape[-1])]
