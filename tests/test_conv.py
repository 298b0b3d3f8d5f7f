"""models.conv: the tap (shifted matrix product) convolution equals lax.conv_general_dilated.

Every case runs in float64 (jax.enable_x64) and compares, to 1e-10, the forward pass, the input
gradient and the weight gradient of `conv2d` on the tap route (VISION_JAX_CONV=matmul) and on the
mixed routes the CPU rule uses, against lax.conv_general_dilated and its autodiff; under jit,
vmap, grad-of-grad, jax.jvp and a forward-over-reverse Hessian-vector product. The layer `Conv`
must create the same parameters (names, shapes, initial values) as flax.linen.Conv.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from jax import lax

from vision_jax import cpu_flags
from vision_jax.models import conv as conv_lib
from vision_jax.models.conv import Conv, choose_routes, conv2d

TOL = 1e-10
TAPS = ("taps", "taps", "taps")
DIMS = ("NHWC", "HWIO", "NHWC")

# (x shape, kernel (kh, kw), features, strides, padding, dilation, groups)
CASES = [
    ((2, 9, 8, 3), (1, 1), 5, 1, "SAME", 1, 1),
    ((2, 9, 8, 3), (1, 1), 5, 2, "VALID", 1, 1),
    ((2, 9, 8, 3), (2, 2), 4, 2, "SAME", 1, 1),
    ((2, 9, 8, 3), (3, 3), 4, 1, "SAME", 1, 1),
    ((2, 9, 8, 3), (3, 3), 4, 2, "SAME", 1, 1),
    ((2, 9, 8, 3), (3, 3), 4, 2, "VALID", 1, 1),
    ((2, 9, 8, 3), (3, 3), 4, 1, ((2, 0), (1, -1)), 1, 1),
    ((2, 10, 9, 3), (3, 3), 4, 1, "SAME", 2, 1),
    ((2, 10, 9, 3), (3, 3), 4, 2, ((1, 2), (0, 3)), (2, 1), 1),
    ((1, 9, 9, 2), (4, 4), 3, 1, "SAME", 1, 1),
    ((1, 11, 10, 2), (5, 5), 3, 2, "SAME", 1, 1),
    ((1, 12, 11, 2), (6, 6), 2, 1, "VALID", 1, 1),
    ((1, 13, 12, 2), (7, 7), 2, 2, [(3, 3), (3, 3)], 1, 1),
    ((2, 9, 8, 3), (3, 1), 4, 1, "SAME", 1, 1),
    ((2, 9, 8, 4), (3, 3), 4, 1, "SAME", 1, 4),     # depthwise (Xception, MobileNet)
    ((2, 9, 8, 4), (3, 3), 4, 2, [(1, 1), (1, 1)], 1, 4),
    ((2, 11, 10, 4), (5, 5), 4, 1, "SAME", 2, 4),
    ((2, 9, 8, 4), (3, 3), 8, 1, "SAME", 1, 4),     # depthwise, channel multiplier 2
    ((2, 9, 8, 4), (3, 3), 6, 2, "SAME", 1, 2),     # two groups
]


def _x64():
  return jax.enable_x64(True)


def _data(case, seed=0):
  x_shape, (kh, kw), f, _, _, _, g = case
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal(x_shape))
  w = jnp.asarray(rng.standard_normal((kh, kw, x_shape[-1] // g, f)))
  return x, w


def _reference(case):
  _, _, _, s, pad, d, g = case
  pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
  pad = pad if isinstance(pad, str) else tuple(tuple(p) for p in pad)
  return lambda x, w: lax.conv_general_dilated(x, w, pair(s), pad, rhs_dilation=pair(d),
                                              dimension_numbers=DIMS, feature_group_count=g)


def _ours(case, routes):
  _, _, _, s, pad, d, g = case
  return lambda x, w: conv2d(x, w, s, pad, d, g, routes=routes)


def _value_and_grads(fn, x, w, ct):
  y, vjp = jax.vjp(fn, x, w)
  return (y,) + vjp(ct)


# Every case on the tap route; a 1x1, a 3x3/2, a dilated, a depthwise and a grouped case on the
# mixed routes (tap weight gradient with XLA's forward, and so on); the stacked "cols" route on
# thin-input (C <= F) and thin-output (C > F) cases, as TNRD and 1-channel heads/tails use it.
MIXED = [("xla", "xla", "taps"), ("taps", "xla", "xla"), ("xla", "taps", "xla")]
COLS = ("cols", "cols", "cols")
# one image at a time, a product per kernel row (falls back to taps off stride 1 / groups 1)
ROWS = ("rows", "rows", "rows")
THIN = [((2, 10, 9, 1), (5, 5), 6, 1, "VALID", 1, 1), ((2, 9, 8, 6), (3, 3), 1, 1, "SAME", 1, 1),
        ((2, 11, 9, 6), (3, 3), 2, 2, ((1, 2), (0, 3)), (2, 1), 1),
        ((1, 13, 12, 2), (7, 7), 5, 2, "SAME", 1, 1)]
ROUTE_CASES = ([(c, TAPS) for c in CASES] + [(CASES[i], r) for i in (1, 4, 8, 15, 18) for r in MIXED]
               + [(c, COLS) for c in THIN + [CASES[3], CASES[15]]]
               + [(THIN[0], ("xla", "cols", "xla")), (THIN[1], ("xla", "xla", "cols"))]
               + [(CASES[i], ROWS) for i in (3, 6, 7, 9, 11, 13, 15)] + [(CASES[3], ("xla", "rows", "rows"))])


ROUTE_IDS = [f"k{c[1][0]}x{c[1][1]}-s{c[3]}-{c[4]}-d{c[5]}-g{c[6]}-{'/'.join(r)}"
             for c, r in ROUTE_CASES]


@pytest.mark.parametrize("case,routes", ROUTE_CASES, ids=ROUTE_IDS)
def test_forward_and_gradients_match_lax_in_float64(case, routes):
  with _x64():
    x, w = _data(case)
    ref = _reference(case)
    ct = jnp.asarray(np.random.default_rng(1).standard_normal(jax.eval_shape(ref, x, w).shape))
    got = jax.jit(lambda x, w, ct: _value_and_grads(_ours(case, routes), x, w, ct))(x, w, ct)
    want = _value_and_grads(ref, x, w, ct)
    assert got[0].dtype == jnp.float64
    for name, a, b in zip(("forward", "d/dx", "d/dw"), got, want):
      assert a.shape == b.shape, name
      np.testing.assert_allclose(a, b, rtol=0, atol=TOL, err_msg=name)


@pytest.mark.parametrize("case,routes", [(CASES[4], TAPS), (CASES[8], TAPS), (CASES[15], TAPS),
                                         (CASES[7], ("xla", "rows", "rows"))],
                         ids=["3x3s2", "dilated", "depthwise", "rows"])
def test_second_derivatives_jvp_and_vmap_match_lax(case, routes):
  with _x64():
    x, w = _data(case)
    ours, ref = _ours(case, routes), _reference(case)
    loss = lambda fn: (lambda x, w: jnp.sum(jnp.tanh(fn(x, w)) ** 2))
    # grad-of-grad both ways (the PINN residual differentiates through the network)
    ggx = lambda fn: jax.grad(lambda x: jnp.sum(jax.grad(loss(fn), 1)(x, w) ** 2))(x)
    ggw = lambda fn: jax.grad(lambda w: jnp.sum(jax.grad(loss(fn), 0)(x, w) ** 2))(w)
    # forward mode and forward-over-reverse Hessian-vector product (a custom_vjp would refuse)
    jvp = lambda fn: jax.jvp(fn, (x, w), (0.5 * x, -w))[1]
    hvp = lambda fn: jax.jvp(jax.grad(lambda w: loss(fn)(x, w)), (w,), (0.3 * w,))[1]
    # vmap over a leading axis of x and of w, and per-example weight gradients
    xs, ws = jnp.stack([x, 2 * x, -x]), jnp.stack([w, -w, 0.5 * w])
    vm = lambda fn: jax.vmap(fn)(xs, ws)
    per_example = lambda fn: jax.vmap(jax.grad(loss(fn), 1), in_axes=(0, None))(x[:, None], w)
    for check in (ggx, ggw, jvp, hvp, vm, per_example):
      np.testing.assert_allclose(jax.jit(lambda: check(ours))(), check(ref), rtol=0, atol=TOL)


def test_layer_creates_the_parameters_of_flax_conv():
  x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 8, 8, 4)), jnp.float32)
  key = jax.random.PRNGKey(3)
  for kw in (dict(features=6, kernel_size=(3, 3)),
             dict(features=4, kernel_size=(3, 3), feature_group_count=4, use_bias=False),
             dict(features=5, kernel_size=(5, 5), strides=2, padding="VALID"),
             dict(features=3, kernel_size=(3, 3), padding="CIRCULAR", kernel_dilation=2),
             dict(features=3, kernel_size=(3, 3), mask=jnp.tril(jnp.ones((3, 3, 4, 3))))):
    ours, theirs = Conv(**kw), nn.Conv(**kw)
    p_ours, p_theirs = ours.init(key, x), theirs.init(key, x)
    assert jax.tree.structure(p_ours) == jax.tree.structure(p_theirs), kw
    for a, b in zip(jax.tree.leaves(p_ours), jax.tree.leaves(p_theirs)):
      np.testing.assert_array_equal(a, b)
    # nonzero bias so the bias path is compared too
    p = jax.tree.map(lambda v: v + 0.1, p_theirs)
    np.testing.assert_allclose(ours.apply(p, x), theirs.apply(p, x), rtol=1e-5, atol=1e-5)
  # extra batch dims are flattened and restored as in flax; a 1-D kernel falls back to lax
  x5 = x.reshape(1, 2, 8, 8, 4)
  p = nn.Conv(3, (3, 3)).init(key, x5)
  np.testing.assert_allclose(Conv(3, (3, 3)).apply(p, x5), nn.Conv(3, (3, 3)).apply(p, x5), atol=1e-5)
  x1 = x.reshape(2, 32, 8)
  p = nn.Conv(3, (3,)).init(key, x1)
  np.testing.assert_allclose(Conv(3, (3,)).apply(p, x1), nn.Conv(3, (3,)).apply(p, x1), atol=1e-5)


def test_environment_switch_and_backend_rule(monkeypatch):
  x, w = jnp.ones((1, 6, 6, 4)), jnp.ones((3, 3, 4, 4))
  jaxpr = lambda: str(jax.make_jaxpr(lambda x, w: conv2d(x, w, 1, "SAME"))(x, w))
  monkeypatch.setenv(conv_lib.ENV_VAR, "xla")
  assert "custom_jvp" not in jaxpr() and "conv_general_dilated" in jaxpr()
  monkeypatch.setenv(conv_lib.ENV_VAR, "matmul")
  assert "custom_jvp" in jaxpr() and "conv_general_dilated" not in jaxpr()
  assert choose_routes(x.shape, w.shape, (1, 1), (1, 1), 1) == TAPS
  monkeypatch.setenv(conv_lib.ENV_VAR, "auto")
  # off CPU every op stays on XLA's own path, whatever the shape
  for backend in ("gpu", "tpu"):
    assert choose_routes((8, 32, 32, 32), (3, 3, 1, 32), (1, 1), (1, 1), 32,
                         backend=backend) == ("xla",) * 3
  assert choose_routes((8, 32, 32, 32), (3, 3, 1, 32), (1, 1), (1, 1), 32, backend="cpu") == ("taps",) * 3
  # Under YNNPACK convolutions (XLA's default), DnCNN's 64-channel and ResNet's 128-channel 3x3
  # layers take the weight gradient per image by kernel rows; 1x1, strided, 256 channels or under
  # 16 x 16 pixels: XLA (measured faster there). Under Eigen's (vision_jax.cpu_flags): XLA.
  cpu = lambda x_shape, w_shape, s=(1, 1), ynn=True: choose_routes(x_shape, w_shape, s, (1, 1), 1,
                                                                   backend="cpu", ynn_convolution=ynn)
  assert cpu((16, 40, 40, 64), (3, 3, 64, 64)) == ("xla", "xla", "rows")
  assert cpu((64, 16, 16, 128), (3, 3, 128, 128)) == ("xla", "xla", "rows")
  for args in [((16, 8, 8, 64), (3, 3, 64, 64)), ((16, 40, 40, 64), (3, 3, 64, 64), (2, 2)),
               ((16, 40, 40, 256), (3, 3, 256, 256)), ((16, 40, 40, 64), (1, 1, 64, 64))]:
    assert cpu(*args) == ("xla",) * 3, args
  assert cpu((16, 40, 40, 64), (3, 3, 64, 64), ynn=False) == ("xla",) * 3
  monkeypatch.setenv("XLA_FLAGS", cpu_flags.CONV_FLAG)
  assert choose_routes((16, 40, 40, 64), (3, 3, 64, 64), (1, 1), (1, 1), 1, backend="cpu") == ("xla",) * 3
  monkeypatch.setenv("XLA_FLAGS", "")
  assert choose_routes((16, 40, 40, 64), (3, 3, 64, 64), (1, 1), (1, 1), 1, backend="cpu")[2] == "rows"
  monkeypatch.setenv(conv_lib.ENV_VAR, "fast")
  with pytest.raises(ValueError, match="VISION_JAX_CONV='fast'"):
    jaxpr()


def test_bad_arguments_are_refused_before_tracing():
  x = jnp.ones((1, 6, 6, 4))
  with pytest.raises(ValueError, match="groups=3"):
    conv2d(x, jnp.ones((3, 3, 4, 4)), groups=3)
  with pytest.raises(ValueError, match="routes="):
    conv2d(x, jnp.ones((3, 3, 4, 4)), routes=("taps", "xla"))
  with pytest.raises(ValueError, match="expected NHWC"):
    conv2d(x[0], jnp.ones((3, 3, 4, 4)))
  with pytest.raises(ValueError, match="conv padding 'FULL' is invalid; expected 'SAME', 'VALID'"):
    conv2d(x, jnp.ones((3, 3, 4, 4)), padding="FULL")  # was lax's RuntimeError


def test_depthwise_blocks_are_unchanged_by_the_route(monkeypatch):
  """Xception's SeparableConv and MobileNetV2's stride-2 inverted residual: the same outputs and
  parameter gradients (float64) on XLA's path and on the tap route."""
  from vision_jax.models.classifiers.mobilenet import InvertedResidualV2
  from vision_jax.models.classifiers.xception import SeparableConv

  class Blocks(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = SeparableConv(8, name="sep")(x)
      return InvertedResidualV2(8, 2, 3, name="inv")(x, train=False)

  with _x64():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 12, 12, 4)))
    model = Blocks()
    variables = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(jax.random.PRNGKey(1), x))

    def run(mode):
      monkeypatch.setenv(conv_lib.ENV_VAR, mode)
      loss = lambda p, x: jnp.sum(jnp.sin(model.apply({**variables, "params": p}, x)))
      return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(variables["params"], x)

    want, got = run("xla"), run("matmul")
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
