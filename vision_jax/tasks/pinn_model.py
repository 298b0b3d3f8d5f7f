"""Building blocks of the PINN denoising task: backbone from config, apply with BatchNorm state,
the composite loss as a trainer loss_fn, and a full-image denoise method (pad, apply, crop)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import noise as noise_lib
from vision_jax.losses import pinn as pinn_loss
from vision_jax.models import denoisers
from vision_jax.models.denoisers import u2net as u2net_lib
from vision_jax.pde import priors as priors_lib
from vision_jax.tasks import denoise_common as common

BACKBONES = ("unet", "resunet", "u2net", "resu2net", "dncnn", "tnrd", "coord_mlp")
PROTOCOLS = ("heldout", "oracle", "zeroshot")


def validate(config) -> None:
  """Checks names in the config before anything is built or written (clear one-line errors)."""
  if config.backbone not in BACKBONES:
    raise ValueError(f"unknown backbone {config.backbone!r}; valid: {', '.join(BACKBONES)}")
  if config.prior != "none":
    priors_lib.get_prior(config.prior)
  if config.protocol not in PROTOCOLS:
    raise ValueError(f"unknown protocol {config.protocol!r}; valid: {', '.join(PROTOCOLS)}")
  if config.backbone == "coord_mlp" and config.protocol != "zeroshot":
    raise ValueError(f"backbone 'coord_mlp' (the coordinate PINN u(x, y, t)) fits one noisy image; it runs only "
                     f"with protocol=zeroshot, not {config.protocol!r}")
  if config.loss.pde_form not in pinn_loss.PDE_FORMS:
    raise ValueError(f"unknown loss.pde_form {config.loss.pde_form!r}; valid: {', '.join(pinn_loss.PDE_FORMS)}")
  common.noise_kwargs(config.noise)


def build_model(config):
  """(model, multiple): the backbone with config.model fields, and the H/W multiple it needs."""
  kwargs = dict(config.model.get(config.backbone, {}) or {})
  try:
    model = denoisers.get_denoiser(config.backbone, **kwargs)
  except TypeError as e:
    raise ValueError(f"config.model.{config.backbone} has a field the backbone does not take ({e})") from None
  if config.backbone in ("unet", "resunet"):
    multiple = 2 ** (len(model.features) - 1)
  elif config.backbone == "coord_mlp":
    return model, 1
  elif config.backbone in ("u2net", "resu2net"):
    multiple = u2net_lib.required_multiple(model.heights)
  else:
    multiple = 1
  return model, multiple


def apply_model(model, params, batch_stats, x, train: bool):
  """(y, aux, new_batch_stats); BatchNorm statistics update only when training."""
  variables = {"params": params}
  if jax.tree.leaves(batch_stats):
    variables["batch_stats"] = batch_stats
    if train:
      (y, aux), updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
      return y, aux, updates["batch_stats"]
  y, aux = model.apply(variables, x, train=train)
  return y, aux, batch_stats


def prior_params(config) -> dict:
  """The prior's defaults overridden by config.prior_params (unknown names rejected)."""
  if config.prior == "none":
    return {}
  defaults = dict(priors_lib.get_prior(config.prior).defaults)
  given = dict(config.get("prior_params", {}) or {})
  unknown = set(given) - set(defaults)
  if unknown:
    raise ValueError(f"prior {config.prior!r} has no parameters {sorted(unknown)}; valid: {', '.join(sorted(defaults))}")
  return {**defaults, **given}


def make_loss_fn(model, config, weights: dict):
  """Trainer loss_fn(params, batch_stats, batch, rng) for the composite PINN loss.

  batch: {'clean'} (noise drawn on device, fresh every step), {'noisy', 'clean'} (fixed pair) or
  {'noisy'} (zero-shot: no clean image exists, and the data/perc weights must be 0).
  """
  kind, kw = config.noise.kind, common.noise_kwargs(config.noise)
  params_pde = prior_params(config)
  lcfg = config.loss

  def loss_fn(params, batch_stats, batch, rng):
    clean = batch.get("clean")
    noisy = batch["noisy"] if "noisy" in batch else noise_lib.add_noise(rng, clean, kind, **kw)
    x_hat, aux, new_bs = apply_model(model, params, batch_stats, noisy, train=True)
    side = tuple(aux.get("side_outputs", ())) if lcfg.deep_supervision else ()
    terms = pinn_loss.pinn_loss_terms(
        x_hat, noisy, clean, prior=config.prior, prior_params=params_pde, pde_form=lcfg.pde_form,
        tau=float(lcfg.tau), bc_kind=lcfg.bc_kind, bc_value=float(lcfg.bc_value), weights=weights,
        side_outputs=side)
    return pinn_loss.total_loss(terms, weights), (terms, new_bs)

  return loss_fn


def loss_weights(config, protocol: str) -> dict:
  """config.loss.weights; zero-shot has no clean target, so its data and perceptual weights are 0."""
  w = {k: float(v) for k, v in dict(config.loss.weights).items()}
  if config.prior == "none":
    w["pde"] = 0.0
  if protocol == "zeroshot":
    w["data"] = w["perc"] = 0.0
  return w


def pad_to_multiple(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
  """Reflect-pads (H, W, C) at the bottom/right so H and W are multiples; returns (padded, (H, W))."""
  h, w = x.shape[:2]
  ph, pw = (-h) % multiple, (-w) % multiple
  return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > max(ph, pw) else "edge"), (h, w)


def denoise_method(model, state: dict, multiple: int):
  """A method (H, W, 1) -> (H, W, 1) that runs the trained model on a whole image (jitted per shape)."""
  params, batch_stats = state["params"], state.get("batch_stats", {})

  @jax.jit
  def run(x):
    y, _, _ = apply_model(model, params, batch_stats, x[None], train=False)
    return y[0]

  def method(noisy):
    padded, (h, w) = pad_to_multiple(np.asarray(noisy, np.float32), multiple)
    return np.asarray(run(jnp.asarray(padded)))[:h, :w]

  return method
