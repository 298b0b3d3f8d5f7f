"""Noise-level-map TNRD: one TNRD for every AWGN level, conditioned on a noise map (FFDNet-style input).

The input is the noisy image with one extra channel, the noise level map sigma / 255 (the
convention of FFDNet, Zhang et al. TIP 2018): x = concat(f, m), (N, H, W, C + 1) -> (N, H, W, C).
Each image's level is the mean of its map, sigma_n = 255 mean(m_n) (spatially constant AWGN; a
varying map is averaged, so spatially varying noise is not modelled).

The filters K_i of each stage are shared by every level; the influence functions and the reaction
weight depend on sigma through piecewise-linear interpolation between K knot levels s_1 < ... < s_K
(``sigma_knots``, 0-255 scale; levels outside are clamped to the end knots):

    phi_i(z; sigma) = sum_k h_k(sigma) phi_ik(z),   lambda_t(sigma) = sum_k h_k(sigma) softplus(raw_tk)

with h_k the hat functions of the knots (sum_k h_k = 1). Each phi_ik is the piecewise-linear
influence of `tnrd.linear_influence` (M knot values at the centres on [-rbf_scale, rbf_scale];
phi_ik(0) = 0). Since the mixture is linear in the knot values, the per-image table
sum_k h_k(sigma_n) w_ik is formed first (an (N, F, M) einsum) and each response does one pair of
gathers, so a training step costs about what the single-level TNRD's does. A model trained at
one level, with its weights copied to every knot, is that model for every sigma.

Parameters per stage: k*k*C*F filters + K*F*M table values + K reaction weights.
"""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from vision_jax.models.denoisers import common
from vision_jax.models.denoisers.tnrd import dct_filters, filter_adjoint, filter_responses, rbf_centres

DEFAULT_KNOTS = tuple(float(s) for s in range(0, 60, 5))  # 0, 5, ..., 55


def with_noise_map(noisy, sigma):
  """concat(noisy, sigma / 255) along the last axis; sigma: a number or (N,) levels for (N, H, W, C)."""
  xp = jnp if isinstance(noisy, jax.Array) else np
  s = xp.asarray(sigma, noisy.dtype) / 255.0
  if s.ndim == 1:
    s = s.reshape((-1,) + (1,) * (noisy.ndim - 1))
  return xp.concatenate([noisy, xp.broadcast_to(s, noisy.shape[:-1] + (1,)).astype(noisy.dtype)], axis=-1)


def knot_weights(sigma: jax.Array, knots) -> jax.Array:
  """Hat-function weights h_k(sigma): (N,) levels (0-255) -> (N, K), rows sum to 1, clamped at the ends."""
  knots = np.asarray(knots, np.float32)
  eye = jnp.eye(len(knots), dtype=jnp.float32)
  return jax.vmap(lambda row: jnp.interp(sigma, knots, row), out_axes=-1)(eye)


def batched_linear_influence(z: jax.Array, tables: jax.Array, scale: float) -> jax.Array:
  """phi(z) with one knot table per image: z (N, H, W, F), tables (N, F, M) -> (N, H, W, F).

  Image n uses tables[n] exactly as `tnrd.linear_influence(z[n], tables[n], scale)` does
  (constant beyond [-scale, scale], phi(0) = 0).
  """
  n, f, m = tables.shape
  _, gamma = rbf_centres(m, scale)
  flat = tables.reshape(-1)
  row = ((jnp.arange(n, dtype=jnp.int32)[:, None] * f + jnp.arange(f, dtype=jnp.int32)[None, :]) * m)
  row = row.reshape((n,) + (1,) * (z.ndim - 2) + (f,))

  def interp(z):
    s = jnp.clip((z + scale) / gamma, 0.0, m - 1.0)
    left = jnp.minimum(jnp.floor(s), m - 2.0)
    a = s - left
    idx = left.astype(jnp.int32) + row
    return jnp.take(flat, idx) * (1.0 - a) + jnp.take(flat, idx + 1) * a

  return interp(z) - interp(jnp.zeros(row.shape, z.dtype))


def noise_levels(noise_map: jax.Array) -> jax.Array:
  """Per-image AWGN level on the 0-255 scale from a (N, H, W) map of sigma / 255: (N,)."""
  return 255.0 * jnp.mean(noise_map, axis=(1, 2))


class NoiseMapTNRD(nn.Module):
  """(N, H, W, C + 1) [image, sigma/255 map] -> ((N, H, W, C), {"stages": T arrays, "sigma": (N,)}).

  Fields (as TNRD's, influence always piecewise linear):
    stages, num_filters, kernel_size, num_rbf, rbf_scale, init_slope, init_lambda, zero_mean,
    pad_mode: see models/denoisers/tnrd.py.
    sigma_knots: increasing noise levels (0-255) of the influence / reaction tables.
  """
  stages: int = 5
  num_filters: int = 48
  kernel_size: int = 7
  num_rbf: int = 63
  rbf_scale: float = 1.0
  init_slope: float = 0.01
  init_lambda: float = 0.1
  zero_mean: bool = True
  pad_mode: str = "symmetric"
  sigma_knots: tuple = DEFAULT_KNOTS
  takes_noise_map: ClassVar[bool] = True  # the task appends the sigma / 255 map as the last channel

  def check(self, x) -> None:
    """One-line ValueErrors for fields and the input shape (plain Python, before tracing)."""
    k = self.kernel_size
    if k < 1 or k % 2 == 0:
      raise ValueError(f"tnrd_blind kernel_size={k} is invalid; expected an odd size >= 1")
    if self.stages < 1 or self.num_rbf < 2:
      raise ValueError(f"tnrd_blind stages={self.stages}, num_rbf={self.num_rbf} are invalid; "
                       "expected stages >= 1 and num_rbf >= 2")
    knots = np.asarray(self.sigma_knots, np.float64)
    if knots.ndim != 1 or len(knots) < 1 or np.any(np.diff(knots) <= 0) or knots[0] < 0:
      raise ValueError(f"tnrd_blind sigma_knots={tuple(self.sigma_knots)!r} is invalid; expected increasing "
                       "levels >= 0 (0-255 scale)")
    common.check_choice(self.pad_mode, ("symmetric", "reflect"), "tnrd_blind pad_mode")
    common.check_image_input(x, 1, "tnrd_blind")
    if x.shape[-1] < 2:
      raise ValueError(f"tnrd_blind got input shape {tuple(x.shape)}; expected C + 1 >= 2 channels "
                       "(the image and the sigma / 255 noise map as the last channel)")
    if min(x.shape[1:3]) <= k // 2:
      raise ValueError(f"tnrd_blind got input shape {tuple(x.shape)}; H and W must exceed kernel_size//2 = {k // 2}")

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    """x: concat(noisy f, sigma / 255 map) (N, H, W, C + 1). Returns (u_T, aux)."""
    self.check(x)
    k, c, nk = self.kernel_size, x.shape[-1] - 1, len(self.sigma_knots)
    f = x[..., :c]
    sigma = noise_levels(x[..., c])
    h = knot_weights(sigma, self.sigma_knots)  # (N, K)
    centres, _ = rbf_centres(self.num_rbf, self.rbf_scale)
    w0 = np.broadcast_to(self.init_slope * centres, (nk, self.num_filters, self.num_rbf))
    raw_lambda0 = math.log(math.expm1(self.init_lambda)) if self.init_lambda > 0 else -30.0
    u, history = f, []
    for t in range(self.stages):
      kernels = self.param(f"filters_{t}", lambda _, s: jnp.asarray(dct_filters(k, c, s[-1])),
                           (k, k, c, self.num_filters))
      tables = self.param(f"rbf_weights_{t}", lambda _, s: jnp.asarray(w0, jnp.float32).copy(), w0.shape)
      raw_lambda = self.param(f"lambda_{t}", nn.initializers.constant(raw_lambda0), (nk,))
      if self.zero_mean:
        kernels = kernels - jnp.mean(kernels, axis=(0, 1), keepdims=True)
      z = filter_responses(u, kernels, self.pad_mode)
      phi = batched_linear_influence(z, jnp.einsum("nk,kfm->nfm", h, tables), self.rbf_scale)
      lam = (h @ jax.nn.softplus(raw_lambda))[:, None, None, None]
      u = u - filter_adjoint(phi, kernels, u.shape, self.pad_mode) - lam * (u - f)
      history.append(u)
    return u, {"stages": tuple(history), "sigma": sigma}


def from_single_level(params: dict, num_knots: int) -> dict:
  """NoiseMapTNRD parameters that equal a trained single-level TNRD (linear influence) at every sigma:
  each stage's knot table and reaction weight copied to all `num_knots` knots."""
  out = {}
  for name, value in params.items():
    v = jnp.asarray(value)
    if name.startswith("rbf_weights_"):
      v = jnp.broadcast_to(v, (num_knots,) + v.shape)
    elif name.startswith("lambda_"):
      v = jnp.broadcast_to(v, (num_knots,))
    out[name] = v
  return out
