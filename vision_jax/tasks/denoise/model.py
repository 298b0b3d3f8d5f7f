"""The denoiser of a config (config.backbone with its config.model.<backbone> fields) and a
full-image denoise method (pad to the model's multiple, apply, crop)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.data import images as images_lib
from vision_jax.models import denoisers
from vision_jax.train.state import apply_model

IMAGE_BACKBONES = tuple(n for n in denoisers.DENOISERS if n != "coord_mlp")  # NHWC -> NHWC networks


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


def denoise_method(model, state: dict, multiple: int):
  """A method (H, W, C) -> (H, W, C) that runs the trained model on a whole image (jitted per shape)."""
  params, batch_stats = state["params"], state.get("batch_stats", {})

  @jax.jit
  def run(x):
    y, _, _ = apply_model(model, params, batch_stats, x[None], train=False)
    return y[0]

  def method(noisy):
    padded, (h, w) = images_lib.pad_to_multiple(np.asarray(noisy, np.float32), multiple)
    return np.asarray(run(jnp.asarray(padded)))[:h, :w]

  return method
