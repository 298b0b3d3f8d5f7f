"""Blind (one model for a range of AWGN levels) training and noise-level-map inputs.

config.noise.train_sigmas = "lo:hi" trains on AWGN whose level is drawn per patch, uniformly in
[lo, hi] (0-255 scale), instead of the fixed config.noise.sigma; "" (default) keeps the fixed level.
A noise-map model (`models.denoisers.takes_noise_map`, e.g. tnrd_blind) receives
concat(noisy, sigma / 255 map); any other model receives the noisy image alone (a DnCNN-B style
blind model that must infer the level).

Loss weighting across levels (config.noise.train_weighting):
  "inverse" (default): each patch's MSE times 25 / max(sigma, 5). The residual MSE of a good
    denoiser grows about linearly with sigma (Set12 PSNRs of DnCNN at 15 / 25 / 50 give MSE/sigma
    = 2.2, 2.4, 2.5 on the 0-255 scale), so this equalises the levels' pull on the mean PSNR
    (d PSNR = -10 / ln 10 * dMSE / MSE); the floor at 5 keeps sigma -> 0 finite.
  "none": the plain MSE over the batch (high levels dominate).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import noise_estimation
from vision_jax.models.denoisers import takes_noise_map
from vision_jax.models.denoisers.tnrd_blind import with_noise_map  # noqa: F401 (the input convention)
from vision_jax.train.state import apply_model

WEIGHTINGS = ("inverse", "none")
SIGMA_REF, SIGMA_FLOOR = 25.0, 5.0


def sigma_range(noise_cfg) -> tuple[float, float] | None:
  """(lo, hi) from noise.train_sigmas ("lo:hi"), or None when it is empty (fixed-level training)."""
  text = str(noise_cfg.get("train_sigmas", "") or "").strip()
  if not text:
    return None
  try:
    lo, hi = (float(v) for v in text.split(":"))
  except ValueError:
    raise ValueError(f"noise.train_sigmas={text!r} is invalid; expected 'lo:hi' on the 0-255 scale, e.g. '0:55'") from None
  if not 0 <= lo <= hi or not np.isfinite(hi):
    raise ValueError(f"noise.train_sigmas={text!r} is invalid; expected 0 <= lo <= hi")
  return lo, hi


def check_blind_config(config, model) -> None:
  """One-line errors: noise-map models and level ranges are for AWGN; the weighting name."""
  rng = sigma_range(config.noise)
  if (rng is not None or takes_noise_map(model)) and config.noise.kind != "awgn":
    raise ValueError(f"noise.kind={config.noise.kind!r} with a blind level range or a noise-map backbone "
                     f"({config.backbone}); expected 'awgn' (the map is the AWGN sigma / 255)")
  weighting = str(config.noise.get("train_weighting", "inverse"))
  if weighting not in WEIGHTINGS:
    raise ValueError(f"noise.train_weighting={weighting!r} is invalid; expected one of {', '.join(WEIGHTINGS)}")


def level_weights(sigma: jax.Array, weighting: str) -> jax.Array:
  """Per-patch loss weights (B,) for levels sigma (B,) (see the module docstring)."""
  if weighting == "none":
    return jnp.ones_like(sigma)
  return SIGMA_REF / jnp.maximum(sigma, SIGMA_FLOOR)


def blind_mse_loss(model, config):
  """loss_fn: AWGN with a level drawn per patch in noise.train_sigmas; the level-weighted MSE."""
  lo, hi = sigma_range(config.noise) or (float(config.noise.sigma),) * 2
  weighting = str(config.noise.get("train_weighting", "inverse"))
  use_map = takes_noise_map(model)

  def loss_fn(params, batch_stats, batch, rng):
    clean = batch["clean"]
    k_sigma, k_noise = jax.random.split(rng)
    sigma = jax.random.uniform(k_sigma, clean.shape[:1], clean.dtype, lo, hi)
    noisy = clean + jax.random.normal(k_noise, clean.shape, clean.dtype) * (sigma / 255.0)[:, None, None, None]
    x = with_noise_map(noisy, sigma) if use_map else noisy
    x_hat, _, new_bs = apply_model(model, params, batch_stats, x, True)
    per_patch = jnp.mean((x_hat - clean) ** 2, axis=(1, 2, 3))
    w = level_weights(sigma, weighting)
    loss = jnp.sum(w * per_patch) / jnp.sum(w)
    return loss, ({"data": jnp.mean(per_patch)}, new_bs)

  return loss_fn


def method_sigma(sigma, noisy: np.ndarray) -> float:
  """The level a noise-map model is given for one (H, W, C) image: sigma, or the wavelet MAD estimate
  (vision_jax.noise_estimation) of its first channel when sigma is None."""
  if sigma is None:
    return noise_estimation.estimate_sigma(np.asarray(noisy)[..., 0])
  return float(sigma)
