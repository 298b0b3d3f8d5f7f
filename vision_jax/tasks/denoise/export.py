"""--mode=export: a trained denoise workdir's parameters as one small .npz that `vision_jax.denoise` loads.

The file holds each parameter as `param/<name>` (float32) and `meta`, a JSON string (a 0-d unicode
array, so np.load(..., allow_pickle=False) reads it): the backbone and its fields, how it was trained
(config fingerprint, training images, steps, wall and CPU seconds, the noise levels), and a check:
the PSNR `vision_jax.denoise` reaches with these weights on a fixed crop of a bundled image with
fixed NumPy noise, which tests/test_denoise_api.py reproduces to 0.01 dB.

    python -m vision_jax.main --config=configs/denoise/tnrd_blind.py --workdir=W \
        --config.data.train_dir=DIR --mode=export          # writes W/<backbone>.npz
"""

from __future__ import annotations

import json
import os

import numpy as np

from vision_jax import report as report_lib
from vision_jax.tasks.denoise import blind, model as model_lib
from vision_jax.train import loop, workdir as workdir_lib
from vision_jax.train.weights_file import FORMAT, read_npz, write_npz  # noqa: F401 (re-exported)

# The regression check recorded in every export: crop (top, left, size) of a bundled picture, AWGN with
# np.random.default_rng(seed), sigma on the 0-255 scale (a one-level model's own level instead); denoised by
# the API with sigma given and estimated.
CHECK = {"image": "astronaut", "top": 40, "left": 180, "size": 96, "sigma": 25.0, "seed": 0}


def check_pair(check: dict = CHECK) -> tuple[np.ndarray, np.ndarray]:
  """(clean, noisy) (size, size) float32 of an export's regression check."""
  from vision_jax.data import images as images_lib
  clean = images_lib.load_bundled(check["image"]).pixels[..., 0]
  t, l, s = int(check["top"]), int(check["left"]), int(check["size"])
  clean = np.ascontiguousarray(clean[t:t + s, l:l + s], np.float32)
  rng = np.random.default_rng(int(check["seed"]))
  noisy = (clean + float(check["sigma"]) / 255.0 * rng.standard_normal(clean.shape)).astype(np.float32)
  return clean, noisy


def check_psnrs(denoise_fn, check: dict = CHECK) -> dict:
  """{"psnr_given_sigma", "psnr_estimated_sigma", "psnr_noisy"} of denoise_fn(noisy, sigma) on the check crop."""
  from vision_jax.tasks.denoise import evaluation
  clean, noisy = check_pair(check)
  out = {"psnr_noisy": evaluation.score(noisy[..., None], clean[..., None])[0]}
  for key, s in (("psnr_given_sigma", float(check["sigma"])), ("psnr_estimated_sigma", None)):
    out[key] = evaluation.score(np.asarray(denoise_fn(noisy, s))[..., None], clean[..., None])[0]
  return out


def _training_record(config, workdir: str) -> dict:
  record = workdir_lib.read_record(workdir) or {}
  results = os.path.join(workdir, "results.json")
  info = {}
  if os.path.exists(results):
    with open(results) as f:
      info = json.load(f).get("info", {})
  return {"config_fingerprint": record.get("fingerprint"), "train_dir": config.data.train_dir or config.data.train,
          "train_sigmas": str(config.noise.get("train_sigmas", "") or config.noise.sigma),
          **{k: info[k] for k in ("train_seconds", "train_cpu_seconds", "train_steps", "phases", "train_images",
                                  "parameters") if k in info}}


def export(config, workdir: str) -> str:
  """Writes workdir/<backbone>.npz from the workdir's final checkpoint, with the check PSNRs measured
  through `vision_jax.denoise` on the written file."""
  from vision_jax import denoise as api
  from vision_jax.tasks.denoise import supervised
  model, _ = model_lib.build_model(config, model_lib.TASK_BACKBONES)
  example = supervised.example_input(model, config.data.patch_size, 1)
  state, step = loop.restore_state(loop.TrainProblem(model, example, None, None), config, workdir)
  fields = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(config.model[config.backbone]).items()}
  lo_hi = blind.sigma_range(config.noise)
  meta = {"format": FORMAT, "backbone": config.backbone, "fields": fields, "checkpoint_step": int(step),
          "sigma_range": list(lo_hi) if lo_hi else [float(config.noise.sigma)] * 2,
          "training": _training_record(config, workdir)}
  path = write_npz(os.path.join(workdir, f"{config.backbone}.npz"), state["params"], meta)
  loaded = api.load_model(path)
  check = CHECK if lo_hi else {**CHECK, "sigma": float(config.noise.sigma)}  # a one-level model: its level
  meta["check"] = {**check, **check_psnrs(lambda y, s: api.denoise(y, s, model=loaded), check)}
  write_npz(path, state["params"], meta)
  report_lib.write_json(os.path.join(workdir, "export.json"), meta)
  print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB); check on {check['image']} crop at sigma "
        f"{check['sigma']:g}: {meta['check']['psnr_given_sigma']:.2f} dB (sigma given), "
        f"{meta['check']['psnr_estimated_sigma']:.2f} dB (estimated), noisy {meta['check']['psnr_noisy']:.2f} dB")
  return path
