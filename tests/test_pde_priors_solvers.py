"""PDE priors and the explicit solver: invariants (mass, maximum principle, fixed points, symmetry),
the heat kernel against scipy, TV energy decay, limits between priors, stability checks, errors, jit/vmap/grad."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from vision_jax import pde
from vision_jax.pde import operators as ops
from vision_jax.pde import priors

NAMES = sorted(pde.PRIORS)
RNG = np.random.default_rng(0)
NOISE = jnp.asarray(RNG.random((2, 24, 24)), jnp.float32)  # one shape for most tests: compiled once


def _step_image():
  x = np.zeros((24, 24), np.float32)
  x[:, 12:] = 0.8
  x[6:14, 3:8] = 0.4
  return jnp.asarray(x + 0.05 * RNG.normal(size=x.shape).astype(np.float32))


def test_registry_names_fields_and_errors():
  assert set(NAMES) == {"heat", "perona_malik", "mpmc", "zg", "tensor", "tv"}
  for name, p in pde.PRIORS.items():
    assert p.name == name and callable(p.rhs) and p.doc and p.order in (2, 4)
    assert p.field_rhs is not None and pde.get_prior(p) is p
  with pytest.raises(TypeError):
    pde.PRIORS["heat"].defaults["x"] = 1  # read-only
  assert dict(pde.PRIORS["perona_malik"].defaults) == {"K": 0.05, "g": "exponential"}
  with pytest.raises(ValueError, match="unknown prior 'pm2'; valid: heat, mpmc, perona_malik, tensor, tv, zg"):
    pde.get_prior("pm2")
  with pytest.raises(ValueError, match="'kappa'.*'perona_malik'.*valid: K, g"):
    pde.PRIORS["perona_malik"](NOISE[0], kappa=3.0)
  with pytest.raises(ValueError, match="g='tukey'"):
    pde.PRIORS["perona_malik"](NOISE[0], g="tukey")
  with pytest.raises(ValueError, match="K=-1"):
    pde.PRIORS["zg"](NOISE[0], K=-1.0)


def test_stability_limits():
  assert pde.stability_limit("heat") == 0.25 and pde.stability_limit("tensor") == 0.25
  assert math.isclose(pde.stability_limit("tv", eps=0.2), 0.05)
  for l1, l2 in [(1.0, 0.05), (0.0, 1.0), (2.0, 0.0), (0.5, 0.3)]:
    assert math.isclose(pde.stability_limit("zg", lambda1=l1, lambda2=l2), 1 / (4 * l1 + 32 * l2))
  assert math.isclose(pde.stability_limit("heat", fidelity=2.0), 2 / (8 + 2))
  # the bounds are spectral radii: the 5-point Laplacian reaches 8 and the biharmonic 64 (checkerboard)
  cb = jnp.asarray((-1.0) ** np.add.outer(np.arange(8), np.arange(8)), jnp.float32)
  assert np.allclose(ops.laplacian(cb, "periodic"), -8 * cb) and np.allclose(ops.biharmonic(cb, "periodic"), 64 * cb)


@pytest.mark.parametrize("name", NAMES)
def test_constant_image_is_fixed_point_and_rhs_conserves_mass(name):
  p = pde.PRIORS[name]
  const = jnp.full((2, 24, 24), 0.3, jnp.float32)
  assert float(jnp.abs(p(const)).max()) < 1e-6
  f = p(NOISE)  # every prior is in divergence form: zero-flux boundaries conserve the mean
  assert np.allclose(jnp.sum(f, axis=(-2, -1)), 0.0, atol=1e-3)
  # symmetric under swapping x and y (no axis is preferred)
  assert np.allclose(p(jnp.swapaxes(NOISE, -1, -2)), jnp.swapaxes(f, -1, -2), atol=1e-4)
  out = pde.solve(const, name, 10, 0.5 * pde.stability_limit(name))
  assert np.allclose(out, 0.3, atol=1e-6)


@pytest.mark.parametrize("name", ["heat", "perona_malik", "mpmc", "tensor"])
def test_mirror_equivariance(name):
  p = pde.PRIORS[name]  # edge-midpoint schemes are symmetric under flips (the forward-difference TV is not)
  assert np.allclose(p(NOISE[..., ::-1]), p(NOISE)[..., ::-1], atol=1e-4)
  assert np.allclose(p(NOISE[..., ::-1, :]), p(NOISE)[..., ::-1, :], atol=1e-4)


def test_heat_mass_conservation_neumann():
  out = pde.solve(NOISE, "heat", 200, 0.25)
  assert np.allclose(jnp.sum(out, axis=(-2, -1)), jnp.sum(NOISE, axis=(-2, -1)), rtol=1e-5)
  assert float(jnp.std(out)) < 0.2 * float(jnp.std(NOISE))  # it did smooth


@pytest.mark.parametrize("name", ["heat", "perona_malik"])
def test_maximum_principle(name):
  u0 = _step_image()
  traj = pde.solve(u0, name, 60, 0.25, return_trajectory=True, K=0.1) if name != "heat" else \
      pde.solve(u0, name, 60, 0.25, return_trajectory=True)
  assert traj.shape == (61, 24, 24) and np.array_equal(traj[0], u0)
  assert float(traj.min()) >= float(u0.min()) - 1e-6 and float(traj.max()) <= float(u0.max()) + 1e-6
  assert float(traj[-1].max() - traj[-1].min()) < float(u0.max() - u0.min())


def test_heat_matches_gaussian_filter():
  u = np.zeros((65, 65), np.float32)
  u[32, 32] = 1.0
  steps, dt = 80, 0.1  # t = 8, sigma = sqrt(2 t) = 4 px
  out = np.asarray(pde.solve(u, "heat", steps, dt, bc="periodic"))
  ref = ndimage.gaussian_filter(u.astype(np.float64), math.sqrt(2 * steps * dt), mode="wrap", truncate=8.0)
  assert np.abs(out - ref).max() < 0.01 * ref.max()
  assert abs(out.sum() - 1.0) < 1e-5


def test_tv_flow_decreases_total_variation():
  u0 = _step_image()
  eps = 0.1
  traj = pde.solve(u0, "tv", 60, eps / 4, eps=eps, return_trajectory=True)
  energy = np.asarray(ops.total_variation(traj, eps))  # the energy the flow descends, (61,)
  assert np.all(np.diff(energy) <= 1e-5 * energy[0])
  assert energy[-1] < 0.8 * energy[0]
  tv = np.asarray(ops.total_variation(traj))  # plain TV (eps = 0) too
  assert np.all(np.diff(tv) <= 1e-3 * tv[0]) and tv[-1] < tv[0]


def test_perona_malik_with_huge_K_is_heat():
  for g in ("exponential", "rational"):
    assert np.allclose(pde.PRIORS["perona_malik"](NOISE, K=1e4, g=g), ops.laplacian(NOISE), atol=1e-5)
  a = pde.solve(NOISE, "perona_malik", 20, 0.2, K=1e4)
  assert np.allclose(a, pde.solve(NOISE, "heat", 20, 0.2), atol=1e-5)


def test_zg_reduces_to_its_terms():
  zg, pm = pde.PRIORS["zg"], pde.PRIORS["perona_malik"]
  assert np.allclose(zg(NOISE, lambda2=0.0, K=0.2), pm(NOISE, K=0.2), atol=1e-6)
  assert np.allclose(zg(NOISE, lambda1=2.0, lambda2=0.0), 2 * pm(NOISE), atol=1e-5)
  assert np.allclose(zg(NOISE, lambda1=0.0, lambda2=0.3), -0.3 * ops.biharmonic(NOISE), atol=1e-5)


def test_edge_stopping_and_weickert_diffusivity():
  s = np.linspace(0.0, 0.5, 501)
  assert np.allclose(priors.edge_stopping(s**2, 0.1, "exponential"), np.exp(-(s / 0.1) ** 2), atol=1e-6)
  assert np.allclose(priors.edge_stopping(s**2, 0.1, "rational"), 1 / (1 + (s / 0.1) ** 2), atol=1e-6)
  lam = np.asarray(priors.weickert_diffusivity(s**2, 0.1))
  assert lam[0] == 1.0 and np.all(np.diff(lam) <= 1e-7) and 0 <= lam.min()
  assert abs(s[np.argmax(s * lam)] - 0.1) < 0.002  # C_4 = 3.31488 puts the flux maximum at s = K
  g = jax.grad(lambda v: jnp.sum(priors.weickert_diffusivity(v, 0.1)))(jnp.asarray(s**2, jnp.float32))
  assert bool(jnp.all(jnp.isfinite(g)))


def test_tensor_diffuses_along_edges_not_across():
  x = np.zeros((24, 24), np.float32)
  x[:, 12:] = 1.0
  x = jnp.asarray(x + 0.05 * np.random.default_rng(1).normal(size=x.shape).astype(np.float32))
  out = pde.solve(x, "tensor", 40, 0.2, K=0.02, sigma=1.0)
  heat = pde.solve(x, "heat", 40, 0.2)
  contrast = lambda v: float(jnp.mean(v[:, 14:]) - jnp.mean(v[:, :10]))
  assert contrast(out) > 0.9 and contrast(out) > contrast(heat) + 0.05  # the edge survives
  noise = lambda v: float(jnp.std(v[:, 14:20], axis=0).mean())  # fluctuation along the edge direction
  assert noise(out) < 0.5 * noise(x)


def test_unstable_dt_raises_and_override_blows_up():
  with pytest.raises(ValueError, match=r"dt=0.4 exceeds the explicit stability limit 0.25 of prior 'heat'.*"
                                       r"check_stability=False"):
    pde.solve(NOISE, "heat", 5, 0.4)
  with pytest.raises(ValueError, match="'zg'"):
    pde.solve(NOISE, "zg", 5, 0.2)
  with pytest.raises(ValueError, match="fidelity"):
    pde.solve(NOISE, "heat", 5, 0.25, fidelity=1.0)
  out = pde.solve(NOISE, "heat", 60, 0.4, check_stability=False)
  assert float(jnp.abs(out).max()) > 1e3


def test_input_errors_name_the_value():
  with pytest.raises(ValueError, match="unknown prior 'foo'"):
    pde.solve(NOISE, "foo", 5, 0.1)
  with pytest.raises(ValueError, match="bc='reflect'"):
    pde.solve(NOISE, "heat", 5, 0.1, bc="reflect")
  bad = np.array(NOISE[0])
  bad[3, 4] = np.nan
  with pytest.raises(ValueError, match="u0 contains 1 NaN"):
    pde.solve(bad, "heat", 5, 0.1)
  with pytest.raises(ValueError, match="u0 has rank 1"):
    pde.solve(np.zeros(10), "heat", 5, 0.1)
  for steps in (-1, 2.5, True):
    with pytest.raises(ValueError, match="steps="):
      pde.solve(NOISE, "heat", steps, 0.1)
  for dt in (0.0, -0.1, float("nan")):
    with pytest.raises(ValueError, match="dt="):
      pde.solve(NOISE, "heat", 5, dt)
  with pytest.raises(ValueError, match="'K'.*'heat'"):
    pde.solve(NOISE, "heat", 5, 0.1, K=0.1)


def test_zero_steps_and_fidelity():
  assert np.array_equal(pde.solve(NOISE, "heat", 0, 0.1), NOISE)
  assert pde.solve(NOISE, "heat", 0, 0.1, return_trajectory=True).shape == (1, 2, 24, 24)
  # with a fidelity term the flow settles at a fixed point u = u0 + Laplacian(u) / fidelity
  fid = 2.0
  u = pde.solve(NOISE, "heat", 400, 0.1, fidelity=fid)
  assert np.allclose(ops.laplacian(u) + fid * (NOISE - u), 0.0, atol=1e-4)
  assert float(jnp.std(u - NOISE)) < float(jnp.std(pde.solve(NOISE, "heat", 400, 0.1) - NOISE))


def test_jit_vmap_and_nhwc_match_eager():
  kw = dict(K=0.1, g="rational")
  eager = pde.solve(NOISE, "perona_malik", 10, 0.2, **kw)
  jitted = jax.jit(lambda u: pde.solve(u, "perona_malik", 10, 0.2, **kw))(NOISE)
  vmapped = jax.vmap(lambda u: pde.solve(u, "perona_malik", 10, 0.2, **kw))(NOISE)
  for other in (jitted, vmapped):
    assert np.allclose(eager, other, atol=1e-5)
  assert np.allclose(eager[1], pde.solve(NOISE[1], "perona_malik", 10, 0.2, **kw), atol=1e-5)
  heat = pde.solve(NOISE, "heat", 10, 0.2)
  nhwc = pde.solve_nhwc(jnp.moveaxis(NOISE, 0, -1), "heat", 10, 0.2)  # (H, W, C=2)
  assert nhwc.shape == (24, 24, 2) and np.allclose(jnp.moveaxis(nhwc, -1, 0), heat, atol=1e-5)
  p = pde.PRIORS["tv"]  # grid rhs: unjitted and vmapped against Prior.__call__ (jitted)
  f = p(NOISE)
  assert np.allclose(p.rhs(NOISE), f, atol=1e-5)
  assert np.allclose(jax.vmap(lambda u: p(u))(NOISE), f, atol=1e-5)


@pytest.mark.parametrize("name", ["heat", "perona_malik", "tensor"])
def test_grad_through_solve_is_finite(name):
  u0 = _step_image()
  dt = 0.5 * pde.stability_limit(name)
  g, gk = jax.grad(lambda u, K: jnp.sum(pde.solve(u, name, 10, dt, K=K) ** 2), argnums=(0, 1))(u0, 0.1) \
      if name != "heat" else (jax.grad(lambda u: jnp.sum(pde.solve(u, name, 10, dt) ** 2))(u0), 1.0)
  assert g.shape == u0.shape and bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0
  assert np.isfinite(float(gk)) and float(gk) != 0.0  # and with respect to the contrast parameter
