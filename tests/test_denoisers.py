"""Denoisers: shapes, exact parameter counts, residual/fusion identities, TNRD invariants, training.

Speed note: compiling `model.init` under jit is slow on CPU for conv nets (one threefry RNG
program per parameter; tens of seconds for U2Net). The conv-net tests therefore take parameter
shapes from jax.eval_shape(model.init) and fill them with NumPy (He-normal kernels, zero
biases, BN scale 1 / mean 0 / var 1); only `apply` is compiled. TNRD and the coordinate MLP use
their real init (its values are part of what is tested).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vision_jax.models import get_denoiser as get_denoiser_top
from vision_jax.models.denoisers import DENOISERS, count_params, get_denoiser, scalar_fn
from vision_jax.models.denoisers import tnrd as tnrd_lib

X_SHAPE = (2, 32, 32, 1)

SMALL = {
    "unet": dict(features=(8, 16, 32)),
    "resunet": dict(features=(8, 16)),
    "u2net": dict(width=1, heights=(2, 2, 2, 2)),
    "resu2net": dict(mid=2, features=4, heights=(2, 2, 2, 2), output="residual"),
    "dncnn": dict(depth=4, features=8),
    "tnrd": dict(stages=2, num_filters=8),
}
AUX_KEYS = {
    "unet": {"noise"},
    "resunet": {"noise"},
    "u2net": {"side_outputs", "side_logits", "fused_logits"},
    "resu2net": {"side_outputs", "side_logits", "fused_logits", "noise"},
    "dncnn": {"noise"},
    "tnrd": {"stages"},
}


def _x64():
  if hasattr(jax, "enable_x64"):
    return jax.enable_x64(True)
  from jax.experimental import enable_x64  # older jax
  return enable_x64()


def _image(shape=X_SHAPE, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), shape, jnp.float32)


def _numpy_init(model, x, seed=0):
  """Variables shaped like model.init(key, x), filled with NumPy (no init compile)."""
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = str(getattr(path[-1], "key", path[-1]))
    if name == "kernel":
      fan_in = int(np.prod(leaf.shape[:-1]))
      return jnp.asarray(rng.standard_normal(leaf.shape) * math.sqrt(2.0 / fan_in), leaf.dtype)
    if name in ("scale", "var"):
      return jnp.ones(leaf.shape, leaf.dtype)
    if name in ("bias", "mean"):
      return jnp.zeros(leaf.shape, leaf.dtype)
    raise AssertionError(f"unexpected leaf {name}")

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _init(name, model, x):
  if name == "tnrd":
    return jax.jit(model.init)(jax.random.PRNGKey(0), x)
  return _numpy_init(model, x)


def _apply(model, variables, x, **kw):
  return jax.jit(lambda v, x: model.apply(v, x, **kw))(variables, x)


def _nparams(model, x_shape=X_SHAPE):
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros(x_shape, jnp.float32))
  return count_params(shapes["params"])


def _conv(k, cin, cout, bias=True):
  return k * k * cin * cout + (cout if bias else 0)


# ---------------------------------------------------------------- registry and shapes


def test_registry_names_and_unknown_name():
  assert set(DENOISERS) == {"unet", "resunet", "u2net", "resu2net", "dncnn", "tnrd", "tnrd_blind", "coord_mlp"}
  for getter in (get_denoiser, get_denoiser_top):
    with pytest.raises(ValueError) as err:
      getter("nope")
    msg = str(err.value)
    assert "'nope'" in msg and all(name in msg for name in DENOISERS)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_models_shape_finite_aux(name):
  model = get_denoiser(name, **SMALL[name])
  x = _image()
  variables = _init(name, model, x)
  y, aux = _apply(model, variables, x)
  assert y.shape == X_SHAPE and y.dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(y)))
  assert set(aux) == AUX_KEYS[name]
  if "noise" in aux:  # residual learning: y = x - predicted noise, exactly
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x - aux["noise"]))
  if name == "tnrd":
    assert len(aux["stages"]) == 2
    np.testing.assert_array_equal(np.asarray(aux["stages"][-1]), np.asarray(y))
  if name in ("u2net", "resu2net"):
    _check_u2_fusion(model, variables, x, y, aux)


def _check_u2_fusion(model, variables, x, y, aux):
  """Six full-resolution side outputs, and d0 = the 1x1 fusion conv of the raw side maps."""
  assert len(aux["side_outputs"]) == 6 and len(aux["side_logits"]) == 6
  assert all(s.shape == X_SHAPE for s in aux["side_outputs"] + aux["side_logits"])
  fuse = variables["params"]["fuse"]
  stacked = jnp.concatenate(aux["side_logits"], axis=-1)  # (N, H, W, 6)
  d0 = jnp.einsum("nhwk,ko->nhwo", stacked, fuse["kernel"][0, 0]) + fuse["bias"]
  np.testing.assert_allclose(np.asarray(aux["fused_logits"]), np.asarray(d0), atol=1e-5)
  if model.output == "sigmoid":  # u2net in SMALL
    np.testing.assert_allclose(np.asarray(y), np.asarray(jax.nn.sigmoid(d0)), atol=1e-6)
    sides = [jax.nn.sigmoid(s) for s in aux["side_logits"]]
  else:  # residual (resu2net in SMALL)
    np.testing.assert_allclose(np.asarray(y), np.asarray(x - d0), atol=1e-5)
    sides = [x - s for s in aux["side_logits"]]
  for got, want in zip(aux["side_outputs"], sides):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


@pytest.mark.parametrize("name,kw,shape,multiple", [
    ("unet", {}, (1, 30, 32, 1), 8),
    ("resunet", dict(features=(8, 16)), (1, 32, 33, 1), 2),
    ("u2net", dict(width=1, heights=(2, 2, 2, 2)), (1, 48, 48, 1), 32),
    ("resu2net", dict(heights=(8, 4, 4, 4)), (1, 32, 32, 1), 64),
])
def test_bad_shape_raises_with_shape_and_multiple(name, kw, shape, multiple):
  model = get_denoiser(name, **kw)
  x = jnp.zeros(shape)
  with pytest.raises(ValueError) as err:
    model.init(jax.random.PRNGKey(0), x)
  assert str(shape) in str(err.value) and f"multiples of {multiple}" in str(err.value)


@pytest.mark.parametrize("name,shape", [
    ("unet", (1, 24, 40, 1)), ("resunet", (3, 6, 10, 1)), ("u2net", (1, 32, 96, 1)),
    ("resu2net", (1, 64, 32, 1)), ("dncnn", (1, 7, 13, 1)), ("tnrd", (1, 7, 13, 1)),
])
def test_valid_non_square_shapes(name, shape):
  model = get_denoiser(name, **SMALL[name])
  init_out = lambda x: model.init_with_output(jax.random.PRNGKey(0), x)[0]
  y, aux = jax.eval_shape(init_out, jax.ShapeDtypeStruct(shape, jnp.float32))
  assert y.shape == shape
  assert all(s.shape == shape for s in aux.get("side_outputs", ()))


def test_rank_and_choice_errors():
  with pytest.raises(ValueError, match=r"rank 4.*\(32, 32, 1\)"):
    get_denoiser("dncnn").init(jax.random.PRNGKey(0), jnp.zeros((32, 32, 1)))
  with pytest.raises(ValueError, match="u2net output 'tanh'"):
    get_denoiser("u2net", output="tanh").init(jax.random.PRNGKey(0), jnp.zeros(X_SHAPE))
  with pytest.raises(ValueError, match="heights"):
    get_denoiser("u2net", heights=(7, 6)).init(jax.random.PRNGKey(0), jnp.zeros(X_SHAPE))
  with pytest.raises(ValueError, match="out_channels"):
    get_denoiser("unet", out_channels=3).init(jax.random.PRNGKey(0), jnp.zeros(X_SHAPE))


# ---------------------------------------------------------------- exact parameter counts


def _unet_count(features, c_in, c_out):
  n, prev = 0, c_in
  for f in features:
    n += _conv(3, prev, f) + _conv(3, f, f)
    prev = f
  for i in range(len(features) - 1):
    f, g = features[i], features[i + 1]
    n += _conv(3, g, f) + _conv(3, 2 * f, f) + _conv(3, f, f)
  return n + _conv(1, features[0], c_out)


def test_unet_param_count_formula():
  assert _unet_count((32, 64, 128, 256), 1, 1) == 2_140_065
  assert _nparams(get_denoiser("unet")) == 2_140_065
  assert _nparams(get_denoiser("unet", features=(8, 16, 32))) == _unet_count((8, 16, 32), 1, 1)
  rgb = get_denoiser("unet", features=(16, 32), residual=False, out_channels=1)
  assert _nparams(rgb, (1, 16, 16, 3)) == _unet_count((16, 32), 3, 1)


def test_dncnn_param_count_formula():
  # DnCNN-S: conv(3,1,64)+bias, 15 x [conv(3,64,64) no bias + BN (scale, bias)], conv(3,64,1).
  expected = (9 * 1 * 64 + 64) + 15 * (9 * 64 * 64 + 2 * 64) + 9 * 64 * 1
  assert expected == 556_096
  assert _nparams(get_denoiser("dncnn")) == expected
  # All convs bias-free (the common PyTorch port): the 556,032 quoted in the literature.
  assert _nparams(get_denoiser("dncnn", head_bias=False)) == 556_032
  assert _nparams(get_denoiser("dncnn", depth=20, tail_bias=True)) == expected + 3 * 36_992 + 1


def _rebn(a, b):
  return _conv(3, a, b) + 2 * b


def _rsu(height, cin, mid, out):
  return (_rebn(cin, out) + _rebn(out, mid) + (height - 2) * _rebn(mid, mid) + _rebn(mid, mid)
          + (height - 2) * _rebn(2 * mid, mid) + _rebn(2 * mid, out))


def test_u2net_param_count_matches_reference_definition():
  # The reference PyTorch U2NET(in_ch=3, out_ch=1): stage (height, in, mid, out) lists.
  enc = [(7, 3, 32, 64), (6, 64, 32, 128), (5, 128, 64, 256), (4, 256, 128, 512),
         (4, 512, 256, 512), (4, 512, 256, 512)]
  dec = [(4, 1024, 256, 512), (4, 1024, 128, 256), (5, 512, 64, 128), (6, 256, 32, 64),
         (7, 128, 16, 64)]
  sides = sum(_conv(3, c, 1) for c in (64, 64, 128, 256, 512, 512)) + _conv(1, 6, 1)
  expected = sum(_rsu(*s) for s in enc) + sum(_rsu(*s) for s in dec) + sides
  assert expected == 44_009_869  # = the 44.0M of the paper
  assert _nparams(get_denoiser("u2net", out_channels=1), (1, 32, 32, 3)) == expected


def test_resu2net_and_tnrd_param_counts():
  m, f = 16, 64
  stage = lambda h, cin: _rsu(h, cin, m, f)
  enc = stage(7, 1) + stage(6, f) + stage(5, f) + stage(4, f) + 2 * stage(4, f)
  dec = stage(4, 2 * f) + stage(4, 2 * f) + stage(5, 2 * f) + stage(6, 2 * f) + stage(7, 2 * f)
  expected = enc + dec + 6 * _conv(3, f, 1) + _conv(1, 6, 1)
  assert _nparams(get_denoiser("resu2net")) == expected == 1_130_029
  # TNRD: per stage k*k*C*F filters + F*M RBF weights + 1 lambda.
  assert _nparams(get_denoiser("tnrd")) == 5 * (25 * 24 + 24 * 63 + 1) == 10_565
  assert _nparams(get_denoiser("tnrd", kernel_size=7, num_filters=48, stages=3)) == \
      3 * (49 * 48 + 48 * 63 + 1)


# ---------------------------------------------------------------- TNRD


def test_tnrd_adjoint_and_flipped_kernel():
  with _x64():
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.standard_normal((2, 12, 10, 2)))
    v = jnp.asarray(rng.standard_normal((2, 12, 10, 3)))
    k = jnp.asarray(rng.standard_normal((5, 5, 2, 3)))
    for mode in ("symmetric", "reflect"):
      ku = tnrd_lib.filter_responses(u, k, mode)
      ktv = tnrd_lib.filter_adjoint(v, k, u.shape, mode)
      assert ku.shape == v.shape and ktv.shape == u.shape
      np.testing.assert_allclose(float(jnp.vdot(ku, v)), float(jnp.vdot(u, ktv)), rtol=1e-12)
    # Interior: K^T v is a correlation with the flipped kernel (a true convolution).
    flipped = jnp.transpose(k[::-1, ::-1], (0, 1, 3, 2))  # (k, k, F, C)
    conv = jax.lax.conv_general_dilated(v, flipped, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.asarray(ktv[:, 4:-4, 4:-4]), np.asarray(conv[:, 4:-4, 4:-4]),
                               atol=1e-12)


def test_tnrd_rbf_window_matches_dense_and_init_is_linear():
  rng = np.random.default_rng(1)
  z = jnp.asarray(rng.uniform(-1.5, 1.5, (500, 4)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((4, 63)), jnp.float32)
  phi = jax.jit(tnrd_lib.rbf_influence, static_argnums=(2, 3))
  dense, window = phi(z, w, 1.0, None), phi(z, w, 1.0, 4)
  np.testing.assert_allclose(np.asarray(window), np.asarray(dense), atol=2e-4 * float(
      jnp.abs(dense).max()))
  phi0 = phi(jnp.zeros((1, 4)), w, 1.0, 4)
  np.testing.assert_allclose(np.asarray(phi0), 0, atol=1e-6)  # phi(0) = 0 up to rounding
  bank = tnrd_lib.dct_filters(5, 1, 24).reshape(25, 24)  # initial filters: orthonormal, mean 0
  np.testing.assert_allclose(bank.T @ bank, np.eye(24), atol=1e-6)
  np.testing.assert_allclose(bank.sum(axis=0), 0, atol=1e-6)
  centres, _ = tnrd_lib.rbf_centres(63, 1.0)
  w0 = jnp.broadcast_to(0.01 * centres / math.sqrt(2 * math.pi), (4, 63))
  zi = jnp.linspace(-0.8, 0.8, 41)[:, None] * jnp.ones((1, 4))
  np.testing.assert_allclose(np.asarray(phi(zi, w0, 1.0, 4)), 0.01 * zi,
                             atol=1e-5)


def test_tnrd_linear_influence_matches_numpy_interp():
  rng = np.random.default_rng(2)
  z = rng.uniform(-1.4, 1.4, (300, 3)).astype(np.float32)
  z[:3] = [[-1.0, 1.0, 0.0], [1.4, -1.4, 0.5], [0.999, -0.999, 1e-3]]  # ends, beyond, near knots
  knots = rng.standard_normal((3, 63)).astype(np.float32)
  centres, _ = tnrd_lib.rbf_centres(63, 1.0)
  phi = np.asarray(jax.jit(tnrd_lib.linear_influence, static_argnums=2)(jnp.asarray(z), jnp.asarray(knots), 1.0))
  for i in range(3):  # np.interp holds the end values beyond the range, as documented
    expect = np.interp(z[:, i], centres, knots[i]) - np.interp(0.0, centres, knots[i])
    np.testing.assert_allclose(phi[:, i], expect, atol=2e-5)
  # The linear-influence model starts as the same small linear diffusion as the Gaussian one
  # (for responses inside [-1, 1]; beyond, the Gaussian mixture decays and the knots hold).
  x = 0.3 + 0.4 * _image(seed=6)
  outs = [get_denoiser("tnrd", stages=2, num_filters=8, influence=kind) for kind in ("gaussian", "linear")]
  ys = [jax.jit(lambda x, m=m: m.apply(m.init(jax.random.PRNGKey(0), x), x)[0])(x) for m in outs]
  np.testing.assert_allclose(np.asarray(ys[1]), np.asarray(ys[0]), atol=1e-4)
  with pytest.raises(ValueError, match="influence"):
    get_denoiser("tnrd", influence="cubic").init(jax.random.PRNGKey(0), x)


def _tnrd_random_params(variables, seed=0):
  """Generic (non-init) TNRD parameters, mild enough that the explicit steps stay stable."""
  rng = np.random.default_rng(seed)
  scale = lambda k: 0.02 if "rbf" in k else (0.3 if "filters" in k else 1.0)
  params = {k: jnp.asarray(rng.standard_normal(v.shape) * scale(k), jnp.float32)
            for k, v in variables["params"].items()}
  return {"params": params}


def test_tnrd_identity_with_zero_influence_and_lambda():
  model = get_denoiser("tnrd", **SMALL["tnrd"])
  x = _image(seed=4)
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  params = dict(_tnrd_random_params(variables)["params"])
  for key in params:
    if key.startswith("rbf_weights"):
      params[key] = jnp.zeros_like(params[key])
    if key.startswith("lambda"):
      params[key] = jnp.asarray(-jnp.inf)  # softplus(-inf) = 0
  u0 = _image(seed=5)
  apply = jax.jit(lambda p, x, u0: model.apply({"params": p}, x, u0=u0)[0])
  np.testing.assert_array_equal(np.asarray(apply(params, x, u0)), np.asarray(u0))
  np.testing.assert_array_equal(np.asarray(apply(params, x, x)), np.asarray(x))


def test_tnrd_constant_image_only_reaction_acts():
  model = get_denoiser("tnrd", stages=3, num_filters=6, kernel_size=3)
  f = jnp.full((1, 9, 11, 1), 0.7)
  variables = _tnrd_random_params(jax.eval_shape(model.init, jax.random.PRNGKey(0), f), seed=2)
  apply = jax.jit(lambda v, f, u0: model.apply(v, f, u0=u0))
  y, _ = apply(variables, f, f)  # u0 = f: no diffusion (constant) and no reaction (u = f)
  np.testing.assert_allclose(np.asarray(y), 0.7, atol=1e-5)
  u0 = jnp.full_like(f, 0.2)
  y, aux = apply(variables, f, u0)
  lam = [float(jax.nn.softplus(variables["params"][f"lambda_{t}"])) for t in range(3)]
  expect = 0.2
  for t in range(3):
    expect = expect - lam[t] * (expect - 0.7)  # u_t = u_{t-1} - lambda_t (u_{t-1} - f)
    np.testing.assert_allclose(np.asarray(aux["stages"][t]), expect, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- one Adam step


@pytest.mark.parametrize("name,lr", [("dncnn", 1e-3), ("tnrd", 1e-3), ("unet", 1e-3)])
def test_one_adam_step_reduces_mse(name, lr):
  model = get_denoiser(name, **SMALL[name])
  clean = jax.image.resize(_image((2, 8, 8, 1), seed=6), X_SHAPE, "bilinear")
  noisy = clean + 0.1 * jax.random.normal(jax.random.PRNGKey(7), X_SHAPE)
  variables = _init(name, model, noisy)
  params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}

  def loss_fn(p):
    out = model.apply({"params": p, **state}, noisy, train=True, mutable=list(state) or False)
    y, _ = out[0] if state else out
    return jnp.mean((y - clean) ** 2)

  opt = optax.adam(lr)

  @jax.jit
  def step(p):
    loss, grads = jax.value_and_grad(loss_fn)(p)
    updates, _ = opt.update(grads, opt.init(p), p)
    return loss, optax.apply_updates(p, updates), loss_fn(optax.apply_updates(p, updates))

  before, _, after = step(params)
  assert bool(jnp.isfinite(before)) and float(after) < float(before)


# ---------------------------------------------------------------- coordinate MLP


def test_coord_mlp_gradients_and_scalar_fn():
  model = get_denoiser("coord_mlp", width=16, depth=2, num_fourier=4, fourier_scale=2.0)
  coords = jax.random.uniform(jax.random.PRNGKey(8), (5, 3), minval=-1, maxval=1)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), coords)
  assert set(shapes["params"]) == {"hidden0", "hidden1", "out"}  # Fourier matrix: no param
  assert shapes["params"]["hidden0"]["kernel"].shape == (3 + 2 * 4, 16)
  params = _numpy_init(model, coords)["params"]
  values, aux = jax.jit(model.apply)({"params": params}, coords)
  assert values.shape == (5,) and aux == {}
  grads = jax.jit(jax.grad(lambda c: model.apply({"params": params}, c)[0].sum()))(coords)
  assert grads.shape == (5, 3) and bool(jnp.all(jnp.isfinite(grads)))

  f = scalar_fn(model, params)
  assert float(scalar_fn(model, {"params": params})(*coords[0])) == float(f(*coords[0]))
  value_and_grad = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))
  v1, g1 = value_and_grad(*coords[1])
  np.testing.assert_allclose(float(v1), float(values[1]), rtol=1e-6)
  np.testing.assert_allclose(np.asarray(jnp.stack(g1)), np.asarray(grads[1]), rtol=1e-5,
                             atol=1e-6)
  with _x64():  # Hessian: finite, symmetric; its (x, x) entry matches differences of the grad
    f64 = scalar_fn(model, jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params))
    c = np.asarray(coords[2], np.float64)
    hess = jnp.array(jax.jit(jax.hessian(f64, argnums=(0, 1, 2)))(*c))
    assert hess.shape == (3, 3) and bool(jnp.all(jnp.isfinite(hess)))
    np.testing.assert_allclose(np.asarray(hess), np.asarray(hess.T), atol=1e-10)
    gx = jax.jit(jax.grad(f64, argnums=0))
    eps = 1e-5
    fd = (gx(c[0] + eps, c[1], c[2]) - gx(c[0] - eps, c[1], c[2])) / (2 * eps)
    np.testing.assert_allclose(float(hess[0, 0]), float(fd), rtol=1e-5, atol=1e-7)
  with pytest.raises(ValueError, match=r"\(P, 3\).*\(5, 2\)"):
    model.init(jax.random.PRNGKey(0), coords[:, :2])
