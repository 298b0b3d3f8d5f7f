"""Fast solver path (pde/fast.py): agreement with the reference step for every prior and bc, trajectories,
odd step counts, fidelity, vmap over parameters, and float64 gradients against finite differences."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pde_cases import PARAMS
from vision_jax import pde
from vision_jax.pde import fast

NAMES = sorted(pde.PRIORS)
BCS = pde.BOUNDARY_CONDITIONS
RNG = np.random.default_rng(3)
U = jnp.asarray(RNG.random((2, 13, 17)), jnp.float32)  # odd, non-square: catches transposed slices


def _x64():
  return jax.enable_x64(True)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bc", BCS)
def test_fast_rhs_matches_reference_rhs(name, bc):
  p = pde.PRIORS[name]
  for h in (1.0, 0.5):
    params = p.resolve_params(PARAMS[name])
    ref = np.asarray(p(U, bc=bc, h=h, **params))
    got = np.asarray(fast.fast_rhs(U, name, bc=bc, h=h, **params))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 2e-6 * max(1.0, np.abs(ref).max()), (name, bc, h)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bc", BCS)
def test_fast_solve_matches_reference_solve(name, bc):
  dt = 0.5 * pde.stability_limit(name, **PARAMS[name])
  kw = dict(bc=bc, **PARAMS[name])
  ref = pde.solve(U, name, 7, dt, method="reference", **kw)  # odd: the pair loop plus one single step
  got = pde.solve(U, name, 7, dt, **kw)
  assert float(jnp.abs(got - ref).max()) < 2e-6
  assert float(jnp.abs(got - U).max()) > 1e-3  # it moved


def test_trajectory_fidelity_and_zero_steps():
  kw = dict(K=0.3, fidelity=0.5)
  ref = pde.solve(U, "perona_malik", 5, 0.2, return_trajectory=True, method="reference", **kw)
  got = pde.solve(U, "perona_malik", 5, 0.2, return_trajectory=True, **kw)
  assert got.shape == (6,) + U.shape and np.array_equal(got[0], U)
  assert float(jnp.abs(got - ref).max()) < 2e-6
  four = pde.solve(U, "perona_malik", 4, 0.2, return_trajectory=True, **kw)
  assert np.allclose(four, got[:5], atol=1e-6)
  assert np.array_equal(pde.solve(U, "zg", 0, 0.01), U)
  assert pde.solve(U, "zg", 0, 0.01, return_trajectory=True).shape == (1,) + U.shape


def test_unregistered_prior_falls_back_to_reference_and_method_is_checked():
  custom = dataclasses.replace(pde.PRIORS["heat"], name="heat")  # same name, not the registered object
  assert not fast.has_fast_path(custom) and fast.has_fast_path(pde.PRIORS["heat"])
  a = pde.solve(U, custom, 6, 0.2)
  assert np.allclose(a, pde.solve(U, "heat", 6, 0.2, method="reference"), atol=0)
  with pytest.raises(ValueError, match="method='slow'; valid: fast, reference"):
    pde.solve(U, "heat", 3, 0.1, method="slow")


def test_vmap_over_K_and_jit_match_loop():
  Ks = jnp.asarray([0.05, 0.1, 0.3], jnp.float32)
  batched = jax.vmap(lambda K: pde.solve(U[0], "perona_malik", 6, 0.2, K=K))(Ks)
  loop = jnp.stack([pde.solve(U[0], "perona_malik", 6, 0.2, K=float(K)) for K in Ks])
  assert float(jnp.abs(batched - loop).max()) < 1e-6
  jitted = jax.jit(lambda u, dt: pde.solve(u, "mpmc", 6, dt))(U, 0.1)  # traced dt
  assert float(jnp.abs(jitted - pde.solve(U, "mpmc", 6, 0.1, method="reference")).max()) < 2e-6


@pytest.mark.parametrize("name,param", [("perona_malik", "K"), ("tv", "eps"), ("zg", "lambda2"), ("mpmc", "K"),
                                        ("tensor", "K")])
def test_float64_gradients_match_finite_differences(name, param):
  clean = np.zeros((12, 12))
  clean[:, 6:] = 0.8
  noisy = clean + 0.05 * np.random.default_rng(0).normal(size=clean.shape)
  steps = 40 if name == "perona_malik" else 10  # the notebook's 40 Perona-Malik steps
  base = {**PARAMS[name]}
  v0 = float(base.get(param, pde.PRIORS[name].defaults[param]))
  dt = 0.5 * pde.stability_limit(name, **{**base, param: v0})
  with _x64():
    u0, ref = jnp.asarray(noisy), jnp.asarray(clean)

    def loss(v):
      return jnp.mean((pde.solve(u0, name, steps, dt, **{**base, param: v}) - ref) ** 2)

    g = float(jax.grad(loss)(jnp.float64(v0)))
    e = 1e-6 * v0
    fd = (float(loss(v0 + e)) - float(loss(v0 - e))) / (2 * e)
    assert abs(g - fd) <= 1e-6 * max(1e-8, abs(fd)) + 1e-12, (g, fd)
    # and with respect to the image, along a random direction (exact jvp = finite difference)
    d = jnp.asarray(np.random.default_rng(1).normal(size=clean.shape))
    f = lambda u: pde.solve(u, name, steps, dt, **{**base, param: v0})
    _, jv = jax.jvp(f, (u0,), (d,))
    fd_u = (f(u0 + 1e-6 * d) - f(u0 - 1e-6 * d)) / 2e-6
    assert float(jnp.abs(jv - fd_u).max()) < 1e-6 * (1 + float(jnp.abs(jv).max()))



@pytest.mark.parametrize("name", NAMES)
def test_per_image_batch_equals_joint_batch_and_gradients_agree(name):
  """batch="per_image" (lax.map) gives the joint loop's values, and "auto" picks it only for big batches."""
  u = jnp.asarray(RNG.random((2, 3, 11, 9)), jnp.float32)
  dt = 0.5 * pde.stability_limit(name, **PARAMS[name])
  kw = dict(fidelity=0.3, **PARAMS[name])
  joint = pde.solve(u, name, 5, dt, batch="joint", **kw)
  per = pde.solve(u, name, 5, dt, batch="per_image", **kw)
  assert float(jnp.abs(per - joint).max()) < 1e-6 and float(jnp.abs(per - u).max()) > 1e-3
  one = pde.solve(u[1, 2], name, 5, dt, **kw)  # image (1, 2) alone
  assert float(jnp.abs(per[1, 2] - one).max()) < 1e-6
  if name == "perona_malik":
    with _x64():
      u64 = jnp.asarray(u, jnp.float64)
      grads = [jax.grad(lambda K: jnp.sum(pde.solve(u64, name, 5, 0.1, batch=b, K=K) ** 2))(jnp.float64(0.3))
               for b in ("joint", "per_image")]
      assert abs(float(grads[0]) - float(grads[1])) <= 1e-10 * abs(float(grads[0]))
  assert fast.use_per_image((16, 256, 256)) and not fast.use_per_image((256, 256))
  assert not fast.use_per_image((16, 256, 256), backend="gpu") and fast.use_per_image((2, 8, 8), "per_image", "gpu")
  assert not fast.use_per_image((64, 40, 40)) and not fast.use_per_image((2, 128, 128))
  assert not fast.use_per_image((16, 256, 256), name="heat") and fast.use_per_image((16, 256, 256), name="tv")
  rec = fast.Scratch()  # SCRATCH_PRIORS are exactly the priors whose step records scratch buffers
  fast._call(name, fast.to_ghost(u[0, 0], "neumann"), fast.make_grid(11, 9, "neumann"), rec,
             pde.PRIORS[name].resolve_params(PARAMS[name]))
  assert bool(rec.specs) == (name in fast.SCRATCH_PRIORS)
  with pytest.raises(ValueError, match="batch='rows' is invalid; expected one of auto, joint, per_image"):
    pde.solve(u, name, 2, dt, batch="rows", **PARAMS[name])


@pytest.mark.parametrize("name", ["perona_malik", "zg", "tensor"])
def test_solve_sharded_equals_solve_under_shard_map(name):
  """The fast path runs inside shard_map (its scratch buffers carry the shard's varying type)."""
  u = jnp.asarray(RNG.random((4, 12, 10)), jnp.float32)
  dt = 0.5 * pde.stability_limit(name, **PARAMS[name])
  for batch in ("joint", "per_image"):
    got = pde.solve_sharded(u, name, 5, dt, batch=batch, **PARAMS[name])
    ref = pde.solve(u, name, 5, dt, **PARAMS[name])
    assert float(jnp.abs(got - ref).max()) < 1e-6 and float(jnp.abs(got - u).max()) > 1e-3
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("images",))
  assert np.allclose(pde.solve_sharded(u, name, 3, dt, mesh=mesh, **PARAMS[name]),
                     pde.solve(u, name, 3, dt, **PARAMS[name]), atol=1e-6)
  with pytest.raises(ValueError, match=r"u0 has shape \(12, 10\); solve_sharded expects a batch \(N, H, W\)"):
    pde.solve_sharded(u[0], name, 3, dt)
  with pytest.raises(ValueError, match="axis='x' is not an axis of the mesh"):
    pde.solve_sharded(u, name, 3, dt, mesh=mesh, axis="x")
