"""Denoise an image in one call with the pretrained weights that ship inside the package.

    import vision_jax
    clean = vision_jax.denoise(noisy)                # (H, W) or (H, W, C) in [0, 1]; sigma estimated
    clean = vision_jax.denoise(noisy, sigma=25)      # AWGN level on the 0-255 scale

    python -m vision_jax.denoise in.png out.png --sigma 25
    python -m vision_jax.denoise noisy_dir/ out_dir/           # every image of a folder, progress bar

model="default" is the blind noise-level-map TNRD (models/denoisers/tnrd_blind.py: 5 stages x 48 7x7
filters, influence functions interpolated over 12 levels 0..55) in vision_jax/weights/tnrd_blind.npz,
trained on Train400 (never on a test image) by `make weights TRAIN=<Train400 folder>`; the file records
its training run and the figures it reached (vision_jax/weights/README.md). sigma=None estimates each
channel's level with the wavelet MAD estimator (vision_jax.noise_estimation: median |HH1| / 0.6745).
model="tnrd7-s25" / "tnrd7-s50" are one TNRD-7x7x48 each, trained at that AWGN level only (9000 joint
steps; `make weights-per-sigma` remakes them, or other levels as model=<path to the .npz>): sigma must be
that level or None. self_ensemble=True (the mean over the 8 flips and rotations,
8x the time) adds a few hundredths of a dB to any model.
Channels of an (H, W, C) image are denoised independently (grayscale model). Integer images (uint8,
uint16) are scaled to [0, 1] and the result is returned as float32 in [0, 1] (clipped).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import types

import numpy as np

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
MODELS = {"default": "tnrd_blind.npz", "tnrd_blind": "tnrd_blind.npz",
          "tnrd7-s25": "tnrd7_s25.npz", "tnrd7-s50": "tnrd7_s50.npz"}  # one-level models: their sigma only
MIN_SIZE = 8
VALUE_RANGE = (-1.0, 2.0)  # noisy images leave [0, 1] by a few sigma; beyond this they are not [0, 1] images


@dataclasses.dataclass(frozen=True)
class LoadedModel:
  """A denoiser with its parameters and the record of how they were made."""
  name: str
  module: object
  params: dict
  meta: dict

  @property
  def sigma_range(self) -> tuple[float, float]:
    lo, hi = self.meta.get("sigma_range", (0.0, 55.0))
    return float(lo), float(hi)

  @property
  def takes_noise_map(self) -> bool:
    """Whether the input carries the noise level as a second channel (the blind model) or is the image alone."""
    from vision_jax.models.denoisers import takes_noise_map
    return takes_noise_map(self.module)


def _weights_path(model: str) -> str:
  if model in MODELS:
    return os.path.join(WEIGHTS_DIR, MODELS[model])
  if str(model).endswith(".npz"):
    return str(model)
  raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)} or a path to an exported .npz")


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int | None) -> LoadedModel:  # mtime_ns: a rewritten file is read again
  import jax.numpy as jnp
  from vision_jax.models.denoisers import get_denoiser
  from vision_jax.train import weights_file
  if not os.path.exists(path):
    raise FileNotFoundError(f"weights file {path!r} does not exist; expected an export of "
                            "`python -m vision_jax.main ... --mode=export` (or `make weights`)")
  params, meta = weights_file.read_npz(path)
  fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["fields"].items()}
  module = get_denoiser(meta["backbone"], **fields)
  return LoadedModel(os.path.basename(path), module, {k: jnp.asarray(v) for k, v in params.items()}, meta)


def load_model(model="default") -> LoadedModel:
  """The LoadedModel for a name in MODELS or a path to an exported .npz (cached)."""
  if isinstance(model, LoadedModel):
    return model
  path = os.path.abspath(_weights_path(model))
  return _load(path, os.stat(path).st_mtime_ns if os.path.exists(path) else None)


@functools.lru_cache(maxsize=8)
def _apply_fn(module):
  import jax
  return jax.jit(lambda params, x: module.apply({"params": params}, x)[0])


def _as_float_image(image) -> tuple[np.ndarray, bool]:
  """(float32 (H, W, C) array, was_2d) after the one-line checks of the public API."""
  arr = np.asarray(image)
  if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
    raise ValueError(f"image has dtype {arr.dtype}; expected a numeric array in [0, 1]")
  if arr.ndim not in (2, 3):
    raise ValueError(f"image has rank {arr.ndim} (shape {arr.shape}); expected (H, W) or (H, W, C)")
  if min(arr.shape[:2]) < MIN_SIZE:
    raise ValueError(f"image of shape {arr.shape} is too small; expected H, W >= {MIN_SIZE}")
  if np.issubdtype(arr.dtype, np.integer):
    arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
  arr = arr.astype(np.float32)
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"image contains {int(arr.size - np.count_nonzero(np.isfinite(arr)))} NaN/Inf values; "
                     "expected finite numbers")
  lo, hi = float(arr.min()), float(arr.max())
  if lo < VALUE_RANGE[0] or hi > VALUE_RANGE[1]:
    raise ValueError(f"image values span [{lo:g}, {hi:g}]; expected an image in [0, 1] (divide 8-bit values by 255)")
  was_2d = arr.ndim == 2
  return (arr[..., None] if was_2d else arr), was_2d


def _check_sigma(sigma, loaded: LoadedModel):
  if sigma is None:
    return None
  try:
    s = float(sigma)
  except (TypeError, ValueError):
    raise ValueError(f"sigma={sigma!r} is invalid; expected a number on the 0-255 scale or None (estimate)") from None
  lo, hi = loaded.sigma_range
  if not np.isfinite(s) or s < 0:
    raise ValueError(f"sigma={sigma!r} is invalid; expected a finite number >= 0 (0-255 scale) or None")
  if not loaded.takes_noise_map and abs(s - lo) > 1e-6:
    raise ValueError(f"sigma={s:g} does not match model {loaded.name}, trained at sigma {lo:g} only; pass "
                     f"sigma={lo:g} or None, or model='default' for any level in [0, 55]")
  if s > hi:
    raise ValueError(f"sigma={s:g} is outside the levels model {loaded.name} was trained on ([{lo:g}, {hi:g}], "
                     "0-255 scale)")
  return s


def denoise(image, sigma=None, model="default", self_ensemble: bool = False) -> np.ndarray:
  """Denoised copy of an AWGN-noisy image (float32 in [0, 1], the input's shape).

  Args:
    image: (H, W) or (H, W, C) array in [0, 1] (integer dtypes are scaled by their maximum); H, W >= 8.
    sigma: AWGN standard deviation on the 0-255 scale, one for every channel; None estimates each
      channel's level (wavelet MAD, vision_jax.noise_estimation). Must lie in the model's range ([0, 55]).
    model: "default" (the shipped blind TNRD), a name in MODELS, a path to an exported .npz (a per-sigma
      model takes only its own level), or a LoadedModel.
    self_ensemble: average the model over the 8 flips and 90-degree rotations of the image (8x the time).
  Raises:
    ValueError (one line) for NaN/Inf, a wrong rank, values far outside [0, 1], sigma < 0 or above the
    model's range (or not the level of a one-level model), an unknown model.
  """
  from vision_jax import noise_estimation
  from vision_jax.data.augment import dihedral_self_ensemble
  from vision_jax.models.denoisers.tnrd_blind import with_noise_map
  loaded = load_model(model)
  x, was_2d = _as_float_image(image)
  s = _check_sigma(sigma, loaded)
  if loaded.takes_noise_map:  # one level per channel, estimated from the image as given
    est = noise_estimation.estimate_sigma_channels(x) if s is None else [s] * x.shape[-1]
    levels = np.clip(np.asarray(est, np.float32), *loaded.sigma_range)
  apply = _apply_fn(loaded.module)

  def run(img):  # (h, w, C) -> (h, w, C): the channels as one batch of grayscale images
    batch = np.moveaxis(img, -1, 0)[..., None]
    batch = with_noise_map(batch, levels) if loaded.takes_noise_map else batch
    return np.moveaxis(np.asarray(apply(loaded.params, batch))[..., 0], 0, -1)

  out = (dihedral_self_ensemble(run) if self_ensemble else run)(x)
  out = np.clip(out, 0.0, 1.0).astype(np.float32)
  return out[..., 0] if was_2d else out


# ----------------------------------------------------------------------------- command line
def _read(path: str) -> tuple[np.ndarray, np.dtype, np.ndarray | None]:
  """(image in [0, 1] (H, W) or (H, W, 3), original dtype, alpha channel or None)."""
  from skimage import io, util
  raw = io.imread(path)
  alpha = None
  if raw.ndim == 3 and raw.shape[-1] == 4:
    raw, alpha = raw[..., :3], raw[..., 3]
  if raw.ndim == 3 and raw.shape[-1] == 1:
    raw = raw[..., 0]
  return util.img_as_float32(raw), raw.dtype, alpha


def _write(path: str, image: np.ndarray, dtype, alpha) -> None:
  from skimage import io, util
  out = util.img_as_uint(image) if dtype == np.uint16 else util.img_as_ubyte(image)
  if alpha is not None:
    out = np.concatenate([out, alpha[..., None].astype(out.dtype)], axis=-1)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  io.imsave(path, out, check_contrast=False)


def _jobs(src: str, dst: str) -> list[tuple[str, str]]:
  from vision_jax.data.images import IMAGE_EXTENSIONS
  if os.path.isdir(src):
    names = sorted(f for f in os.listdir(src) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
      raise ValueError(f"folder {src!r} has no images; expected files ending in {', '.join(IMAGE_EXTENSIONS)}")
    if os.path.exists(dst) and not os.path.isdir(dst):
      raise ValueError(f"output {dst!r} is a file; expected a folder for the input folder {src!r}")
    return [(os.path.join(src, n), os.path.join(dst, os.path.splitext(n)[0] + ".png")) for n in names]
  if not os.path.exists(src):
    raise FileNotFoundError(f"input {src!r} does not exist; expected an image file or a folder of images")
  return [(src, dst)]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m vision_jax.denoise", description=__doc__.splitlines()[0])
  p.add_argument("input", help="noisy image file, or a folder of images")
  p.add_argument("output", help="output image file (PNG etc.), or a folder for an input folder")
  p.add_argument("--sigma", type=float, default=None,
                 help="AWGN level on the 0-255 scale (default: estimated per image and channel)")
  p.add_argument("--model", default="default", help=f"one of {', '.join(MODELS)} or a path to an exported .npz")
  p.add_argument("--self_ensemble", action="store_true", help="average over the 8 flips and rotations (8x the time)")
  a = p.parse_args(argv)
  from vision_jax.progress import progress_bar
  try:
    load_model(a.model)
    if a.sigma is not None:
      _check_sigma(a.sigma, load_model(a.model))
    jobs = _jobs(a.input, a.output)
    for src, dst in progress_bar(jobs, desc="denoise", unit="image", disable=len(jobs) == 1):
      image, dtype, alpha = _read(src)
      _write(dst, denoise(image, a.sigma, a.model, a.self_ensemble), dtype, alpha)
  except (ValueError, FileNotFoundError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  if len(jobs) == 1:
    print(f"wrote {jobs[0][1]}")
  else:
    print(f"wrote {len(jobs)} images to {a.output}")
  return 0


class _CallableModule(types.ModuleType):
  """`vision_jax.denoise` is both this module and the function: calling the module calls `denoise`."""

  def __call__(self, image, sigma=None, model="default", self_ensemble=False):
    return denoise(image, sigma, model, self_ensemble)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
  sys.exit(main())
