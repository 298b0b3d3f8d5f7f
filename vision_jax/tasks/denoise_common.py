"""Shared pieces of the denoising tasks: noise settings, fixed noisy test sets, timed evaluation of any
method on the same noisy inputs, and result tables.

A "method" is a function (noisy (H, W, 1) float32) -> denoised (H, W, 1); every method of a run sees
exactly the same noisy arrays (made once from fixed seeds).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import noise as noise_lib
from vision_jax.data import images as images_lib
from vision_jax.metrics import image as image_metrics

# Which config.noise fields each noise model takes.
NOISE_FIELDS = {"awgn": ("sigma",), "poisson_gaussian": ("lam", "sigma"), "speckle": ("looks",),
                "speckle_amplitude": ("looks",)}


def noise_kwargs(noise_cfg) -> dict:
  """The keyword parameters of config.noise for its kind, e.g. {'sigma': 25.0} for awgn."""
  kind = noise_cfg.kind
  if kind not in NOISE_FIELDS:
    raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_FIELDS)}")
  return {f: float(noise_cfg[f]) for f in NOISE_FIELDS[kind]}


def noise_label(noise_cfg) -> str:
  """Short human label, e.g. 'awgn sigma=25' or 'speckle L=4'."""
  kw = noise_kwargs(noise_cfg)
  parts = [f"{'L' if k == 'looks' else k}={v:g}" for k, v in kw.items()]
  return f"{noise_cfg.kind} " + " ".join(parts)


def expected_noise_mse(noisy: np.ndarray, noise_cfg) -> float:
  """E[(y - x)^2] per pixel, estimated from the noisy image alone (no clean image is used).

  awgn: (sigma/255)^2. poisson_gaussian: mean(y)/lam + (sigma/255)^2 (E[y] = x). speckle (Gamma,
  L looks): E[y^2] = x^2 (1 + 1/L) so E[(y-x)^2] = mean(y^2)/(L+1). speckle_amplitude (Nakagami):
  E[n^2] = 1, so E[y^2] = x^2 and E[(y-x)^2] = x^2 (2 - 2E[n]) = mean(y^2)(2 - 2E[n]).
  """
  kw = noise_kwargs(noise_cfg)
  y = np.asarray(noisy, np.float64)
  if noise_cfg.kind == "awgn":
    return (kw["sigma"] / 255.0) ** 2
  if noise_cfg.kind == "poisson_gaussian":
    return float(np.mean(np.clip(y, 0, None)) / kw["lam"] + (kw["sigma"] / 255.0) ** 2)
  if noise_cfg.kind == "speckle":
    return float(np.mean(y ** 2) / (kw["looks"] + 1.0))
  from scipy.special import gammaln
  L = kw["looks"]
  mean_n = np.exp(gammaln(L + 0.5) - gammaln(L)) / np.sqrt(L)
  return float(np.mean(y ** 2) * (2.0 - 2.0 * mean_n))


def sigma_equivalent_255(noisy: np.ndarray, noise_cfg) -> float:
  """The AWGN sigma (0-255 scale) with the same expected noise energy: what classical baselines get."""
  return float(np.sqrt(expected_noise_mse(noisy, noise_cfg)) * 255.0)


def make_noisy(cleans: list[np.ndarray], noise_cfg, seed: int) -> list[np.ndarray]:
  """Noisy copies of the clean images (each (H, W, 1)); image i uses key fold_in(PRNGKey(seed), i)."""
  kw = noise_kwargs(noise_cfg)
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


DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))  # the 8 symmetries of the square


def dihedral_self_ensemble(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
  """Geometric self-ensemble (Timofte et al., CVPR 2016): the mean of T^-1 fn(T y) over the 8 flips
  and 90-degree rotations T of the noisy image y (H, W, C). Uses only y, so it is a held-out method;
  it costs 8 calls of fn and equals fn for methods that commute with every T.
  """

  def ensemble(noisy):
    y = np.asarray(noisy, np.float32)
    total = np.zeros_like(y)
    for k, flip in DIHEDRAL:
      t = np.rot90(y[:, ::-1] if flip else y, k)
      out = np.rot90(np.asarray(fn(np.ascontiguousarray(t)), np.float32).reshape(t.shape), -k)
      total += out[:, ::-1] if flip else out
    return total / len(DIHEDRAL)

  return ensemble


def classical_methods(names, noise_cfg) -> dict[str, Callable]:
  """Classical baselines (tv_chambolle, nl_means, wavelet, bm3d) as methods on (H, W, 1) images.

  Each gets the AWGN-equivalent sigma of the noise (estimated from the noisy image alone). Names whose
  dependencies are missing (bm3d without the `baselines` extra) are skipped with a note.
  """
  from vision_jax.baselines import classical
  available = classical.available_baselines()
  methods = {}
  for name in names:
    if name not in classical.CLASSICAL_BASELINES:
      raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(classical.CLASSICAL_BASELINES)}")
    if name not in available:
      print(f"note: baseline {name} skipped (not installed; pip install -e '.[baselines]')")
      continue
    fn = classical.CLASSICAL_BASELINES[name]
    methods[name] = (lambda f: lambda y: f(np.clip(y[..., 0], 0, 1), sigma_equivalent_255(y, noise_cfg))[..., None])(fn)
  return methods


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


def prepare_workdir(workdir: str) -> None:
  """Creates the workdir (call only after the config and data have been validated)."""
  os.makedirs(workdir, exist_ok=True)
