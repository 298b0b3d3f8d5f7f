"""Input denoisers applied to every cutout before fine-tuning (the slides' last table), tuned on validation.

Filters on (N, H, W, 3) images in [0, 1] (the network's input, like the slides' filtered JPEGs):
  bilateral  skimage.restoration.denoise_bilateral, sigma_spatial 1, sigma_color tuned
  median     scipy.ndimage.median_filter, size tuned (per channel)
  nl_means   skimage.restoration.denoise_nl_means (fast mode, patch 3, distance 5), h = factor * sigma_hat
  tv         skimage.restoration.denoise_tv_chambolle (per channel), weight tuned
  wavelet    skimage.restoration.denoise_wavelet (BayesShrink, soft), wavelet tuned
  perona_malik, tv_flow  the library's PDE priors (vision_jax.pde, explicit solver, jitted and vmapped over
             images and channels) with contrast K / stopping step tuned
  tnrd       the library's shipped denoiser, vision_jax.denoise (blind TNRD, vision_jax/weights/tnrd_blind.npz),
             one band at a time: sigma (0-255 scale) estimated per band (None) or one of a few fixed levels
Each filter's setting is chosen on `tune_images` validation cutouts by PSNR against their noiseless
renders (GalSim draws the same galaxies without noise), never on test images. The TNRD was trained on
AWGN natural images; the cutouts' noise is Poisson + Gaussian after an asinh stretch.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from vision_jax.pde import solvers

FILTERS = ("bilateral", "median", "nl_means", "tv", "wavelet", "perona_malik", "tv_flow", "tnrd")
GRIDS = {
    "bilateral": [{"sigma_color": s} for s in (0.05, 0.1, 0.2, 0.3)],
    "median": [{"size": s} for s in (3, 5, 7)],
    "nl_means": [{"h_factor": s} for s in (0.6, 0.8, 1.0, 1.3)],
    "tv": [{"weight": w} for w in (0.05, 0.1, 0.2, 0.3)],
    "wavelet": [{"wavelet": w} for w in ("db1", "db2", "sym4")],
    "perona_malik": [{"K": k, "steps": n} for k in (0.06, 0.12, 0.25) for n in (10, 20, 40)],
    "tv_flow": [{"steps": n} for n in (10, 20, 40, 80)],
    "tnrd": [{"sigma": s} for s in (None, 5.0, 10.0, 20.0)],
}


def _per_image(fn: Callable, images: np.ndarray) -> np.ndarray:
  return np.stack([np.clip(fn(im), 0, 1) for im in images]).astype(np.float32)


def _pde(prior: str, images: np.ndarray, steps: int, **params) -> np.ndarray:
  dt = float(0.9 * solvers.stability_limit(prior, 0.0, **params))
  out = solvers.solve(jnp.asarray(np.moveaxis(images, -1, 1)), prior, int(steps), dt, **params)  # (N, C, H, W)
  return np.clip(np.moveaxis(np.asarray(out), 1, -1), 0, 1).astype(np.float32)


def apply_filter(name: str, images: np.ndarray, setting: dict) -> np.ndarray:
  """The filter `name` with `setting` on images (N, H, W, 3) -> (N, H, W, 3) float32 in [0, 1]."""
  from scipy import ndimage
  from skimage import restoration
  images = np.asarray(images, np.float32)
  if name == "median":
    return np.clip(ndimage.median_filter(images, size=(1, setting["size"], setting["size"], 1)), 0, 1)
  if name == "bilateral":
    return _per_image(lambda im: restoration.denoise_bilateral(im, sigma_color=setting["sigma_color"],
                                                              sigma_spatial=1.0, channel_axis=-1), images)
  if name == "nl_means":
    def nlm(im):
      sigma = float(np.mean(restoration.estimate_sigma(im, channel_axis=-1)))
      return restoration.denoise_nl_means(im, h=setting["h_factor"] * sigma, sigma=sigma, patch_size=3,
                                          patch_distance=5, fast_mode=True, channel_axis=-1)
    return _per_image(nlm, images)
  if name == "tv":
    return _per_image(lambda im: restoration.denoise_tv_chambolle(im, weight=setting["weight"], channel_axis=-1), images)
  if name == "wavelet":
    return _per_image(lambda im: restoration.denoise_wavelet(im, wavelet=setting["wavelet"], method="BayesShrink",
                                                            mode="soft", rescale_sigma=True, channel_axis=-1), images)
  if name == "perona_malik":
    return _pde("perona_malik", images, setting["steps"], K=setting["K"])
  if name == "tv_flow":
    return _pde("tv", images, setting["steps"])
  if name == "tnrd":
    from vision_jax.denoise import denoise as shipped  # (H, W, C): each band denoised as its own image
    return _per_image(lambda im: shipped(im, sigma=setting["sigma"]), images)
  raise ValueError(f"unknown denoiser {name!r}; valid: {', '.join(FILTERS)}")


def _psnr(a, b) -> float:
  return float(np.mean(10 * np.log10(1.0 / np.maximum(np.mean((a - b) ** 2, axis=(1, 2, 3)), 1e-12))))


def tune(name: str, noisy: np.ndarray, clean: np.ndarray) -> dict:
  """{"setting", "val_psnr", "noisy_psnr"}: the grid setting with the best mean PSNR on validation pairs."""
  if name not in FILTERS:
    raise ValueError(f"unknown denoiser {name!r}; valid: {', '.join(FILTERS)}")
  scored = [(_psnr(apply_filter(name, noisy, s), clean), s) for s in GRIDS[name]]
  best = max(scored, key=lambda t: t[0])
  return {"setting": best[1], "val_psnr": best[0], "noisy_psnr": _psnr(noisy, clean),
          "grid": [[s, p] for p, s in scored]}
