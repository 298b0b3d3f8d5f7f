"""Classical baselines as denoising methods on (H, W, 1) images, with their settings tuned on a
validation image by grid search (the routine the PDE priors get), never on a test image.

A method receives the noisy image exactly as every other method of a comparison does (unclipped:
clipping biases AWGN and costs BM3D about 1 dB at sigma 50) and the AWGN-equivalent sigma of the
noise, estimated from the noisy image and the noise model alone (vision_jax.noise.sigma_equivalent_255).
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from vision_jax import noise as noise_lib
from vision_jax.baselines import classical
from vision_jax.metrics import image as image_metrics

# Validation grids (overridable from a config): fields of each classical.<name> function.
DEFAULT_GRIDS = {
    "tv_chambolle": {"weight_per_sigma": [0.5, 0.7, 0.9, 1.2, 1.6, 2.0, 2.5]},
    "nl_means": {"h_factor": [0.6, 0.8, 1.0, 1.2, 1.5]},
    "wavelet": {"wavelet_name": ["db1", "db2", "sym4"], "method": ["BayesShrink", "VisuShrink"]},
    "bm3d": {},  # the reference implementation's default profile
}


def check_names(names) -> list[str]:
  """The baseline names, each checked against classical.CLASSICAL_BASELINES (ValueError listing them)."""
  for name in names:
    if name not in classical.CLASSICAL_BASELINES:
      raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(classical.CLASSICAL_BASELINES)}")
  return list(names)


def installed(names) -> list[str]:
  """The names whose optional dependencies are importable; the others are skipped with a note."""
  available = classical.available_baselines()
  for name in check_names(names):
    if name not in available:
      print(f"note: baseline {name} skipped (not installed; pip install -e '.[baselines]')")
  return [n for n in names if n in available]


def baseline_method(name: str, noise_cfg, kwargs: dict | None = None) -> Callable[[np.ndarray], np.ndarray]:
  """classical.<name> as a method (H, W, 1) -> (H, W, 1), with the AWGN-equivalent sigma of the noise."""
  fn, kw = classical.CLASSICAL_BASELINES[name], dict(kwargs or {})
  return lambda y: fn(y[..., 0], noise_lib.sigma_equivalent_255(y, noise_cfg), **kw)[..., None]


def candidates(grid: dict) -> list[dict]:
  """Every combination of a {field: [values]} grid, e.g. {'h_factor': [0.6, 0.8]} -> 2 dicts."""
  keys = sorted(grid)
  return [dict(zip(keys, values)) for values in itertools.product(*(list(grid[k]) for k in keys))]


def _val_psnr(method, clean: np.ndarray, noisy: np.ndarray) -> float:
  out = np.clip(np.asarray(method(noisy), np.float32), 0.0, 1.0)
  return float(image_metrics.psnr(out, np.asarray(clean, np.float32)))


def tune_classical(names, clean: np.ndarray, noisy: np.ndarray, noise_cfg, grids=None) -> dict:
  """{name: {'kwargs', 'val_psnr'}}: the best grid setting of each baseline on ONE validation pair.

  clean, noisy: (H, W, 1) validation image (never a test image). grids: {name: {field: [values]}}
  overriding DEFAULT_GRIDS; an empty grid keeps the function's defaults.
  """
  grids = {**DEFAULT_GRIDS, **{k: dict(v) for k, v in dict(grids or {}).items()}}
  out = {}
  for name in installed(names):
    best = {"kwargs": {}, "val_psnr": -np.inf}
    for kw in candidates(grids.get(name, {})) or [{}]:
      try:
        p = _val_psnr(baseline_method(name, noise_cfg, kw), clean, noisy)
      except TypeError as e:
        raise ValueError(f"baseline grid for {name!r} has a field the function does not take ({e})") from None
      if p > best["val_psnr"]:
        best = {"kwargs": kw, "val_psnr": p}
    out[name] = best
  return out


def classical_methods(settings: dict, noise_cfg) -> dict[str, Callable]:
  """{name: method} from `tune_classical` settings ({name: {'kwargs', ...}})."""
  return {name: baseline_method(name, noise_cfg, s["kwargs"]) for name, s in settings.items()}
