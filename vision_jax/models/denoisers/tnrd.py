"""TNRD: trainable nonlinear reaction-diffusion (Chen & Pock, TPAMI 2017).

Each of T stages applies one explicit step of a learned reaction-diffusion:

    u_t = u_{t-1} - sum_i K_i^T phi_i(K_i u_{t-1}) - lambda_t (u_{t-1} - f),   u_0 = f = x

* K_i u: correlation of the image with a learned k x k filter k_i (N, H, W, C) -> (N, H, W, F)
  for all F filters at once, after symmetric (edge-repeating, "half-sample") padding by k//2 so
  boundaries have no artificial edges. With ``zero_mean=True`` the mean of each filter over its
  k x k window (per input channel) is subtracted in the forward pass, so images that are
  constant in each channel give zero responses.
* K_i^T is the exact adjoint of that linear map, padding included, obtained as its VJP
  (``jax.vjp`` at u = 0). Both run through models.conv.conv2d, so on CPU the adjoint takes the
  convolution's input-gradient route (one matrix product, see models/conv.py). Away from the
  border it equals a convolution with the flipped filter; at the border it folds the padded
  values back in.
* phi_i: a Gaussian RBF mixture, M centres c_j uniform on [-rbf_scale, rbf_scale], width
  gamma = the centre spacing, learned weights w_ij:
      phi_i(z) = sum_j w_ij [exp(-(z - c_j)^2 / (2 gamma^2)) - exp(-c_j^2 / (2 gamma^2))]
  The second term makes phi_i(0) = 0 (the windowed sum below subtracts its own value at 0,
  so this holds up to float rounding in both modes); in the interior it changes nothing (K_i^T of a
  constant is zero for zero-mean filters) and at the border it removes a spurious source.
  Weights start at w_ij = init_slope * c_j / sqrt(2 pi), so phi_i(z) ~ init_slope * z on the
  range (a small linear, heat-like diffusion) that falls back to 0 outside it (a Perona-Malik
  like redescending influence). Filters start from the 2D DCT-II basis without the DC atom
  (orthonormal and zero-mean; 24 atoms for 5x5, 48 for 7x7), so sum_i K_i^T K_i has norm <= k^2
  and the initial step is stable for init_slope < 2 / k^2.
* lambda_t = softplus(raw_t) >= 0 (init ``init_lambda``).
* Only the RBF terms within ``rbf_window`` centres of z are summed (the others are < exp(-10)
  of the nearest one), so memory is O(N H W F (2 rbf_window + 1)) instead of O(N H W F M);
  ``rbf_window=None`` sums all M terms.

Parameters per stage: k*k*C*F filters + F*M RBF weights + 1 lambda (2,113 for k = 5, C = 1,
F = 24, M = 63).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from vision_jax.models.conv import conv2d
from vision_jax.models.denoisers import common


def dct_filters(kernel_size: int, channels: int, num_filters: int) -> np.ndarray:
  """Zero-mean orthonormal filter bank (k, k, C, F): 2D DCT-II atoms without DC, low first.

  Atoms beyond k*k - 1 are filled with normalised random zero-mean filters (seed 0).
  """
  k = kernel_size
  n = np.arange(k)
  basis = np.cos(np.pi * (n[None, :] + 0.5) * n[:, None] / k)  # (freq, pos)
  basis /= np.linalg.norm(basis, axis=1, keepdims=True)
  order = sorted(((a, b) for a in range(k) for b in range(k) if (a, b) != (0, 0)),
                 key=lambda ab: (ab[0] + ab[1], ab))
  atoms = [np.outer(basis[a], basis[b]) for a, b in order]
  rng = np.random.default_rng(0)
  while len(atoms) < num_filters:
    r = rng.standard_normal((k, k))
    r -= r.mean()
    atoms.append(r / np.linalg.norm(r))
  bank = np.stack(atoms[:num_filters], axis=-1)  # (k, k, F)
  bank = np.repeat(bank[:, :, None, :], channels, axis=2) / math.sqrt(channels)
  return bank.astype(np.float32)


def filter_responses(u: jax.Array, kernels: jax.Array, pad_mode: str = "symmetric") -> jax.Array:
  """K u: (N, H, W, C) image, (k, k, C, F) kernels -> (N, H, W, F) correlations (padded)."""
  p = kernels.shape[0] // 2
  up = jnp.pad(u, ((0, 0), (p, p), (p, p), (0, 0)), mode=pad_mode)
  return conv2d(up, kernels.astype(u.dtype), 1, "VALID")


def filter_adjoint(v: jax.Array, kernels: jax.Array, image_shape, pad_mode: str = "symmetric"):
  """K^T v, the exact adjoint of `filter_responses` (padding included): (N, H, W, F) -> image.

  Satisfies <K u, v> = <u, K^T v> for all u of shape image_shape: the VJP of the linear map at 0,
  so the convolution's input-gradient route (models/conv.py) computes it (XLA DCEs the K 0).
  """
  zeros = jnp.zeros(tuple(image_shape), v.dtype)
  return jax.vjp(lambda u: filter_responses(u, kernels, pad_mode), zeros)[1](v)[0]


def rbf_centres(num_rbf: int, scale: float) -> tuple[np.ndarray, float]:
  """M uniform centres on [-scale, scale] and the Gaussian width gamma (= centre spacing)."""
  centres = np.linspace(-scale, scale, num_rbf).astype(np.float32)
  gamma = float(2 * scale / (num_rbf - 1))
  return centres, gamma


def rbf_influence(z: jax.Array, weights: jax.Array, scale: float, window: int | None = 4):
  """phi_i(z) for responses z (..., F) and weights (F, M); phi_i(0) = 0. Returns (..., F).

  window: number of centres summed on each side of the nearest one (None: all M).
  """
  m = weights.shape[-1]
  centres, gamma = rbf_centres(m, scale)
  g = lambda d: jnp.exp(-0.5 * jnp.square(d / gamma))

  def mixture(z):  # sum_j w_ij G(z - c_j), dense or over the nearest 2 window + 1 centres
    if window is None or 2 * window + 1 >= m:
      return jnp.einsum("...fm,fm->...f", g(z[..., None] - centres), weights)
    nearest = jnp.clip(jnp.round((z + scale) / gamma), 0, m - 1).astype(jnp.int32)
    j = nearest[..., None] + jnp.arange(-window, window + 1)  # (..., F, 2 window + 1)
    jc = jnp.clip(j, 0, m - 1)
    w = weights[jnp.arange(weights.shape[0])[:, None], jc]  # gathered w_ij, (..., F, K)
    terms = w * g(z[..., None] - (-scale + jc.astype(z.dtype) * gamma))
    return jnp.sum(jnp.where((j >= 0) & (j < m), terms, 0.0), axis=-1)

  return mixture(z) - mixture(jnp.zeros(weights.shape[:1], z.dtype))  # phi_i(0) = 0


def linear_influence(z: jax.Array, knots: jax.Array, scale: float) -> jax.Array:
  """phi_i(z) by linear interpolation of M knot values (F, M) at the RBF centres; phi_i(0) = 0.

  z: (..., F) responses -> (..., F). Beyond [-scale, scale] phi_i is constant (the end knot).
  One 1-D gather pair per response, so the backward pass is a cheap scatter-add: a TNRD training
  step is ~3x faster on CPU than with the windowed Gaussian mixture (benchmarks/bench_denoise.py).
  """
  m = knots.shape[-1]
  _, gamma = rbf_centres(m, scale)
  flat = knots.reshape(-1)
  row = jnp.arange(knots.shape[0], dtype=jnp.int32) * m  # offset of filter i's knots

  def interp(z):
    s = jnp.clip((z + scale) / gamma, 0.0, m - 1.0)
    left = jnp.minimum(jnp.floor(s), m - 2.0)  # the last cell includes its right end
    a = s - left
    idx = left.astype(jnp.int32) + row
    return jnp.take(flat, idx) * (1.0 - a) + jnp.take(flat, idx + 1) * a

  return interp(z) - interp(jnp.zeros(knots.shape[:1], z.dtype))

class TNRD(nn.Module):
  """TNRD: (N, H, W, C) -> ((N, H, W, C), {"stages": T arrays (N, H, W, C)}); any H, W > k//2.

  Fields:
    stages: number of reaction-diffusion steps T.
    num_filters: filters F per stage.
    kernel_size: filter size k (odd; 5 or 7 in the paper).
    num_rbf: RBF centres M per influence function.
    rbf_scale: centres span [-rbf_scale, rbf_scale] (filter responses of [0, 1] images).
    init_slope: initial phi_i(z) ~ init_slope * z.
    init_lambda: initial reaction weight lambda_t.
    zero_mean: subtract each filter's mean in the forward pass.
    rbf_window: centres summed on each side of the nearest (None = all).
    pad_mode: jnp.pad mode for the filters ("symmetric" or "reflect").
    influence: "gaussian" (the paper's RBF mixture) or "linear" (piecewise-linear interpolation
      of M knot values at the same centres; same parameter count, ~3x faster to train on CPU).
  """
  stages: int = 5
  num_filters: int = 24
  kernel_size: int = 5
  num_rbf: int = 63
  rbf_scale: float = 1.0
  init_slope: float = 0.01
  init_lambda: float = 0.1
  zero_mean: bool = True
  rbf_window: int | None = 4
  pad_mode: str = "symmetric"
  influence: str = "gaussian"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, u0: jax.Array | None = None):
    """x: noisy image f (N, H, W, C); u0: optional start (default f). Returns (u_T, aux)."""
    k = self.kernel_size
    if k < 1 or k % 2 == 0:
      raise ValueError(f"tnrd kernel_size={k} is invalid; expected an odd size >= 1")
    if self.stages < 1 or self.num_rbf < 2:
      raise ValueError(f"tnrd stages={self.stages}, num_rbf={self.num_rbf} are invalid; "
                       "expected stages >= 1 and num_rbf >= 2")
    common.check_choice(self.pad_mode, ("symmetric", "reflect"), "tnrd pad_mode")
    common.check_choice(self.influence, ("gaussian", "linear"), "tnrd influence")
    common.check_image_input(x, 1, "tnrd")
    if min(x.shape[1:3]) <= k // 2:
      raise ValueError(f"tnrd got input shape {tuple(x.shape)}; H and W must exceed "
                       f"kernel_size//2 = {k // 2}")
    if u0 is not None and u0.shape != x.shape:
      raise ValueError(f"tnrd u0 shape {tuple(u0.shape)} must equal x shape {tuple(x.shape)}")
    c = x.shape[-1]
    centres, _ = rbf_centres(self.num_rbf, self.rbf_scale)
    # phi_i(z) ~ init_slope * z: the Gaussian mixture of spacing gamma sums to sqrt(2 pi) w.
    w0 = self.init_slope * centres / (math.sqrt(2 * math.pi) if self.influence == "gaussian" else 1.0)
    raw_lambda0 = math.log(math.expm1(self.init_lambda)) if self.init_lambda > 0 else -30.0
    f = x
    u = f if u0 is None else u0
    history = []
    for t in range(self.stages):
      kernels = self.param(f"filters_{t}", lambda _, s: jnp.asarray(dct_filters(k, c, s[-1])),
                           (k, k, c, self.num_filters))
      weights = self.param(f"rbf_weights_{t}",
                           lambda _, s: jnp.broadcast_to(jnp.asarray(w0), s).copy(),
                           (self.num_filters, self.num_rbf))
      raw_lambda = self.param(f"lambda_{t}", nn.initializers.constant(raw_lambda0), ())
      if self.zero_mean:
        kernels = kernels - jnp.mean(kernels, axis=(0, 1), keepdims=True)
      z = filter_responses(u, kernels, self.pad_mode)
      if self.influence == "gaussian":
        phi = rbf_influence(z, weights, self.rbf_scale, self.rbf_window)
      else:
        phi = linear_influence(z, weights, self.rbf_scale)
      diffusion = filter_adjoint(phi, kernels, u.shape, self.pad_mode)
      u = u - diffusion - jax.nn.softplus(raw_lambda) * (u - f)
      history.append(u)
    return u, {"stages": tuple(history)}
