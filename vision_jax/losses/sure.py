"""Denoising without clean images: Stein's unbiased risk estimate (SURE) and Noise2Self masking.

SURE (Stein 1981) for y = x + n, n ~ N(0, s^2 I) with known s, and a weakly differentiable f:

    SURE(f, y) = ||f(y) - y||^2 / n - s^2 + 2 s^2 div f(y) / n,     E[SURE] = E ||f(y) - x||^2 / n,

n = the number of pixels of one image, s = sigma / 255 (images on [0, 1], sigma on the 0-255 scale).
The divergence div f(y) = tr J_f(y) is estimated by Monte Carlo (Hutchinson / Ramani et al. 2008):
b^T J_f(y) b with E[b b^T] = I (Rademacher +-1 by default, or standard normal), where J_f(y) b is
one exact forward-mode product jax.jvp(f, (y,), (b,)) (no finite differences). The estimate stays
unbiased for every number of probes; more probes lower its variance. With a batch of images and f
applied to each image independently, summing b * (J_f b) over one image's pixels estimates that
image's own divergence (the cross terms have mean zero), so sure() returns one value per image.

The same function is a risk estimate for any method f (a PDE flow, a network in eval mode) and,
averaged over a batch, a training loss for a network on noisy images only (sure_loss: gradients
flow through f(y) and through the jvp).

Noise2Self (Batson and Royer 2019) needs no sigma: hide a random subset J of pixels (a regular grid
of period p with a random offset: 1/p^2 of the pixels), replace them by the mean of their 8
neighbours, run f, and score f only on J against the noisy values there. For f that is
J-invariant this is, in expectation, the clean MSE plus the (constant) noise variance.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

__all__ = ["PROBES", "probe", "mc_divergence", "sure", "sure_loss", "blind_spot_mask", "noise2self_loss"]

PROBES = ("rademacher", "gaussian")
IMAGE_AXES = (-3, -2, -1)  # one NHWC image (H, W, C); pass (-2, -1) for (..., H, W) PDE-layout images


def _check_sigma(sigma) -> None:
  try:
    v = float(sigma)
  except Exception:  # traced: not checked
    return
  if not (v > 0 and v == v and v != float("inf")):
    raise ValueError(f"sigma={sigma!r} is invalid; expected a finite noise level > 0 (0-255 scale)")


def _check_probes(probes, kind) -> int:
  if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
    raise ValueError(f"probes={probes!r} is invalid; expected a Python int >= 1")
  if kind not in PROBES:
    raise ValueError(f"unknown probe kind={kind!r}; valid: {', '.join(PROBES)}")
  return probes


def _axes(ndim: int, axes: Sequence[int]) -> tuple[int, ...]:
  out = tuple(sorted({a % ndim for a in axes})) if ndim else ()
  if len(out) != len(tuple(axes)) or any(not -ndim <= a < ndim for a in axes):
    raise ValueError(f"axes={tuple(axes)!r} is invalid for an input of rank {ndim}; expected distinct axes")
  return out


def probe(key, shape, dtype=jnp.float32, kind: str = "rademacher") -> jax.Array:
  """A probe b with E[b b^T] = I: +-1 with equal probability ("rademacher") or N(0, 1) ("gaussian")."""
  if kind == "rademacher":
    return jax.random.rademacher(key, shape, dtype=dtype)
  if kind == "gaussian":
    return jax.random.normal(key, shape, dtype=dtype)
  raise ValueError(f"unknown probe kind={kind!r}; valid: {', '.join(PROBES)}")


def mc_divergence(f: Callable, y, key, *, probes: int = 1, kind: str = "rademacher",
                  axes: Sequence[int] = IMAGE_AXES):
  """(f(y), div) with div the Monte-Carlo estimate of tr J_f(y) per image, by exact jax.jvp.

  Args:
    f: maps y to an array of the same shape (e.g. a denoiser closed over its parameters).
    y: input (..., H, W, C) (or any shape with `axes` naming one image's axes).
    key: PRNG key for the probes. probes: number of probes averaged (>= 1). kind: probe law.
    axes: the axes that form one image; div has the shape of the remaining axes.
  Returns:
    f(y) and div (per image, in pixels: the divergence of the identity is the pixel count).
  """
  probes = _check_probes(probes, kind)
  y = jnp.asarray(y)
  red = _axes(y.ndim, axes)
  keys = jax.random.split(key, probes)

  def one(k):
    b = probe(k, y.shape, y.dtype, kind)
    out, jb = jax.jvp(f, (y,), (b,))
    if jb.shape != y.shape:
      raise ValueError(f"f maps shape {tuple(y.shape)} to {tuple(jb.shape)}; expected the same shape")
    return out, jnp.sum(b * jb, axis=red)

  outs, divs = jax.lax.map(one, keys) if probes > 1 else jax.tree.map(lambda a: a[None], one(keys[0]))
  return outs[0], jnp.mean(divs, axis=0)


def sure(f: Callable, y, sigma, key, *, probes: int = 1, kind: str = "rademacher",
         axes: Sequence[int] = IMAGE_AXES) -> jax.Array:
  """Stein's unbiased estimate of the per-image MSE of f(y) against the unseen clean image.

  Args:
    f: the method, y -> estimate of x (same shape). y: noisy images, AWGN of std sigma / 255.
    sigma: noise std on the 0-255 scale (> 0). key, probes, kind, axes: as in mc_divergence.
  Returns:
    SURE per image ([0, 1]^2 units, same as metrics.image.mse), shape of y without `axes`.
    Unbiased for E||f(y) - x||^2 / n; it can be negative for a single draw.
  """
  _check_sigma(sigma)
  y = jnp.asarray(y)
  red = _axes(y.ndim, axes)
  n = 1
  for a in red:
    n *= y.shape[a]
  out, div = mc_divergence(f, y, key, probes=probes, kind=kind, axes=axes)
  s2 = (jnp.asarray(sigma, y.dtype) / 255.0) ** 2
  return jnp.sum((out - y) ** 2, axis=red) / n - s2 + 2.0 * s2 * div / n


def sure_loss(f: Callable, y, sigma, key, *, probes: int = 1, kind: str = "rademacher",
              axes: Sequence[int] = IMAGE_AXES) -> jax.Array:
  """Mean of sure() over the batch: a training loss that needs only noisy images and sigma."""
  return jnp.mean(sure(f, y, sigma, key, probes=probes, kind=kind, axes=axes))


# ----------------------------------------------------------------------------- Noise2Self
def blind_spot_mask(key, shape, period: int = 4) -> jax.Array:
  """Mask (H, W) of the pixels on a period x period grid with a random offset (1 / period^2 of them).

  shape: (..., H, W, C) of the images; one mask is shared by the batch (float, 1 = hidden).
  """
  if isinstance(period, bool) or not isinstance(period, int) or period < 2:
    raise ValueError(f"period={period!r} is invalid; expected a Python int >= 2")
  if len(shape) < 3:
    raise ValueError(f"shape={tuple(shape)!r} is invalid; expected (..., H, W, C)")
  H, W = shape[-3], shape[-2]
  off = jax.random.randint(key, (2,), 0, period)
  rows = (jnp.arange(H) % period) == off[0]
  cols = (jnp.arange(W) % period) == off[1]
  return (rows[:, None] & cols[None, :]).astype(jnp.float32)


def _neighbour_mean(y):
  """Mean of the 8 neighbours of each pixel, (..., H, W, C) -> same.

  The border is mirrored without repeating the edge (row -1 = row 1), so a pixel never enters its own
  mean: with hidden pixels on a grid of period >= 2 the replacement never reads a hidden value.
  """
  pad = [(0, 0)] * (y.ndim - 3) + [(1, 1), (1, 1), (0, 0)]
  P = jnp.pad(y, pad, mode="reflect")
  H, W = y.shape[-3], y.shape[-2]
  total = sum(P[..., i:i + H, j:j + W, :] for i in range(3) for j in range(3) if (i, j) != (1, 1))
  return total / 8.0


def noise2self_loss(f: Callable, y, key, *, period: int = 4) -> jax.Array:
  """Noise2Self masking loss: mean over hidden pixels J of (f(y_J) - y)^2, y_J = y with J interpolated.

  y: noisy images (..., H, W, C). f: denoiser of the same shape. No noise level is needed.
  """
  y = jnp.asarray(y)
  if y.ndim < 3 or min(y.shape[-3], y.shape[-2]) < 2:
    raise ValueError(f"y has shape {tuple(y.shape)}; expected (..., H, W, C) with H, W >= 2")
  m = blind_spot_mask(key, y.shape, period).astype(y.dtype)[:, :, None]
  y_in = y * (1.0 - m) + _neighbour_mean(y) * m
  err = (f(y_in) - y) ** 2 * m
  return jnp.sum(err) / (jnp.sum(m) * (y.size // (y.shape[-3] * y.shape[-2])))
