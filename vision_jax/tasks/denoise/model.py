"""The denoiser of a config (config.backbone with its config.model.<backbone> fields) and a
full-image denoise method (pad to the model's multiple, apply, crop; noise-map models also get the
sigma / 255 map, from a given level or the wavelet MAD estimate)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.data import images as images_lib
from vision_jax.models import denoisers
from vision_jax.train.state import apply_model

IMAGE_BACKBONES = tuple(n for n in denoisers.DENOISERS  # NHWC -> NHWC networks
                        if n != "coord_mlp" and not getattr(denoisers.DENOISERS[n], "takes_noise_map", False))
NOISE_MAP_BACKBONES = tuple(n for n in denoisers.DENOISERS if getattr(denoisers.DENOISERS[n], "takes_noise_map", False))
TASK_BACKBONES = IMAGE_BACKBONES + NOISE_MAP_BACKBONES  # what the denoise task trains


def build_model(config, backbones=IMAGE_BACKBONES):
  """(model, multiple): the backbone with its config.model fields, and the H/W multiple it needs.

  Raises ValueError for a backbone outside `backbones` or a field the backbone does not take.
  """
  name = config.backbone
  if name not in backbones:
    raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(backbones)}")
  kwargs = dict(config.model.get(name, {}) or {})
  try:
    model = denoisers.get_denoiser(name, **kwargs)
  except TypeError as e:
    raise ValueError(f"config.model.{name} has a field the backbone does not take ({e})") from None
  return model, denoisers.input_multiple(model)


def denoise_method(model, state: dict, multiple: int, sigma: float | None = None):
  """A method (H, W, C) -> (H, W, C) that runs the trained model on a whole image (jitted per shape).

  sigma (0-255): the level given to a noise-map model (`denoisers.takes_noise_map`); None estimates
  it from each noisy image (wavelet MAD, vision_jax.noise_estimation). Other models ignore it.
  """
  from vision_jax.tasks.denoise import blind
  params, batch_stats = state["params"], state.get("batch_stats", {})
  use_map = denoisers.takes_noise_map(model)

  @jax.jit
  def run(x):
    y, _, _ = apply_model(model, params, batch_stats, x[None], train=False)
    return y[0]

  def method(noisy):
    noisy = np.asarray(noisy, np.float32)
    x = blind.with_noise_map(noisy, blind.method_sigma(sigma, noisy)) if use_map else noisy
    padded, (h, w) = images_lib.pad_to_multiple(x, multiple)
    return np.asarray(run(jnp.asarray(padded)))[:h, :w]

  return method


def eval_sigma(config) -> float | None:
  """The level a noise-map model gets in a run's evaluation: the AWGN config.noise.sigma."""
  return float(config.noise.sigma) if config.noise.kind == "awgn" else None
