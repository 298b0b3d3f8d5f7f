"""Evaluation of denoising methods: fixed noisy test sets, timed runs of any method on the same noisy
inputs, scores, self-ensemble, result tables and comparison panels.

A "method" is a function (noisy (H, W, 1) float32) -> denoised (H, W, 1); every method of a run sees
exactly the same noisy arrays (made once from fixed seeds, never clipped). Outputs are clipped to
[0, 1] before scoring, for every method alike (the noisy-input row included).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import noise as noise_lib
from vision_jax.data import images as images_lib
from vision_jax.data.augment import dihedral_self_ensemble  # noqa: F401 (modes, bench_denoise use it here)
from vision_jax.metrics import image as image_metrics

def make_noisy(cleans: list[np.ndarray], noise_cfg, seed: int) -> list[np.ndarray]:
  """Noisy copies of the clean images (each (H, W, 1)); image i uses key fold_in(PRNGKey(seed), i)."""
  kw = noise_lib.noise_kwargs(noise_cfg)
  base = jax.random.PRNGKey(seed)
  return [np.asarray(noise_lib.add_noise(jax.random.fold_in(base, i), jnp.asarray(c), noise_cfg.kind, **kw))
          for i, c in enumerate(cleans)]


@dataclasses.dataclass
class TestSet:
  """Clean test images with their fixed noisy versions."""
  names: list[str]
  cleans: list[np.ndarray]
  noisys: list[np.ndarray]


def make_test_set(source, noise_cfg, seed: int, max_size=None, multiple: int = 1) -> TestSet:
  """Loads images from `source`, centre-crops them to a multiple of `multiple`, adds fixed noise."""
  loaded = images_lib.load_images(source, max_size)
  cleans = [images_lib.crop_to_multiple(im.pixels, multiple) for im in loaded]
  return TestSet([im.name for im in loaded], cleans, make_noisy(cleans, noise_cfg, seed))


def score(denoised: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
  """(PSNR dB, SSIM) of one (H, W, 1) image, computed on the image clipped to [0, 1]."""
  d = jnp.clip(jnp.asarray(denoised, jnp.float32), 0.0, 1.0)
  c = jnp.asarray(clean, jnp.float32)
  return float(image_metrics.psnr(d, c)), float(image_metrics.ssim(d, c))


def evaluate_method(fn: Callable[[np.ndarray], np.ndarray], test: TestSet) -> dict:
  """Runs fn on every noisy image; returns {'psnr': [...], 'ssim': [...], 'seconds': [...], 'outputs'}.

  seconds is the wall-clock per image (the first call includes compilation for jitted methods; the
  report states it).
  """
  out = {"psnr": [], "ssim": [], "seconds": [], "outputs": []}
  for clean, noisy in zip(test.cleans, test.noisys):
    t0 = time.perf_counter()
    den = np.asarray(jax.block_until_ready(fn(noisy)), np.float32).reshape(clean.shape)
    out["seconds"].append(time.perf_counter() - t0)
    p, s = score(den, clean)
    out["psnr"].append(p)
    out["ssim"].append(s)
    out["outputs"].append(den)
  return out


def results_rows(results: dict, names: list[str]) -> tuple[list[str], list[list]]:
  """Table with one row per method: per-image PSNR, mean PSNR, mean SSIM, mean seconds/image."""
  header = ["method"] + [f"{n} PSNR" for n in names] + ["mean PSNR", "mean SSIM", "s/image"]
  rows = []
  for method, r in results.items():
    rows.append([method] + list(r["psnr"]) + [float(np.mean(r["psnr"])), float(np.mean(r["ssim"])),
                                              float(np.mean(r["seconds"]))])
  return header, rows


def summary(results: dict) -> dict:
  """JSON-friendly per-method numbers (no image arrays)."""
  return {m: {"psnr": r["psnr"], "ssim": r["ssim"], "seconds": r["seconds"],
              "mean_psnr": float(np.mean(r["psnr"])), "mean_ssim": float(np.mean(r["ssim"]))}
          for m, r in results.items()}


def comparison_panels(test: TestSet, results: dict, index: int = 0, crop: int = 128) -> list:
  """Figure panels for one test image: clean, noisy, then each method (centre crop of size crop)."""
  clean = test.cleans[index]
  h, w = clean.shape[:2]
  c = min(crop, h, w)
  top, left = (h - c) // 2, (w - c) // 2
  cut = lambda a: np.clip(a[top:top + c, left:left + c], 0, 1)
  p_noisy, _ = score(test.noisys[index], clean)
  panels = [("clean", cut(clean)), (f"noisy {p_noisy:.2f} dB", cut(test.noisys[index]))]
  for m, r in results.items():
    if m != "noisy input" and "outputs" in r:
      panels.append((f"{m} {r['psnr'][index]:.2f} dB", cut(r["outputs"][index])))
  return panels
