"""Variance-stabilising transforms for the noise models of vision_jax.noise, and their inverses.

A denoiser built for additive Gaussian noise of known sigma (a PDE prior tuned by SURE, a
SURE-trained network) is applied to the transformed image and the result is mapped back.

Poisson-Gaussian (noise.poisson_gaussian): y = Poisson(lam x) / lam + N(0, (sigma/255)^2) on [0, 1].
  In counts z = lam y = Poisson(lam x) + N(0, s^2) with s = lam sigma / 255. The generalized Anscombe
  transform (GAT) D = 2 sqrt(max(z + 3/8 + s^2, 0)) has variance close to 1 for every x (worst at
  low counts). Its inverses:
    * "exact" (default): the exact unbiased inverse of Makitalo and Foi (IEEE TIP 22(1), 2013), i.e.
      the inverse of the map lam x -> E[D | x]. E[D | x] is tabulated here numerically (Poisson sum
      times a Gaussian quadrature over the read noise) on a grid of counts 0..TABLE_MAX_COUNT and
      inverted by monotone interpolation; above the table the closed form below is used (it is
      asymptotically exact).
    * "closed_form": the closed-form approximation of the exact unbiased inverse that Makitalo and
      Foi give for the generalized transform (their GenAnscombe_inverse_closed_form):
      I(D) = D^2/4 + sqrt(3/2)/4 D^-1 - 11/8 D^-2 + 5/8 sqrt(3/2) D^-3 - 1/8 - s^2, clipped at 0.
    * "algebraic": (D/2)^2 - 3/8 - s^2, the plain inverse of the forward map, biased at low counts
      (it ignores that E[sqrt(.)] < sqrt(E[.])).
  All are returned on the [0, 1] scale (counts / lam).

Intensity speckle (noise.speckle_intensity): y = N x, N ~ Gamma(L, 1/L). log y = log x + log N with
  E[log N] = psi(L) - log L (< 0: the known bias, -0.130 at L = 4) and Var[log N] = psi_1(L) (the
  trigamma function; 0.284 at L = 4). log_transform removes the bias, so the result is log x plus
  zero-mean noise of standard deviation sqrt(psi_1(L)) (skewed, not Gaussian: SURE, which assumes
  Gaussian noise, is then an approximation). Amplitude speckle (n = sqrt(G)) halves both: bias
  (psi(L) - log L) / 2, variance psi_1(L) / 4. exp of a denoised log image is the inverse; it is
  unbiased only as far as the denoised log image has no residual noise left.

stabilize(y, kind, **params) packages this for a Gaussian denoiser that expects a [0, 1] image with
AWGN of a known sigma (0-255 scale): it returns the transformed image rescaled so that intensity 0..1
maps to about 0..1, the equivalent sigma, and the function mapping a denoised result back.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from vision_jax.noise import _check_param  # one-line ValueError for a bad concrete parameter

__all__ = [
  "gat_forward", "gat_inverse", "gat_expected", "GAT_INVERSES",
  "speckle_log_bias", "speckle_log_std", "log_transform", "log_inverse",
  "Stabilized", "stabilize", "LOG_FLOOR",
]

GAT_INVERSES = ("exact", "closed_form", "algebraic")
TABLE_MAX_COUNT = 200.0  # the exact inverse is tabulated up to this many expected photons


def _read_noise_counts(lam, sigma) -> float:
  return float(lam) * float(sigma) / 255.0


def gat_forward(y, lam, sigma=0.0) -> jax.Array:
  """Generalized Anscombe transform of a Poisson-Gaussian image y (any shape, [0, 1] scale).

  lam: photons at intensity 1 (> 0); sigma: read-noise std on the 0-255 scale (>= 0), the
  parameters of noise.poisson_gaussian. Returns D = 2 sqrt(max(lam y + 3/8 + s^2, 0)) with
  s = lam sigma / 255, whose noise has a standard deviation close to 1 (in D units).
  """
  _check_param(lam, "lam", 0.0, strict=True)
  _check_param(sigma, "sigma", 0.0, strict=False)
  y = jnp.asarray(y)
  s = _read_noise_counts(lam, sigma)
  return 2.0 * jnp.sqrt(jnp.maximum(lam * y + 0.375 + s * s, 0.0))


def _closed_form_counts(D, s):
  """Makitalo-Foi closed-form approximation of the exact unbiased inverse, in counts."""
  D = jnp.maximum(D, 1e-6)
  r = math.sqrt(1.5)
  v = 0.25 * D * D + 0.25 * r / D - 1.375 / D**2 + 0.625 * r / D**3 - 0.125 - s * s
  return jnp.maximum(v, 0.0)


@functools.lru_cache(maxsize=32)
def _expected_gat_table(s: float, n: int = 2001):
  """(counts grid (n,), E[D | counts] (n,)) for read-noise std s (counts), numerically.

  E[D | c] = sum_k Poisson(k; c) E_n[2 sqrt(max(k + s n + 3/8 + s^2, 0))], n ~ N(0, 1) by the
  trapezoid rule on [-8, 8] (201 nodes; the integrand is smooth except for a kink, error < 1e-6).
  """
  c = np.linspace(0.0, TABLE_MAX_COUNT, n)
  kmax = int(TABLE_MAX_COUNT + 12 * math.sqrt(TABLE_MAX_COUNT) + 30)
  k = np.arange(kmax + 1, dtype=np.float64)
  if s > 0:
    t = np.linspace(-8.0, 8.0, 201)
    w = np.exp(-0.5 * t * t)
    w /= w.sum()
    g = (2.0 * np.sqrt(np.maximum(k[:, None] + s * t[None, :] + 0.375 + s * s, 0.0)) * w).sum(axis=1)
  else:
    g = 2.0 * np.sqrt(k + 0.375)
  logp = k[None, :] * np.log(np.maximum(c[:, None], 1e-300)) - c[:, None] - special.gammaln(k + 1)[None, :]
  return c, np.exp(logp) @ g  # c = 0 gives all mass at k = 0


def gat_expected(counts, lam, sigma=0.0) -> np.ndarray:
  """E[D | x] of the GAT at expected counts lam x (NumPy, table-exact up to TABLE_MAX_COUNT)."""
  c, e = _expected_gat_table(_read_noise_counts(lam, sigma))
  return np.interp(np.asarray(counts, np.float64), c, e)


def gat_inverse(D, lam, sigma=0.0, method: str = "exact") -> jax.Array:
  """Inverse of gat_forward applied to a denoised D (any shape): the estimate of x on [0, 1].

  method: "exact" (exact unbiased inverse, tabulated), "closed_form" (Makitalo-Foi closed-form
  approximation of it) or "algebraic" (biased at low counts); see the module docstring.
  """
  if method not in GAT_INVERSES:
    raise ValueError(f"unknown GAT inverse method={method!r}; valid: {', '.join(GAT_INVERSES)}")
  _check_param(lam, "lam", 0.0, strict=True)
  _check_param(sigma, "sigma", 0.0, strict=False)
  D = jnp.asarray(D)
  s = _read_noise_counts(lam, sigma)
  if method == "algebraic":
    counts = jnp.maximum(0.25 * D * D - 0.375 - s * s, 0.0)
  elif method == "closed_form":
    counts = _closed_form_counts(D, s)
  else:
    c, e = _expected_gat_table(s)
    e_j, c_j = jnp.asarray(e, D.dtype), jnp.asarray(c, D.dtype)
    table = jnp.interp(D, e_j, c_j, left=0.0)  # E[D | c] is increasing in c
    counts = jnp.where(D > e_j[-1], _closed_form_counts(D, s), table)
  return counts / lam


# ----------------------------------------------------------------------------- speckle
def _check_looks(looks) -> float:
  _check_param(looks, "looks", 1.0, strict=False)
  return float(looks)


def speckle_log_bias(looks, amplitude: bool = False) -> float:
  """E[log N] = psi(L) - log L for intensity speckle (half of it for amplitude speckle); negative."""
  L = _check_looks(looks)
  b = float(special.digamma(L) - math.log(L))
  return 0.5 * b if amplitude else b


def speckle_log_std(looks, amplitude: bool = False) -> float:
  """Standard deviation of log N: sqrt(psi_1(L)) (intensity) or sqrt(psi_1(L)) / 2 (amplitude)."""
  L = _check_looks(looks)
  s = math.sqrt(float(special.polygamma(1, L)))
  return 0.5 * s if amplitude else s


def log_transform(y, looks, amplitude: bool = False, floor: float = 1e-4) -> jax.Array:
  """Unbiased log of a speckled image: log(max(y, floor)) - speckle_log_bias(L).

  floor keeps log finite at black pixels (speckle of x = 0 is 0); the result's noise has mean 0 and
  standard deviation speckle_log_std(L) wherever x > floor.
  """
  if not floor > 0:
    raise ValueError(f"floor={floor!r} is invalid; expected > 0")
  b = speckle_log_bias(looks, amplitude)
  return jnp.log(jnp.maximum(jnp.asarray(y), floor)) - b


def log_inverse(v) -> jax.Array:
  """exp(v): maps a denoised log image back to intensities."""
  return jnp.exp(jnp.asarray(v))



# ----------------------------------------------------------------------------- one entry point
LOG_FLOOR = 1.0 / 255.0  # stabilize(..."speckle"...) maps log intensities [log LOG_FLOOR, 0] to [0, 1]


class Stabilized(NamedTuple):
  """A noisy image made Gaussian-like: image (same shape, ~[0, 1]), sigma (0-255 scale), invert(denoised)."""
  image: jax.Array
  sigma: float
  invert: Callable


def stabilize(y, kind: str, *, inverse: str = "exact", **params) -> Stabilized:
  """Variance-stabilised, rescaled y for a denoiser of AWGN with known sigma, and the way back.

  kind / params as in noise.add_noise: "awgn" (sigma: unchanged), "poisson_gaussian" (lam, sigma:
  GAT, then D -> (D - D0) / (D1 - D0) with D0, D1 the noise-free GAT of intensities 0 and 1, so the
  noise std is about 1 / (D1 - D0); inverse: a GAT_INVERSES method), "speckle" / "speckle_amplitude"
  (looks: unbiased log, then log x in [log LOG_FLOOR, 0] -> [0, 1]; the noise is log-Gamma, not
  Gaussian, of std speckle_log_std(L) / -log LOG_FLOOR).
  """
  y = jnp.asarray(y)
  if kind == "awgn":
    sigma = float(params.get("sigma", 0.0))
    _check_param(sigma, "sigma", 0.0, strict=True)
    return Stabilized(y, sigma, lambda v: v)
  if kind == "poisson_gaussian":
    lam, sigma = params.get("lam"), float(params.get("sigma", 0.0))
    _check_param(lam, "lam", 0.0, strict=True)
    s = _read_noise_counts(lam, sigma)
    d0, d1 = 2.0 * math.sqrt(0.375 + s * s), 2.0 * math.sqrt(float(lam) + 0.375 + s * s)
    scale = d1 - d0
    return Stabilized((gat_forward(y, lam, sigma) - d0) / scale, 255.0 / scale,
                      lambda v: gat_inverse(d0 + scale * jnp.asarray(v), lam, sigma, inverse))
  if kind in ("speckle", "speckle_amplitude"):
    looks, amplitude = params.get("looks"), kind == "speckle_amplitude"
    span = -math.log(LOG_FLOOR)
    v = 1.0 + log_transform(y, looks, amplitude, floor=LOG_FLOOR * 1e-2) / span
    return Stabilized(v, 255.0 * speckle_log_std(looks, amplitude) / span,
                      lambda d: log_inverse(span * (jnp.asarray(d) - 1.0)))
  raise ValueError(f"unknown noise kind {kind!r}; valid: awgn, poisson_gaussian, speckle, speckle_amplitude")
