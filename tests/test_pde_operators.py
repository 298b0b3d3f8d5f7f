"""PDE operators: adjointness, exactness on polynomials, curvature of circles, scipy cross-checks, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from vision_jax.pde import operators as ops

BCS = ops.BOUNDARY_CONDITIONS


def _x64():
  """Float64 inside a with-block only (jax.experimental.enable_x64 on older jax)."""
  if hasattr(jax, "enable_x64"):
    return jax.enable_x64(True)
  from jax.experimental import enable_x64  # pragma: no cover
  return enable_x64()


def _grid(n, m=None, h=1.0, c=0.0):
  m = n if m is None else m
  y, x = np.mgrid[:n, :m].astype(np.float64) * h - c
  return x, y


@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("h", [1.0, 0.5])
def test_divergence_is_negative_adjoint_of_gradient(bc, h):
  rng = np.random.default_rng(0)
  u, px, py = (rng.normal(size=(2, 7, 9)) for _ in range(3))
  with _x64():
    ux, uy = ops.gradient(u, bc, h)
    lhs = float(jnp.sum(ux * px + uy * py))
    rhs = -float(jnp.sum(u * ops.divergence(px, py, bc, h)))
    assert ux.dtype == jnp.float64
    assert abs(lhs - rhs) < 1e-10 * (1 + abs(lhs))
    for ax in ("x", "y"):  # each axis separately
      assert np.isclose(float(jnp.sum(ops.forward_diff(u, ax, bc, h) * px)),
                        -float(jnp.sum(u * ops.backward_diff(px, ax, bc, h))), rtol=1e-12, atol=1e-12)


def test_forward_diff_boundary_values():
  u = jnp.array([[1.0, 2.0, 4.0]])
  assert np.allclose(ops.forward_diff(u, "x", "neumann"), [[1, 2, 0]])
  assert np.allclose(ops.forward_diff(u, "x", "dirichlet"), [[1, 2, -4]])
  assert np.allclose(ops.forward_diff(u, "x", "periodic"), [[1, 2, -3]])
  assert np.allclose(ops.forward_diff(u, -2, "neumann"), 0.0)  # a single row: no y variation


@pytest.mark.parametrize("bc", BCS)
def test_laplacian_of_quadratic_exact_in_interior(bc):
  with _x64():
    for h in (1.0, 0.25):
      x, y = _grid(12, 15, h)
      u = 3 * x**2 - 2 * x * y + 5 * y**2 + x - 7
      lap = np.asarray(ops.laplacian(u, bc, h))
      assert np.allclose(lap[1:-1, 1:-1], 16.0, atol=1e-9)


@pytest.mark.parametrize("bc", ["neumann", "periodic"])
def test_laplacian_equals_div_grad_and_unit_diffusion(bc):
  rng = np.random.default_rng(1)
  u = rng.normal(size=(3, 10, 11)).astype(np.float32)
  lap = ops.laplacian(u, bc)
  assert np.allclose(lap, ops.divergence(*ops.gradient(u, bc), bc), atol=1e-5)
  assert np.allclose(lap, ops.nonlinear_diffusion(u, lambda s2: 1.0, bc), atol=1e-5)
  assert np.allclose(lap, ops.node_diffusion(u, jnp.ones_like(u), bc), atol=1e-5)
  assert np.allclose(lap, ops.tensor_diffusion(u, 1.0 + 0 * u, 0 * u, 1.0 + 0 * u, bc), atol=1e-5)


def test_unit_diffusion_is_dirichlet_laplacian():
  u = np.random.default_rng(2).normal(size=(6, 8)).astype(np.float32)
  assert np.allclose(ops.nonlinear_diffusion(u, lambda s2: 1.0, "dirichlet"), ops.laplacian(u, "dirichlet"), atol=1e-5)
  # hand-made zero-padded 5-point stencil
  P = np.pad(u, 1)
  ref = P[1:-1, 2:] + P[1:-1, :-2] + P[2:, 1:-1] + P[:-2, 1:-1] - 4 * u
  assert np.allclose(ops.laplacian(u, "dirichlet"), ref, atol=1e-5)


@pytest.mark.parametrize("bc", ["neumann", "periodic"])
def test_flux_schemes_conserve_mass(bc):
  rng = np.random.default_rng(3)
  u, a, c = rng.random((3, 2, 12, 13))
  b = 0.3 * rng.normal(size=(2, 12, 13))
  with _x64():
    for out in (ops.nonlinear_diffusion(u, lambda s2: 1 / (1 + s2), bc), ops.tensor_diffusion(u, a, b, c, bc),
                ops.node_diffusion(u, a, bc), ops.biharmonic(u, bc), ops.divergence(a, c, bc)):
      assert np.allclose(jnp.sum(out, axis=(-2, -1)), 0.0, atol=1e-11)


def test_biharmonic_of_quartic_polynomials():
  with _x64():
    for bc in BCS:
      x, y = _grid(13, 14, h=0.5, c=3.0)
      b = np.asarray(ops.biharmonic(x**4, bc, h=0.5))[2:-2, 2:-2]
      assert np.allclose(b, 24.0, atol=1e-8)
      b = np.asarray(ops.biharmonic(x**2 * y**2 + 2 * y**3 - x, bc, h=0.5))[2:-2, 2:-2]
      assert np.allclose(b, 8.0, atol=1e-8)


@pytest.mark.parametrize("r0", [15.0, 20.0, 25.0])
def test_curvature_of_circles_is_one_over_r(r0):
  x, y = _grid(81)
  r = np.hypot(x - 40.3, y - 39.6)
  ring = np.abs(r - r0) < 1.0
  k = np.asarray(ops.curvature(jnp.asarray(r, jnp.float32), eps=1e-3))
  assert np.abs(k[ring] * r[ring] - 1).max() < 0.01
  # a bump decreasing outward: level lines are the same circles, curvature -1/r; independent of profile
  bump = np.exp(-(r**2) / (2 * 30.0**2))
  k = np.asarray(ops.curvature(jnp.asarray(bump, jnp.float32), eps=1e-5))
  assert np.abs(k[ring] * r[ring] + 1).max() < 0.02
  # the first-order forward/backward variant is also close
  gx, gy = ops.gradient(r)
  n = 1 / np.sqrt(gx**2 + gy**2 + 1e-6)
  k = np.asarray(ops.divergence(gx * n, gy * n))
  assert abs(np.mean(k[ring] * r[ring]) - 1) < 0.01


def test_central_gradient_and_magnitude_of_plane():
  x, y = _grid(9, 10)
  u = 0.3 * x - 0.4 * y
  gx, gy = ops.central_gradient(u)
  assert np.allclose(gx[1:-1, 1:-1], 0.3, atol=1e-6) and np.allclose(gy[1:-1, 1:-1], -0.4, atol=1e-6)
  for scheme in ("forward", "central"):
    assert np.allclose(ops.gradient_magnitude(u, scheme=scheme)[1:-1, 1:-1], 0.5, atol=1e-6)
  with pytest.raises(ValueError, match="scheme"):
    ops.gradient_magnitude(u, scheme="sobel")


def test_total_variation_of_step_edge():
  u = np.zeros((2, 10, 12), np.float32)
  u[:, :, 6:] = 0.8
  assert np.allclose(ops.total_variation(u), 10 * 0.8, atol=1e-5)
  assert ops.total_variation(u).shape == (2,)


@pytest.mark.parametrize("bc,mode", [("neumann", "reflect"), ("periodic", "wrap"), ("dirichlet", "constant")])
def test_gaussian_smooth_matches_scipy(bc, mode):
  u = np.random.default_rng(4).random((2, 19, 23))
  for sigma in (0.7, 2.0, 6.0):  # 6.0: radius 24 > image size, repeated reflections
    ref = ndimage.gaussian_filter(u, (0, sigma, sigma), mode=mode, truncate=4.0)
    assert np.allclose(ops.gaussian_smooth(u.astype(np.float32), sigma, bc), ref, atol=1e-5)
  assert np.array_equal(ops.gaussian_smooth(u, 0.0), u.astype(ops.gaussian_smooth(u, 0.0).dtype))
  with pytest.raises(ValueError, match="sigma"):
    ops.gaussian_smooth(u, -1.0)


def test_on_nhwc_matches_per_channel():
  x = np.random.default_rng(5).random((2, 8, 9, 3)).astype(np.float32)
  out = ops.on_nhwc(ops.laplacian)(x, "periodic")
  assert out.shape == x.shape
  for ch in range(3):
    assert np.allclose(out[..., ch], ops.laplacian(x[..., ch], "periodic"), atol=1e-6)
  gx, gy = ops.on_nhwc(ops.gradient)(x)
  assert np.allclose(gy[..., 1], ops.gradient(x[..., 1])[1], atol=1e-6)
  tv = ops.on_nhwc(ops.total_variation)(x)  # (N, C): returned as is
  assert tv.shape == (2, 3) and np.allclose(tv[:, 2], ops.total_variation(x[..., 2]), atol=1e-4)
  with pytest.raises(ValueError, match="rank"):
    ops.on_nhwc(ops.laplacian)(x[0, 0])


def test_errors_name_the_bad_value():
  u = np.zeros((4, 4))
  with pytest.raises(ValueError, match="bc='robin'.*dirichlet, neumann, periodic"):
    ops.laplacian(u, "robin")
  with pytest.raises(ValueError, match="rank 1"):
    ops.gradient(np.zeros(5))
  with pytest.raises(ValueError, match="axis"):
    ops.forward_diff(np.zeros((2, 3, 4)), 0)


def test_jit_vmap_grad_through_operators():
  u = jnp.asarray(np.random.default_rng(6).random((3, 12, 12)), jnp.float32)

  def energy(v):  # (..., H, W) -> (...)
    k = ops.curvature(v, 0.1, "periodic")
    terms = k**2 + ops.gaussian_smooth(v, 1.0) ** 2
    return jnp.sum(terms, axis=(-2, -1))

  eager = energy(u)  # leading axes handled natively
  assert eager.shape == (3,)
  assert np.allclose(jax.jit(jax.vmap(energy))(u), eager, rtol=1e-5)
  g = jax.jit(jax.grad(lambda v: jnp.sum(energy(v))))(u)
  assert g.shape == u.shape and bool(jnp.all(jnp.isfinite(g)))
  # the gradient of the TV energy is minus the TV divergence (adjoint pair)
  eps = 0.1
  gtv = jax.grad(lambda v: jnp.sum(ops.total_variation(v, eps)))(u)
  gx, gy = ops.gradient(u)
  n = 1 / jnp.sqrt(gx**2 + gy**2 + eps**2)
  assert np.allclose(gtv, -ops.divergence(gx * n, gy * n), atol=1e-4)
