"""Image-quality metrics (PSNR, MSE, SSIM, ENL, CNR) and region pickers for ENL/CNR.

The metrics are JAX functions, jit-compiled and batched: images are `(..., H, W, C)` and every
metric returns one value per image, shape `(...)`. `data_range` (default 1.0, for [0, 1] images)
is the peak-to-peak range of the signal.

The region pickers (`homogeneous_region_mask`, `object_background_masks`) are plain numpy and run
on the CLEAN image, so that ENL/CNR are measured on the same pixels for every method.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
  "mse",
  "psnr",
  "ssim",
  "enl",
  "cnr",
  "homogeneous_region_mask",
  "object_background_masks",
  "SSIM_SIGMA",
  "SSIM_WIN_SIZE",
]

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # skimage sets truncate = 3.5 for gaussian_weights=True (11-tap window at sigma 1.5)
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # = 5, as scipy.ndimage computes it
SSIM_WIN_SIZE = 2 * SSIM_RADIUS + 1  # = 11
SSIM_K1, SSIM_K2 = 0.01, 0.03


# ----------------------------------------------------------------------------- validation


def _check_pair(x, ref, min_side: int = 1) -> None:
  """ValueError unless x and ref share a shape of rank >= 3 (..., H, W, C) with H, W >= min_side."""
  xs, rs = tuple(np.shape(x)), tuple(np.shape(ref))
  if xs != rs:
    raise ValueError(f"image shape {xs} differs from reference shape {rs}; expected equal shapes (..., H, W, C)")
  if len(xs) < 3:
    raise ValueError(f"image has rank {len(xs)} (shape {xs}); expected rank >= 3 (..., H, W, C)")
  if min(xs[-3], xs[-2]) < min_side:
    raise ValueError(f"image of shape {xs} has H, W = {xs[-3]}, {xs[-2]}; expected both >= {min_side}")


def _check_image_mask(x, mask, name: str) -> None:
  """ValueError unless x is (..., H, W, C) and mask has trailing shape (H, W) and selects >= 2 pixels."""
  xs, ms = tuple(np.shape(x)), tuple(np.shape(mask))
  if len(xs) < 3:
    raise ValueError(f"image has rank {len(xs)} (shape {xs}); expected rank >= 3 (..., H, W, C)")
  if len(ms) < 2 or ms[-2:] != xs[-3:-1]:
    raise ValueError(f"{name} has shape {ms}; expected (H, W) = {xs[-3:-1]} (optionally with leading batch axes)")
  try:
    count = int(np.count_nonzero(np.asarray(mask), axis=(-2, -1)).min())
  except Exception:  # traced mask: cannot be checked
    return
  if count < 2:
    raise ValueError(f"{name} selects {count} pixel(s); expected at least 2 to estimate a variance")


def _float(x) -> jax.Array:
  x = jnp.asarray(x)
  return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


# ----------------------------------------------------------------------------- MSE / PSNR


@jax.jit
def _mse(x, ref):
  return jnp.mean(jnp.square(x - ref), axis=(-3, -2, -1))


def mse(x, ref) -> jax.Array:
  """Mean squared error per image over H, W, C.

  Args:
    x, ref: images (..., H, W, C) of the same shape.
  Returns:
    (...) mean of (x - ref)^2, in squared intensity units.
  """
  _check_pair(x, ref)
  x, ref = _float(x), _float(ref)
  dtype = jnp.promote_types(x.dtype, ref.dtype)
  return _mse(x.astype(dtype), ref.astype(dtype))


def psnr(x, ref, data_range=1.0) -> jax.Array:
  """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE), per image.

  Matches skimage.metrics.peak_signal_noise_ratio(ref, x, data_range=data_range).
  Identical images (MSE = 0) give +inf, as in skimage (which also warns about the division).

  Args:
    x: test image (..., H, W, C).
    ref: reference image, same shape.
    data_range: peak-to-peak range of the signal (1.0 for [0, 1] images).
  Returns:
    (...) PSNR in dB.
  """
  err = mse(x, ref)
  return 10.0 * jnp.log10(jnp.asarray(data_range, err.dtype) ** 2 / err)


# ----------------------------------------------------------------------------- SSIM


def _gaussian_taps(dtype) -> jax.Array:
  """The 11 normalised taps scipy.ndimage.gaussian_filter uses for sigma=1.5, truncate=3.5."""
  t = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
  w = np.exp(-0.5 * (t / SSIM_SIGMA) ** 2)
  return jnp.asarray(w / w.sum(), dtype)


def _gaussian_blur(img: jax.Array) -> jax.Array:
  """Separable Gaussian filter of (B, H, W) images with scipy's 'reflect' (= numpy 'symmetric') border."""
  taps = _gaussian_taps(img.dtype)
  r = SSIM_RADIUS
  h, w = img.shape[-2:]
  p = jnp.pad(img, ((0, 0), (r, r), (0, 0)), mode="symmetric")
  img = sum(taps[k] * p[:, k:k + h, :] for k in range(2 * r + 1))
  p = jnp.pad(img, ((0, 0), (0, 0), (r, r)), mode="symmetric")
  return sum(taps[k] * p[:, :, k:k + w] for k in range(2 * r + 1))


@jax.jit
def _ssim(x, ref, data_range):
  batch_shape, (h, w, c) = x.shape[:-3], x.shape[-3:]
  # (..., H, W, C) -> (B*C, H, W): every channel is scored on its own, as skimage does
  to_planes = lambda a: jnp.moveaxis(a.reshape((-1, h, w, c)), -1, 1).reshape((-1, h, w))
  a, b = to_planes(x), to_planes(ref)
  ux, uy = _gaussian_blur(a), _gaussian_blur(b)
  uxx, uyy, uxy = _gaussian_blur(a * a), _gaussian_blur(b * b), _gaussian_blur(a * b)
  vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy  # population covariances
  c1 = (SSIM_K1 * data_range) ** 2
  c2 = (SSIM_K2 * data_range) ** 2
  s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
  r = (SSIM_WIN_SIZE - 1) // 2
  per_plane = jnp.mean(s[:, r:h - r, r:w - r], axis=(-2, -1))
  return jnp.mean(per_plane.reshape((-1, c)), axis=-1).reshape(batch_shape)


def ssim(x, ref, data_range=1.0) -> jax.Array:
  """Structural similarity (Wang et al. 2004) with an 11-tap Gaussian window (sigma 1.5), per image.

  Reproduces skimage.metrics.structural_similarity(x, ref, data_range=data_range,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1):
  local statistics by a separable Gaussian filter (truncate 3.5 -> radius 5) with 'reflect'
  (half-sample symmetric) borders, K1 = 0.01, K2 = 0.03, C1 = (K1 R)^2, C2 = (K2 R)^2, population
  covariances; the SSIM map is averaged after cropping (win_size - 1) // 2 = 5 pixels from each
  border, then averaged over channels. Identical images give exactly 1.

  Args:
    x: test image (..., H, W, C), H and W >= 11.
    ref: reference image, same shape.
    data_range: peak-to-peak range of the signal (1.0 for [0, 1] images).
  Returns:
    (...) mean SSIM (dimensionless, <= 1).
  """
  _check_pair(x, ref, min_side=SSIM_WIN_SIZE)
  x, ref = _float(x), _float(ref)
  dtype = jnp.promote_types(x.dtype, ref.dtype)
  return _ssim(x.astype(dtype), ref.astype(dtype), jnp.asarray(data_range, dtype))


# ----------------------------------------------------------------------------- ENL / CNR


def _region_stats(x, mask):
  """Mean and population variance over the masked pixels, per image and channel.

  x: (..., H, W, C); mask: (..., H, W) boolean, broadcastable. Returns two arrays (..., C).
  """
  m = jnp.asarray(mask, x.dtype)[..., None]
  n = jnp.sum(m, axis=(-3, -2))
  mean = jnp.sum(x * m, axis=(-3, -2)) / n
  var = jnp.sum(jnp.square(x - mean[..., None, None, :]) * m, axis=(-3, -2)) / n
  return mean, var


@jax.jit
def _enl(x, mask):
  mean, var = _region_stats(x, mask)
  return jnp.mean(mean**2 / var, axis=-1)


@jax.jit
def _cnr(x, roi_mask, bg_mask):
  mu_r, var_r = _region_stats(x, roi_mask)
  mu_b, var_b = _region_stats(x, bg_mask)
  return jnp.mean(jnp.abs(mu_r - mu_b) / jnp.sqrt(var_r + var_b), axis=-1)


def enl(x, mask) -> jax.Array:
  """Equivalent number of looks, ENL = mu^2 / var over a homogeneous region, per image.

  mu and var are the mean and population variance (ddof = 0) of the pixels where mask is True,
  computed per channel; the per-channel ENLs are averaged. For Gamma speckle with L looks on a flat
  region, ENL ~= L; higher ENL = stronger speckle suppression. A region with zero variance gives inf.

  Args:
    x: images (..., H, W, C).
    mask: boolean (H, W) region (or (..., H, W), broadcast against the batch), >= 2 pixels.
  Returns:
    (...) ENL (dimensionless).
  """
  _check_image_mask(x, mask, "mask")
  return _enl(_float(x), jnp.asarray(mask, bool))


def cnr(x, roi_mask, bg_mask) -> jax.Array:
  """Contrast-to-noise ratio, CNR = |mu_roi - mu_bg| / sqrt(var_roi + var_bg), per image.

  Means and population variances (ddof = 0) over the pixels of each boolean mask, per channel; the
  per-channel CNRs are averaged. (The PINN paper gives no formula; this is the one vision_jax uses.)

  Args:
    x: images (..., H, W, C).
    roi_mask: boolean (H, W) object region (or (..., H, W)), >= 2 pixels.
    bg_mask: boolean (H, W) background region (or (..., H, W)), >= 2 pixels.
  Returns:
    (...) CNR (dimensionless).
  """
  _check_image_mask(x, roi_mask, "roi_mask")
  _check_image_mask(x, bg_mask, "bg_mask")
  return _cnr(_float(x), jnp.asarray(roi_mask, bool), jnp.asarray(bg_mask, bool))


# ----------------------------------------------------------------------------- region pickers (numpy)


def _gray_2d(clean, name: str = "clean") -> np.ndarray:
  """(H, W) or (H, W, C) clean image -> (H, W) float64 (channel mean)."""
  img = np.asarray(clean, dtype=np.float64)
  if img.ndim == 3:
    img = img.mean(axis=-1)
  if img.ndim != 2:
    raise ValueError(f"{name} has shape {np.shape(clean)}; expected (H, W) or (H, W, C)")
  if not np.all(np.isfinite(img)):
    raise ValueError(f"{name} contains NaN/Inf values; expected finite numbers")
  return img


def homogeneous_region_mask(clean, size: int = 16, k: int = 1, min_mean: float = 0.05) -> np.ndarray:
  """Boolean (H, W) mask of the k flattest non-overlapping size x size blocks of the clean image.

  The image (channel mean for (H, W, C)) is tiled into blocks from the top-left corner (a remainder
  strip at the bottom/right is ignored); the k blocks with the lowest pixel variance are returned.
  Blocks whose mean is below `min_mean` are skipped: for multiplicative (speckle) noise a black
  region stays black and its ENL is undefined. Ties go to the earlier block in raster order.

  Args:
    clean: clean image (H, W) or (H, W, C), values in [0, 1].
    size: block side in pixels.
    k: number of blocks.
    min_mean: smallest admissible block mean.
  Returns:
    (H, W) boolean mask with k * size^2 True pixels.
  """
  img = _gray_2d(clean)
  if size < 2:
    raise ValueError(f"size={size!r} is invalid; expected an integer >= 2")
  if k < 1:
    raise ValueError(f"k={k!r} is invalid; expected an integer >= 1")
  h, w = img.shape
  nby, nbx = h // size, w // size
  blocks = img[: nby * size, : nbx * size].reshape(nby, size, nbx, size).transpose(0, 2, 1, 3)
  blocks = blocks.reshape(nby * nbx, size * size)
  var, mean = blocks.var(axis=1), blocks.mean(axis=1)
  eligible = np.flatnonzero(mean >= min_mean)
  if eligible.size < k:
    raise ValueError(
      f"only {eligible.size} of {nby * nbx} blocks of size {size} in an image of shape {img.shape} have "
      f"mean >= {min_mean}; expected at least k={k}")
  chosen = eligible[np.argsort(var[eligible], kind="stable")[:k]]
  mask = np.zeros((h, w), dtype=bool)
  for idx in chosen:
    by, bx = divmod(int(idx), nbx)
    mask[by * size:(by + 1) * size, bx * size:(bx + 1) * size] = True
  return mask


def object_background_masks(clean, erode: int = 2) -> tuple[np.ndarray, np.ndarray]:
  """(roi, background) boolean (H, W) masks from an Otsu split of the clean image.

  roi = pixels brighter than skimage.filters.threshold_otsu(clean), background = the rest; each
  mask is then eroded by a disk of radius `erode` (pixels outside the image count as False, so the
  image border is trimmed too), which keeps the edges, where the two classes mix, out of both regions.

  Args:
    clean: clean image (H, W) or (H, W, C) (channel mean), values in [0, 1].
    erode: erosion radius in pixels (0 = no erosion).
  Returns:
    (roi_mask, bg_mask), each (H, W) boolean, disjoint.
  """
  from scipy import ndimage
  from skimage.filters import threshold_otsu
  from skimage.morphology import disk

  img = _gray_2d(clean)
  if erode < 0:
    raise ValueError(f"erode={erode!r} is invalid; expected an integer >= 0")
  if np.ptp(img) == 0:
    raise ValueError("clean image is constant; expected an object and a background to split")
  roi = img > threshold_otsu(img)
  bg = ~roi
  if erode > 0:
    footprint = disk(erode).astype(bool)
    roi = ndimage.binary_erosion(roi, structure=footprint, border_value=0)
    bg = ndimage.binary_erosion(bg, structure=footprint, border_value=0)
  for name, m in (("object", roi), ("background", bg)):
    if m.sum() < 2:
      raise ValueError(f"the {name} region has {int(m.sum())} pixel(s) after erosion by {erode}; "
                       "expected at least 2 (use a smaller erode)")
  return roi, bg
