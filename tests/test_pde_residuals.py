"""PDE residuals: exact autodiff residuals on analytic solutions, grid -> autodiff convergence at
second order, the implicit-step grid residual, a coordinate-MLP PINN use case, errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax import pde
from vision_jax.pde import operators as ops


def _x64():
  """Float64 inside a with-block only (jax.experimental.enable_x64 on older jax)."""
  if hasattr(jax, "enable_x64"):
    return jax.enable_x64(True)
  from jax.experimental import enable_x64  # pragma: no cover
  return enable_x64()


def _points(n=32, t_range=(0.0, 0.5), seed=0):
  rng = np.random.default_rng(seed)
  return np.stack([rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.uniform(*t_range, n)], axis=-1)


def test_heat_separable_solution_has_zero_residual():
  def u(x, y, t):
    return jnp.exp(-2 * jnp.pi**2 * t) * jnp.sin(jnp.pi * x) * jnp.sin(jnp.pi * y)

  r = pde.autodiff_residual(u, jnp.asarray(_points(), jnp.float32), "heat")
  assert r.shape == (32,) and float(jnp.abs(r).max()) < 1e-4
  # a wrong decay rate is caught: residual = (-pi^2 + 2 pi^2) u = pi^2 u
  def wrong(x, y, t):
    return jnp.exp(-jnp.pi**2 * t) * jnp.sin(jnp.pi * x) * jnp.sin(jnp.pi * y)

  pts = jnp.asarray(_points(), jnp.float32)
  expect = jnp.pi**2 * jax.vmap(lambda p: wrong(*p))(pts)
  assert np.allclose(pde.autodiff_residual(wrong, pts, "heat"), expect, atol=1e-3)


def test_gaussian_heat_kernel_has_zero_residual():
  def kernel(x, y, t):
    return jnp.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / (4 * t)) / (4 * jnp.pi * t)

  with _x64():
    r = pde.autodiff_residual(kernel, _points(t_range=(0.05, 0.5)), "heat")
    assert r.dtype == jnp.float64 and float(jnp.abs(r).max()) < 1e-10
  r32 = pde.autodiff_residual(kernel, jnp.asarray(_points(t_range=(0.05, 0.5)), jnp.float32), "heat")
  assert float(jnp.abs(r32).max()) < 1e-4 * 40  # float32: |u_t| is up to ~40 here


def test_biharmonic_of_polynomial_via_zg_is_exact():
  def u(x, y, t):
    return x**4 + x**2 * y**2 + 3 * x * y - y

  pts = jnp.asarray(_points(), jnp.float32)
  r = pde.autodiff_residual(u, pts, "zg", lambda1=0.0, lambda2=0.3)
  assert np.allclose(r, 0.3 * (24 + 8), rtol=1e-5)  # residual = 0 - (-lambda2 Biharmonic u)


def test_nonlinear_priors_on_simple_fields():
  pts = jnp.asarray(_points(), jnp.float32)
  plane = lambda x, y, t: 0.3 * x - 0.7 * y + 0.1
  for name in pde.PRIORS:  # a plane has constant gradient: every flux is constant, residual 0
    assert float(jnp.abs(pde.autodiff_residual(plane, pts, name)).max()) < 1e-5
  quad = lambda x, y, t: 0.5 * (x**2 + y**2) + t
  # perona_malik with huge K is heat: u_t - Laplacian = 1 - 2
  assert np.allclose(pde.autodiff_residual(quad, pts, "perona_malik", K=1e4), -1.0, atol=1e-4)
  # tv: level lines of |x|^2 are circles, curvature div(x/|x|) = 1/r (eps -> 0)
  pts_r = pts.at[:, 0].add(1.0)
  r = jnp.hypot(pts_r[:, 0], pts_r[:, 1])
  res = pde.autodiff_residual(lambda x, y, t: 0.5 * (x**2 + y**2), pts_r, "tv", eps=1e-4)
  assert np.allclose(res, -1.0 / r, rtol=1e-3)
  # tensor (continuous limit): with |grad u| = r << K the diffusivity is 1 and F is the Laplacian, 2
  res = pde.autodiff_residual(lambda x, y, t: 0.5 * (x**2 + y**2), pts_r, "tensor", K=10.0)
  assert np.allclose(res, -2.0, atol=1e-4)  # |grad u| = r << K: lambda1 = 1


def _smooth(x, y, t):
  """A smooth test field with gradients of order 1 (intensity per unit length)."""
  return 0.6 * jnp.sin(jnp.pi * x) * jnp.cos(0.5 * jnp.pi * y) + 0.3 * x * y + 0.2 * jnp.exp(-(x - y) ** 2)


CONVERGENCE = {  # prior -> params; the contrast K is comparable to |grad u| so g is strongly nonlinear
    "heat": {},
    "perona_malik": {"K": 1.0},
    "mpmc": {"K": 2.0, "eps": 0.5},
    "zg": {"lambda1": 1.0, "lambda2": 0.01, "K": 1.0, "g": "rational"},
    "tensor": {"K": 1.0, "m": 2.0, "sigma": 0.0, "rho": 0.0},  # m = 4 is pre-asymptotic until h ~ 1/128
}


@pytest.mark.parametrize("name", sorted(CONVERGENCE))
def test_grid_residual_converges_to_autodiff_at_second_order(name):
  params = CONVERGENCE[name]
  check = [(x, y) for x in (0.25, 0.5, 0.75) for y in (0.25, 0.5, 0.75)]  # on every grid, >= 4h inside
  with _x64():
    exact = pde.autodiff_residual(_smooth, jnp.asarray([(x, y, 0.0) for x, y in check]), name, **params)
    errors = []
    for n in (16, 32, 64):
      h = 1.0 / n
      u = pde.sample_grid(_smooth, (n + 1, n + 1), h)
      res = pde.grid_residual(u, name, h=h, **params)
      at = jnp.asarray([res[round(y * n), round(x * n)] for x, y in check])
      errors.append(float(jnp.abs(at - exact).max()))
    scale = float(jnp.abs(exact).max())
  ratios = [errors[0] / errors[1], errors[1] / errors[2]]
  assert errors[-1] < 0.05 * scale, errors
  assert all(3.2 < r < 4.8 for r in ratios), (errors, ratios)


def test_tv_grid_residual_converges_at_first_order():
  check = [(0.5, 0.5), (0.25, 0.75), (0.75, 0.25)]
  with _x64():
    exact = pde.autodiff_residual(_smooth, jnp.asarray([(x, y, 0.0) for x, y in check]), "tv", eps=0.5)
    errors = []
    for n in (32, 64, 128):
      u = pde.sample_grid(_smooth, (n + 1, n + 1), 1.0 / n)
      res = pde.grid_residual(u, "tv", h=1.0 / n, eps=0.5)
      errors.append(float(jnp.abs(jnp.asarray([res[round(y * n), round(x * n)] for x, y in check]) - exact).max()))
  assert 1.6 < errors[0] / errors[1] < 2.4 and 1.6 < errors[1] / errors[2] < 2.4, errors


def test_grid_residual_forms():
  rng = np.random.default_rng(1)
  u, u_prev = (jnp.asarray(rng.random((2, 16, 16)), jnp.float32) for _ in range(2))
  f = pde.PRIORS["perona_malik"](u, K=0.1)
  assert np.allclose(pde.grid_residual(u, "perona_malik", K=0.1), -f, atol=1e-6)
  r = pde.grid_residual(u, "perona_malik", u_prev=u_prev, tau=0.5, K=0.1)
  assert np.allclose(r, (u - u_prev) / 0.5 - f, atol=1e-5)
  # one explicit heat step from u_prev has zero explicit-step residual, and small implicit-step residual
  u1 = u_prev + 0.05 * ops.laplacian(u_prev)
  assert float(jnp.abs(pde.grid_residual(u1, "heat", u_prev=u_prev, tau=0.05)).mean()) < \
      0.2 * float(jnp.abs(pde.grid_residual(u, "heat", u_prev=u_prev, tau=0.05)).mean())
  with pytest.raises(ValueError, match="both u_prev and tau"):
    pde.grid_residual(u, "heat", u_prev=u_prev)
  with pytest.raises(ValueError, match="u_prev has shape"):
    pde.grid_residual(u, "heat", u_prev=u_prev[0], tau=1.0)
  with pytest.raises(ValueError, match="unknown prior 'laplace'"):
    pde.grid_residual(u, "laplace")
  with pytest.raises(ValueError, match="'lambda3'"):
    pde.grid_residual(u, "zg", lambda3=1.0)


def test_autodiff_residual_of_coordinate_mlp_trains():
  """The PINN use case: a residual loss of an MLP u_theta(x, y, t) is differentiable and jit-able."""
  key = jax.random.key(0)
  sizes = [3, 16, 16, 1]
  params = [(jax.random.normal(k, (a, b)) / math.sqrt(a), jnp.zeros(b))
            for k, a, b in zip(jax.random.split(key, 3), sizes[:-1], sizes[1:])]

  def net(theta, x, y, t):
    z = jnp.stack([x, y, t])
    for w, b in theta[:-1]:
      z = jnp.tanh(z @ w + b)
    return (z @ theta[-1][0] + theta[-1][1])[0]

  pts = jnp.asarray(_points(16), jnp.float32)

  def loss(theta):
    return jnp.mean(pde.autodiff_residual(lambda x, y, t: net(theta, x, y, t), pts, "heat") ** 2)

  value, grads = jax.jit(jax.value_and_grad(loss))(params)
  leaves = jax.tree.leaves(grads)
  assert np.isfinite(float(value)) and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  assert sum(float(jnp.abs(g).sum()) for g in leaves) > 0
  # the residual really is u_t - F: compare with a central finite difference in t
  r = pde.autodiff_residual(lambda x, y, t: net(params, x, y, t), pts, "heat")
  assert np.isclose(float(jnp.mean(r**2)), float(value), rtol=1e-4)
  lap = jax.jit(jax.vmap(lambda p: jnp.trace(jax.hessian(lambda q: net(params, q[0], q[1], p[2]))(p[:2]))))(pts)
  d = 1e-2
  u_at = jax.vmap(lambda p: net(params, *p))
  u_t = (u_at(pts.at[:, 2].add(d)) - u_at(pts.at[:, 2].add(-d))) / (2 * d)
  assert np.allclose(r, u_t - lap, atol=2e-3)


def test_autodiff_residual_errors_and_grid_helpers():
  u = lambda x, y, t: x
  with pytest.raises(ValueError, match=r"points has shape \(5, 2\)"):
    pde.autodiff_residual(u, jnp.zeros((5, 2)), "heat")
  with pytest.raises(ValueError, match="unknown prior"):
    pde.autodiff_residual(u, jnp.zeros((5, 3)), "bilaplace")
  pts = pde.grid_points((2, 3), h=0.5, t=1.0)
  assert np.allclose(pts[4], [0.5, 0.5, 1.0]) and pts.shape == (6, 3)  # pixel (1, 1): x = 0.5, y = 0.5
  img = pde.sample_grid(lambda x, y, t: x + 10 * y, (2, 3), h=0.5)
  assert np.allclose(img, [[0, 0.5, 1.0], [5, 5.5, 6.0]])
