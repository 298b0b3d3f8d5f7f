"""models.pool.max_pool: the tap route equals flax.linen.max_pool (values, and derivatives where the maximum is unique).

Float64 (jax.enable_x64), compared bit for bit. On inputs with exact ties (values rounded to halves)
the values still equal flax's, and the gradient equals a NumPy loop that gives each output's
cotangent to the first input pixel of its window (row-major) at the maximum; reduce_window's own
derivative picks an implementation-defined one there (it differs between float32 and float64 on CPU).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from vision_jax.models.conv import explicit_padding
from vision_jax.models.pool import max_pool

# (x shape, window, strides, padding): the pools of the models (Xception / GoogLeNet 3x3/2 SAME,
# ResNet / DenseNet 3x3/2 with explicit (1, 1), GoogLeNet 3x3/1, the UNets' 2x2/2) and odd sizes.
CASES = [
    ((2, 9, 8, 3), (3, 3), (2, 2), "SAME"),
    ((2, 10, 9, 3), (3, 3), (2, 2), [(1, 1), (1, 1)]),
    ((2, 9, 8, 3), (3, 3), (1, 1), "SAME"),
    ((2, 9, 8, 3), (2, 2), (2, 2), "VALID"),
    ((1, 8, 8, 2), (2, 2), (2, 2), "SAME"),
    ((1, 11, 7, 2), (3, 2), (2, 1), "VALID"),
    ((1, 9, 9, 2), (3, 3), (3, 3), [(0, 2), (1, 0)]),
]


def _x(shape, ties: bool, seed=0):
  x = np.random.default_rng(seed).standard_normal(shape)
  return jnp.asarray(np.round(2 * x) / 2 if ties else x)


def _first_max_gradient(x, g, window, strides, pads):
  """NumPy loops: each output's cotangent g goes to the first pixel (row-major) of its window at the maximum."""
  (kh, kw), (sh, sw), ((pt, _), (pl, _)) = window, strides, pads
  out = np.zeros_like(x)
  for n, oi, oj, c in np.ndindex(g.shape):
    best, at = -np.inf, None
    for i in range(kh):
      for j in range(kw):
        r, q = oi * sh + i - pt, oj * sw + j - pl
        if 0 <= r < x.shape[1] and 0 <= q < x.shape[2] and x[n, r, q, c] > best:
          best, at = x[n, r, q, c], (n, r, q, c)
    out[at] += g[n, oi, oj, c]
  return out


@pytest.mark.parametrize("case", CASES, ids=str)
def test_values_and_gradients_equal_flax_max_pool(case):
  shape, window, strides, padding = case
  with jax.enable_x64(True):
    ref = lambda x: nn.max_pool(x, window, strides=strides, padding=padding)
    ours = jax.jit(lambda x: max_pool(x, window, strides, padding))
    for ties in (False, True):
      x = _x(shape, ties)
      y = ref(x)
      np.testing.assert_array_equal(ours(x), y)
      g = jnp.cos(jnp.arange(y.size, dtype=x.dtype)).reshape(y.shape)  # distinct cotangents
      grad = lambda f: jax.jit(jax.vjp(f, x)[1])(g)[0]
      if ties:
        pads = explicit_padding(padding, shape[1:3], window, strides, (1, 1))
        np.testing.assert_array_equal(grad(ours), _first_max_gradient(np.asarray(x), np.asarray(g), window,
                                                                      strides, pads))
      else:
        np.testing.assert_array_equal(grad(ours), grad(ref))
        t = _x(shape, False, seed=1)
        np.testing.assert_array_equal(jax.jvp(ours, (x,), (t,))[1], jax.jvp(ref, (x,), (t,))[1])


def test_vmap_grad_of_grad_and_the_gradient_mass():
  with jax.enable_x64(True):
    x = _x((3, 2, 9, 8, 3), ties=False)
    f = lambda p: lambda x: jnp.sum(p(x) ** 3)
    ours = f(lambda x: max_pool(x, (3, 3), (2, 2), "SAME"))
    ref = f(lambda x: nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME"))
    np.testing.assert_array_equal(jax.vmap(jax.grad(ours))(x), jax.vmap(jax.grad(ref))(x))
    v = _x(x.shape, False, seed=2)
    hvp = lambda fn: jax.jvp(jax.grad(fn), (x[0],), (v[0],))[1]  # forward over reverse
    np.testing.assert_allclose(hvp(ours), hvp(ref), rtol=0, atol=1e-12)
    # with ties too, every output hands its cotangent to exactly one input pixel
    xt = _x((2, 9, 8, 3), ties=True)
    y = max_pool(xt, (3, 3), (2, 2), "SAME")
    gx = jax.grad(lambda x: jnp.sum(max_pool(x, (3, 3), (2, 2), "SAME")))(xt)
    assert float(jnp.sum(gx)) == y.size and float(jnp.min(gx)) == 0.0


def test_route_follows_the_switch_and_the_rank(monkeypatch):
  x = jnp.zeros((1, 8, 8, 2))
  prims = lambda fn, *a: {e.primitive.name for e in jax.make_jaxpr(fn)(*a).eqns}
  pool = lambda: lambda x: max_pool(x, (2, 2), (2, 2))  # a new function each time: make_jaxpr caches traces
  assert "reduce_window_max" not in prims(pool(), x) and "custom_jvp_call" in prims(pool(), x)
  monkeypatch.setenv("VISION_JAX_CONV", "xla")
  assert "reduce_window_max" in prims(pool(), x)
  monkeypatch.delenv("VISION_JAX_CONV")
  # a 1-D window (exoplanet VGG) and a 3-D input fall back to flax
  x1 = jnp.asarray(np.random.default_rng(0).standard_normal((2, 1, 12, 3)))
  np.testing.assert_array_equal(max_pool(x1, (1, 3), (1, 2)), nn.max_pool(x1, (1, 3), strides=(1, 2)))
  assert "reduce_window_max" in prims(lambda x: max_pool(x, (2,), (2,)), jnp.zeros((1, 8, 2)))
  ints = jnp.arange(32, dtype=jnp.int32).reshape(1, 4, 4, 2)  # integers: flax's route (no -inf)
  np.testing.assert_array_equal(max_pool(ints, (2, 2), (2, 2), "SAME"), nn.max_pool(ints, (2, 2), (2, 2), "SAME"))
  # a window larger than the (padded) input: flax's empty output (AlexNet on tiny inputs)
  small = jnp.ones((1, 2, 2, 3))
  assert max_pool(small, (3, 3), (2, 2)).shape == nn.max_pool(small, (3, 3), strides=(2, 2)).shape == (1, 0, 0, 3)


def test_bad_padding_is_one_line():
  with pytest.raises(ValueError, match="padding 'FULL' is invalid"):
    max_pool(jnp.zeros((1, 4, 4, 1)), (2, 2), (2, 2), "FULL")
  with pytest.raises(ValueError, match="max_pool padding .* or 2 .low, high. pairs"):
    max_pool(jnp.zeros((1, 4, 4, 1)), (2, 2), (2, 2), [(1, 1)])
  assert explicit_padding("same", (5, 5), (3, 3), (2, 2), (1, 1)) == ((1, 1), (1, 1))
