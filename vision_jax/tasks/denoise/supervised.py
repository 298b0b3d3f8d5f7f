"""Supervised (held-out) denoiser training: random patches of training images, fresh noise drawn on
the device every step, any loss; the guard that keeps test and validation images out of training.

A loss factory is `make_loss(model, config) -> loss_fn(params, batch_stats, batch, rng)` in the
generic loop's signature; batches are {'clean': (B, p, p, C)} and the loss draws the noise itself
(`mse_loss` below; projects pass their own, e.g. the PINN composite loss).
"""

from __future__ import annotations

import hashlib

import jax.numpy as jnp
import numpy as np

from vision_jax import noise as noise_lib
from vision_jax.data import images as images_lib
from vision_jax.tasks.denoise import evaluation, model as model_lib
from vision_jax.train import loop
from vision_jax.train.state import apply_model


def image_fingerprint(pixels: np.ndarray) -> str:
  """A content hash of an image, used to prove train, validation and test sets are disjoint."""
  return hashlib.sha1(np.ascontiguousarray(pixels, np.float32).tobytes()).hexdigest()


def load_train_images(config) -> list[images_lib.NamedImage]:
  """config.data.train_dir (a folder) or else config.data.train (a source), at data.train_max_size."""
  source = config.data.train_dir or config.data.train
  return images_lib.load_images(source, config.data.get("train_max_size") or None)


def assert_disjoint(train_images, test: evaluation.TestSet, val: evaluation.TestSet | None = None) -> None:
  """Held-out guard: no test image (by pixel content or name) may be in the training pool or be the
  validation image (which tunes the baselines and the PDE priors). ValueError naming the image."""
  pools = [("training data (change data.train / data.train_dir)",
            {image_fingerprint(im.pixels) for im in train_images}, {im.name for im in train_images})]
  if val is not None:
    pools.append(("validation image (change data.val)", {image_fingerprint(c) for c in val.cleans}, set(val.names)))
  for name, clean in zip(test.names, test.cleans):
    for where, prints, names in pools:
      if image_fingerprint(clean) in prints or name in names:
        raise ValueError(f"test image {name!r} is also the {where}; a held-out comparison needs disjoint sets")


def check_training_fields(config, train_images, multiple: int) -> None:
  """One-line errors for steps, batch size and patch size before anything is traced or written."""
  steps, bs, patch = int(config.train.steps), int(config.data.batch_size), int(config.data.patch_size)
  if steps < 1:
    raise ValueError(f"train.steps={config.train.steps!r} is invalid; expected >= 1")
  if bs < 1:
    raise ValueError(f"data.batch_size={config.data.batch_size!r} is invalid; expected >= 1")
  smallest = min(min(im.pixels.shape[:2]) for im in train_images)
  if not 1 <= patch <= smallest:
    raise ValueError(f"data.patch_size={config.data.patch_size!r} is invalid; expected 1..{smallest} "
                     "(the smallest training image)")
  if patch % multiple:
    raise ValueError(f"data.patch_size={patch} is not a multiple of {multiple}, which backbone "
                     f"{config.backbone!r} needs")


def mse_loss(model, config):
  """loss_fn: mean squared error of the model's output on noisy patches against the clean ones."""
  kind, kw = config.noise.kind, noise_lib.noise_kwargs(config.noise)

  def loss_fn(params, batch_stats, batch, rng):
    clean = batch["clean"]
    x_hat, _, new_bs = apply_model(model, params, batch_stats, noise_lib.add_noise(rng, clean, kind, **kw), True)
    data = jnp.mean((x_hat - clean) ** 2)
    return data, ({"data": data}, new_bs)

  return loss_fn


def training_loss(model, config):
  """The denoise task's loss: the level-weighted blind MSE (tasks/denoise/blind.py) when
  noise.train_sigmas is set or the model takes a noise map, else `mse_loss` (today's behaviour)."""
  from vision_jax.tasks.denoise import blind
  if blind.sigma_range(config.noise) is not None or model_lib.denoisers.takes_noise_map(model):
    return blind.blind_mse_loss(model, config)
  return mse_loss(model, config)


def example_input(model, patch_size: int, channels: int) -> np.ndarray:
  """(1, p, p, C) zeros to initialise `model` (C + 1 channels for a noise-map model)."""
  extra = 1 if model_lib.denoisers.takes_noise_map(model) else 0
  return np.zeros((1, patch_size, patch_size, channels + extra), np.float32)


def heldout_problem(config, model, multiple: int, train_pixels: list[np.ndarray], val: evaluation.TestSet,
                    loss_fn) -> loop.TrainProblem:
  """TrainProblem: patches of the training images (a pure function of seed and step), `loss_fn`,
  and a validation PSNR every train.eval_every steps."""
  dcfg = config.data

  def batch_fn(step):
    return {"clean": images_lib.sample_patches(train_pixels, dcfg.batch_size, dcfg.patch_size, config.seed, step)}

  def eval_fn(state, step):
    r = evaluation.evaluate_method(model_lib.denoise_method(model, state, multiple, model_lib.eval_sigma(config)), val)
    return {"val_psnr": float(np.mean(r["psnr"])), "val_ssim": float(np.mean(r["ssim"]))}

  example = example_input(model, dcfg.patch_size, train_pixels[0].shape[-1])
  return loop.TrainProblem(model, example, loss_fn, batch_fn, eval_fn)
