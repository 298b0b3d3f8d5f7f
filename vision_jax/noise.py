"""Noise models for [0, 1] images: AWGN, Poisson-Gaussian, Gamma (intensity) and Nakagami (amplitude) speckle.

Every function takes an explicit PRNG key, accepts an image `x` of any shape (values nominally in
[0, 1], e.g. NHWC float32) and returns a noisy image of the same shape and floating dtype. All of
them are jittable; parameters given as Python numbers are validated in plain Python before tracing
(traced parameters are not checked).

The result is NOT clipped to [0, 1] by default: clipping biases the noise (its mean is no longer
zero / one near the range ends) and breaks the statistics the PDE priors and the metrics assume.
Pass `clip=True` to get an image restricted to [0, 1].

Conventions (seed-002 spec, Eq. 6-9):
  awgn               Y = X + N(0, (sigma/255)^2), sigma on the 0-255 scale.
  poisson_gaussian   Y = Poisson(lam * X) / lam + N(0, (sigma/255)^2); lam = expected photon count at
                     intensity 1 (bigger lam = less noise); Var[Y | X] = X / lam + (sigma/255)^2.
  speckle            Y = N X, N ~ Gamma(shape L, scale 1/L): E[N] = 1, Var[N] = 1/L (intensity speckle).
  speckle_amplitude  Y = n X, n ~ Nakagami(L) = sqrt(Gamma(L, 1/L)): E[n^2] = 1,
                     E[n] = Gamma(L + 1/2) / (Gamma(L) sqrt(L)); Rayleigh (scale 1/sqrt(2)) at L = 1.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.validate import check_choice

__all__ = [
  "awgn",
  "poisson_gaussian",
  "speckle_intensity",
  "speckle_amplitude",
  "NOISE_MODELS",
  "add_noise",
  "NOISE_FIELDS",
  "noise_kwargs",
  "noise_label",
  "expected_noise_mse",
  "sigma_equivalent_255",
]


def _concrete_float(value):
  """Returns value as a Python float, or None if it is a tracer / non-scalar (cannot be checked)."""
  if isinstance(value, jax.core.Tracer):
    return None
  try:
    arr = np.asarray(value)
  except Exception:
    return None
  if arr.ndim != 0:
    return None
  return float(arr)


def _check_param(value, name: str, minimum: float, strict: bool) -> None:
  """ValueError (one line) unless value >= minimum (> minimum when strict) and finite; tracers skipped."""
  v = _concrete_float(value)
  if v is None:
    return
  ok = np.isfinite(v) and (v > minimum if strict else v >= minimum)
  if not ok:
    want = f"> {minimum:g}" if strict else f">= {minimum:g}"
    raise ValueError(f"{name}={value!r} is invalid; expected a finite number {want}")


def _as_float_image(x) -> jax.Array:
  """x as a floating jax array (integer input is cast to float32, values kept as they are)."""
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  return x


def _param(value, x: jax.Array) -> jax.Array:
  """A noise parameter as a 0-d array of x's dtype (so int/float values share one compiled kernel)."""
  return jnp.asarray(value, dtype=x.dtype)


def _finish(y: jax.Array, dtype, clip: bool) -> jax.Array:
  y = y.astype(dtype)
  return jnp.clip(y, 0.0, 1.0) if clip else y


def awgn(key: jax.Array, x, sigma, clip: bool = False) -> jax.Array:
  """Additive white Gaussian noise.

  Args:
    key: PRNG key.
    x: clean image, any shape, values in [0, 1].
    sigma: noise standard deviation on the 0-255 scale (>= 0); sigma/255 is added on [0, 1].
    clip: clip the result to [0, 1] (default False: the noise stays zero-mean).
  Returns:
    x + N(0, (sigma/255)^2), same shape and floating dtype as x.
  """
  _check_param(sigma, "sigma", 0.0, strict=False)
  x = _as_float_image(x)
  return _awgn(key, x, _param(sigma, x), clip)


@functools.partial(jax.jit, static_argnames="clip")
def _awgn(key, x, sigma, clip):
  noise = jax.random.normal(key, x.shape, dtype=x.dtype) * (jnp.asarray(sigma, x.dtype) / 255.0)
  return _finish(x + noise, x.dtype, clip)


def poisson_gaussian(key: jax.Array, x, lam, sigma=0.0, clip: bool = False) -> jax.Array:
  """Poisson-Gaussian noise, Y = Poisson(lam * X) / lam + N(0, (sigma/255)^2).

  `lam` is the expected photon count at intensity 1 (the paper leaves lambda undefined; this is the
  convention used throughout vision_jax). E[Y] = X and Var[Y] = X / lam + (sigma/255)^2, so a bigger
  lam means less noise. Negative intensities get rate 0.

  Args:
    key: PRNG key.
    x: clean image, any shape, values in [0, 1].
    lam: photons at intensity 1, > 0.
    sigma: std of the extra Gaussian read noise on the 0-255 scale, >= 0 (default 0: pure Poisson).
    clip: clip the result to [0, 1] (default False).
  Returns:
    Noisy image, same shape and floating dtype as x.
  """
  _check_param(lam, "lam", 0.0, strict=True)
  _check_param(sigma, "sigma", 0.0, strict=False)
  x = _as_float_image(x)
  return _poisson_gaussian(key, x, _param(lam, x), _param(sigma, x), clip)


@functools.partial(jax.jit, static_argnames="clip")
def _poisson_gaussian(key, x, lam, sigma, clip):
  k_poisson, k_gauss = jax.random.split(key)
  lam_f = jnp.asarray(lam, jnp.float32)
  rate = jnp.maximum(lam_f * x.astype(jnp.float32), 0.0)
  counts = jax.random.poisson(k_poisson, rate, shape=x.shape)
  y = counts.astype(jnp.float32) / lam_f
  y = y + jax.random.normal(k_gauss, x.shape, dtype=jnp.float32) * (jnp.asarray(sigma, jnp.float32) / 255.0)
  return _finish(y, x.dtype, clip)


def speckle_intensity(key: jax.Array, x, looks, clip: bool = False) -> jax.Array:
  """Multiplicative intensity speckle, Y = N X with N ~ Gamma(shape L, scale 1/L).

  E[N] = 1, Var[N] = 1/L, so E[Y] = X and Var[Y] = X^2 / L (ENL of a flat region = L).

  Args:
    key: PRNG key.
    x: clean image, any shape, values in [0, 1].
    looks: number of looks L >= 1 (non-integer allowed).
    clip: clip the result to [0, 1] (default False).
  Returns:
    Noisy image, same shape and floating dtype as x.
  """
  _check_param(looks, "looks", 1.0, strict=False)
  x = _as_float_image(x)
  return _speckle_intensity(key, x, _param(looks, x), clip)


@functools.partial(jax.jit, static_argnames="clip")
def _speckle_intensity(key, x, looks, clip):
  looks_f = jnp.asarray(looks, x.dtype)
  n = jax.random.gamma(key, looks_f, shape=x.shape, dtype=x.dtype) / looks_f
  return _finish(n * x, x.dtype, clip)


def speckle_amplitude(key: jax.Array, x, looks, clip: bool = False) -> jax.Array:
  """Multiplicative amplitude speckle, Y = n X with n ~ Nakagami(L), n = sqrt(G), G ~ Gamma(L, 1/L).

  Density p(n) = 2 L^L n^(2L-1) exp(-L n^2) / Gamma(L); E[n^2] = 1,
  E[n] = Gamma(L + 1/2) / (Gamma(L) sqrt(L)) (slightly below 1). L = 1 is Rayleigh with scale 1/sqrt(2).

  Args:
    key: PRNG key.
    x: clean image, any shape, values in [0, 1].
    looks: number of looks L >= 1 (non-integer allowed).
    clip: clip the result to [0, 1] (default False).
  Returns:
    Noisy image, same shape and floating dtype as x.
  """
  _check_param(looks, "looks", 1.0, strict=False)
  x = _as_float_image(x)
  return _speckle_amplitude(key, x, _param(looks, x), clip)


@functools.partial(jax.jit, static_argnames="clip")
def _speckle_amplitude(key, x, looks, clip):
  looks_f = jnp.asarray(looks, x.dtype)
  g = jax.random.gamma(key, looks_f, shape=x.shape, dtype=x.dtype) / looks_f
  return _finish(jnp.sqrt(g) * x, x.dtype, clip)


NOISE_MODELS: dict[str, Callable[..., jax.Array]] = {
  "awgn": awgn,  # params: sigma (0-255)
  "poisson_gaussian": poisson_gaussian,  # params: lam, sigma=0
  "speckle": speckle_intensity,  # params: looks
  "speckle_amplitude": speckle_amplitude,  # params: looks
}


def add_noise(key: jax.Array, x, kind: str, **params) -> jax.Array:
  """Applies the noise model `kind` (a NOISE_MODELS key) with its keyword parameters.

  Example: add_noise(key, x, "awgn", sigma=25); add_noise(key, x, "speckle", looks=4).
  Raises ValueError listing the valid kinds for an unknown one.
  """
  check_choice(kind, NOISE_MODELS, "noise kind")
  return NOISE_MODELS[kind](key, x, **params)


# ----------------------------------------------------------------------------- settings from a config
# Which fields of a noise setting (config.noise) each model takes, and what each field must satisfy.
NOISE_FIELDS = {"awgn": ("sigma",), "poisson_gaussian": ("lam", "sigma"), "speckle": ("looks",),
                "speckle_amplitude": ("looks",)}
_FIELD_RULES = {"sigma": (0.0, False), "lam": (0.0, True), "looks": (1.0, False)}  # (minimum, strict)


def noise_kwargs(noise_cfg) -> dict:
  """The keyword parameters of a noise setting for its kind, validated, e.g. {'sigma': 25.0} for awgn.

  noise_cfg: a mapping (ml_collections ConfigDict or dict) with `kind` and the kind's fields.
  Raises ValueError (one line) for an unknown kind or an out-of-range value (sigma < 0, lam <= 0, looks < 1).
  """
  kind = noise_cfg["kind"]
  check_choice(kind, NOISE_FIELDS, "noise kind")
  out = {}
  for field in NOISE_FIELDS[kind]:
    try:
      value = float(noise_cfg[field])
    except (TypeError, ValueError):
      raise ValueError(f"noise.{field}={noise_cfg[field]!r} is invalid; expected a number") from None
    minimum, strict = _FIELD_RULES[field]
    _check_param(value, f"noise.{field}", minimum, strict)
    out[field] = value
  return out


def noise_label(noise_cfg) -> str:
  """Short human label, e.g. 'awgn sigma=25' or 'speckle L=4'."""
  kw = noise_kwargs(noise_cfg)
  return f"{noise_cfg['kind']} " + " ".join(f"{'L' if k == 'looks' else k}={v:g}" for k, v in kw.items())


def expected_noise_mse(noisy: np.ndarray, noise_cfg) -> float:
  """E[(y - x)^2] per pixel, estimated from the noisy image alone (no clean image is used).

  awgn: (sigma/255)^2. poisson_gaussian: mean(y)/lam + (sigma/255)^2 (E[y] = x). speckle (Gamma,
  L looks): E[y^2] = x^2 (1 + 1/L) so E[(y-x)^2] = mean(y^2)/(L+1). speckle_amplitude (Nakagami):
  E[n^2] = 1, so E[y^2] = x^2 and E[(y-x)^2] = x^2 (2 - 2E[n]) = mean(y^2)(2 - 2E[n]).
  """
  kw = noise_kwargs(noise_cfg)
  kind = noise_cfg["kind"]
  y = np.asarray(noisy, np.float64)
  if kind == "awgn":
    return (kw["sigma"] / 255.0) ** 2
  if kind == "poisson_gaussian":
    return float(np.mean(np.clip(y, 0, None)) / kw["lam"] + (kw["sigma"] / 255.0) ** 2)
  if kind == "speckle":
    return float(np.mean(y ** 2) / (kw["looks"] + 1.0))
  from scipy.special import gammaln
  L = kw["looks"]
  mean_n = np.exp(gammaln(L + 0.5) - gammaln(L)) / np.sqrt(L)
  return float(np.mean(y ** 2) * (2.0 - 2.0 * mean_n))


def sigma_equivalent_255(noisy: np.ndarray, noise_cfg) -> float:
  """The AWGN sigma (0-255 scale) with the same expected noise energy: what classical baselines get."""
  return float(np.sqrt(expected_noise_mse(noisy, noise_cfg)) * 255.0)
