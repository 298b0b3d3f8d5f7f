"""Denoisers trained on noisy images only: SURE and Noise2Self losses, the fixed noisy training pool,
and the variance-stabilised method wrapper (for noise kinds other than AWGN).

No clean image enters anything here: the training pool is one fixed noisy draw per training image
(`noisy_pool`, made once from a seed, so no fresh noise can be drawn around a clean image), batches
are {'noisy': (B, p, p, C)} patches of that pool, and the losses read only batch['noisy'].

Losses (`make_loss(model, sigma, kind=..., extra_terms=...)` -> loss_fn(params, batch_stats, batch, rng)):
  * "sure": Stein's unbiased risk estimate of the MSE for AWGN of std sigma / 255
    (vision_jax.losses.sure; divergence by exact jax.jvp with `probes` Rademacher probes).
  * "noise2self": the blind-spot masking loss (no sigma needed; pixel-wise independent zero-mean noise).
  extra_terms(x_hat, batch) -> (scalar, {name: scalar}) adds clean-free terms (e.g. a PDE residual).

Other noise kinds go through vision_jax.noise_transforms.stabilize first (the generalized Anscombe
transform for Poisson-Gaussian, the unbiased log for speckle): the network is trained on, and applied
to, the stabilised image with its equivalent AWGN sigma, and `stabilized_method` maps its output back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import noise as noise_lib, noise_transforms
from vision_jax.data import images as images_lib
from vision_jax.losses import sure as sure_lib
from vision_jax.train import loop
from vision_jax.train.state import apply_model

LOSSES = ("sure", "noise2self")


def check_loss(kind: str, noise_kind: str) -> None:
  """One-line errors: a known loss name; SURE needs a noise kind with a known equivalent sigma."""
  if kind not in LOSSES:
    raise ValueError(f"unknown self-supervised loss {kind!r}; valid: {', '.join(LOSSES)}")
  if noise_kind not in ("awgn", "poisson_gaussian", "speckle", "speckle_amplitude"):
    raise ValueError(f"noise.kind={noise_kind!r} has no variance-stabilising transform; expected awgn, "
                     "poisson_gaussian, speckle or speckle_amplitude")


def stabilize(noisy: np.ndarray, noise_cfg) -> noise_transforms.Stabilized:
  """The stabilised image (same shape), its equivalent AWGN sigma (0-255) and the inverse (see module doc)."""
  return noise_transforms.stabilize(jnp.asarray(noisy), noise_cfg.kind, **noise_lib.noise_kwargs(noise_cfg))


def uses_stabilization(kind: str, noise_kind: str) -> bool:
  """SURE needs Gaussian-like noise of known sigma: every non-AWGN kind is stabilised first.
  Noise2Self works on the raw noisy image for every kind (it only needs E[y | x] = x pixel by pixel)."""
  return kind == "sure" and noise_kind != "awgn"


def noisy_pool(cleans: list[np.ndarray], noise_cfg, seed: int) -> list[np.ndarray]:
  """One fixed noisy draw per training image (image i: key fold_in(PRNGKey(seed), i)); (H, W, C) each."""
  from vision_jax.tasks.denoise import evaluation
  return evaluation.make_noisy(cleans, noise_cfg, seed)


def training_inputs(noisys: list[np.ndarray], noise_cfg, kind: str) -> tuple[list[np.ndarray], float | None]:
  """(images the network trains on, sigma of the SURE loss): stabilised for SURE on non-AWGN noise."""
  if kind == "noise2self":
    return [np.asarray(y, np.float32) for y in noisys], None
  out, sigma = [], None
  for y in noisys:
    s = stabilize(y, noise_cfg)
    out.append(np.asarray(s.image, np.float32))
    sigma = s.sigma
  return out, float(sigma)


def make_loss(model, sigma: float | None, *, kind: str = "sure", probes: int = 1, period: int = 4,
              weight: float = 1.0, extra_terms=None):
  """loss_fn(params, batch_stats, batch, rng) = weight * data term + extra, on batch {'noisy': (B, H, W, C)}
  (plus any scalars extra_terms reads; never a clean image).

  sigma: AWGN level (0-255) of the (stabilised) inputs, needed by "sure". extra_terms(x_hat, batch)
  -> (weighted scalar, {name: value}) is added (its x_hat is the network output on the full noisy
  input). Metrics: 'sure' or 'noise2self', plus the extra terms. BatchNorm statistics are updated
  from the plain forward pass on the noisy batch.
  """
  if kind not in LOSSES:
    raise ValueError(f"unknown self-supervised loss {kind!r}; valid: {', '.join(LOSSES)}")
  if kind == "sure" and not (sigma is not None and float(sigma) > 0):
    raise ValueError(f"sigma={sigma!r} is invalid for the SURE loss; expected the noise level > 0 (0-255 scale)")

  def loss_fn(params, batch_stats, batch, rng):
    y = batch["noisy"]
    has_bn = bool(jax.tree.leaves(batch_stats))
    f = lambda v: apply_model(model, params, batch_stats, v, True)[0]
    if kind == "sure":
      x_hat, div = sure_lib.mc_divergence(f, y, rng, probes=probes)
      n = y.shape[-3] * y.shape[-2] * y.shape[-1]
      s2 = (float(sigma) / 255.0) ** 2
      data = jnp.mean(jnp.sum((x_hat - y) ** 2, axis=(-3, -2, -1)) / n - s2 + 2.0 * s2 * div / n)
    else:
      data = sure_lib.noise2self_loss(f, y, rng, period=period)
      x_hat = None
    new_bs = batch_stats
    if has_bn or (extra_terms is not None and x_hat is None):
      out, _, new_bs = apply_model(model, params, batch_stats, y, True)
      x_hat = out if x_hat is None else x_hat
    metrics = {kind: data}
    total = weight * data
    if extra_terms is not None:
      extra, terms = extra_terms(x_hat, batch)
      total = total + extra
      metrics.update(terms)
    return total, (metrics, new_bs)

  return loss_fn


def make_problem(model, train_inputs: list[np.ndarray], loss_fn, *, batch_size: int, patch_size: int,
                 seed: int) -> loop.TrainProblem:
  """TrainProblem whose batches are {'noisy': patches of the fixed noisy pool} (a pure function of
  seed and step, so resumed runs match); no eval_fn (a validation PSNR would need a clean image)."""
  def batch_fn(step):
    return {"noisy": images_lib.sample_patches(train_inputs, batch_size, patch_size, seed, step)}

  example = np.zeros((1, patch_size, patch_size, train_inputs[0].shape[-1]), np.float32)
  return loop.TrainProblem(model, example, loss_fn, batch_fn)


def stabilized_method(method, noise_cfg, stabilized: bool):
  """method on the stabilised image, mapped back (identity wrapper when not stabilised)."""
  if not stabilized:
    return method

  def run(noisy):
    s = stabilize(noisy, noise_cfg)
    out = method(np.asarray(s.image, np.float32))
    return np.asarray(s.invert(jnp.asarray(out)), np.float32)

  return run
