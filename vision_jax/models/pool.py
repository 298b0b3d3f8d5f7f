"""max_pool: a drop-in for flax.linen.max_pool whose CPU route is a fused loop over the window's taps.

XLA:CPU lowers the derivative of ``lax.reduce_window(max)`` (what ``nn.max_pool`` calls) to a
variadic reduce-window that carries four int32 index arrays (one iota per dimension) beside the
values, then a select-and-scatter: in the Xception train step of benchmarks/bench_trainstep.py its
four 3x3/2 pools took about a fifth of the step's op time (benchmarks/profile_trainstep.py, results in
benchmarks/results/trainstep.md, 2026-12-03); this route makes that step 8 % shorter. Here a
kh x kw pool is the elementwise maximum of kh * kw strided slices of the (-inf padded) input
("taps"), one fused loop; the ``jax.custom_jvp`` tangent takes, at each output, the tangent of the
first tap (row-major window order) that attains the maximum. Values equal ``nn.max_pool``'s bit for
bit, and so do the derivatives wherever the maximum is unique; on ties ``lax.reduce_window``'s
derivative picks an implementation-defined tap (on XLA:CPU it differs between float32 and float64),
this one the first. JAX transposes the tangent (selects and pads) for reverse mode; jit, vmap, grad,
grad-of-grad and jax.jvp all work.

Route: the taps on ``jax.default_backend() == "cpu"`` unless ``VISION_JAX_CONV=xla`` (the switch of
models/conv.py, read at trace time); ``nn.max_pool`` on GPU/TPU, for other ranks than a 2-D window
on NHWC input, for integer inputs (no -inf to pad with), and in mode "xla".
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax import lax

from vision_jax.models.conv import conv_mode, explicit_padding


def _taps(x, window, strides, pads):
  """The kh * kw strided slices (N, OH, OW, C) of x padded with -inf, in row-major window order."""
  (kh, kw), (sh, sw) = window, strides
  xp = lax.pad(x, jnp.array(-jnp.inf, x.dtype), ((0, 0, 0), pads[0] + (0,), pads[1] + (0,), (0, 0, 0)))
  oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
  return [lax.slice(xp, (0, i, j, 0), (xp.shape[0], i + sh * (oh - 1) + 1, j + sw * (ow - 1) + 1, xp.shape[3]),
                    (1, sh, sw, 1))
          for i in range(kh) for j in range(kw)]


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def taps_max_pool(x, window: tuple[int, int], strides: tuple[int, int], pads):
  """Max pool of NHWC x over a (kh, kw) window: the maximum of the window's taps (see module doc)."""
  return functools.reduce(jnp.maximum, _taps(x, window, strides, pads))


@taps_max_pool.defjvp
def _taps_max_pool_jvp(window, strides, pads, primals, tangents):
  (x,), (tx,) = primals, tangents
  values = _taps(x, window, strides, pads)
  y = functools.reduce(jnp.maximum, values)  # the primal from the same slices
  taken = jnp.zeros(y.shape, bool)
  ty = jnp.zeros(y.shape, tx.dtype)
  for value, tangent in zip(values, _taps(tx, window, strides, pads)):
    first = (value == y) & ~taken  # the first tap at the maximum, as reduce_window's derivative
    ty = jnp.where(first, tangent, ty)
    taken = taken | first
  return y, ty


def max_pool(x, window_shape: Sequence[int], strides: Sequence[int] | None = None, padding="VALID"):
  """Same arguments and result as ``flax.linen.max_pool``; a 2-D window on (N, H, W, C) takes the tap route on CPU."""
  window = tuple(int(k) for k in window_shape)
  strides = (1,) * len(window) if strides is None else tuple(int(s) for s in strides)
  if (x.ndim != 4 or len(window) != 2 or len(strides) != 2 or not jnp.issubdtype(x.dtype, jnp.floating)
      or conv_mode() == "xla" or jax.default_backend() != "cpu"):
    return nn.max_pool(x, window, strides=strides, padding=padding)
  pads = explicit_padding(padding, x.shape[1:3], window, strides, (1, 1), what="max_pool")
  if any(n + lo + hi < k for n, (lo, hi), k in zip(x.shape[1:3], pads, window)):
    return nn.max_pool(x, window, strides=strides, padding=padding)  # an empty output: flax's shape
  return taps_max_pool(x, window, strides, pads)
