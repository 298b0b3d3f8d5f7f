"""pde.solve_strips (strips.py): stencil reach of every prior, strip geometry, equality with solve() for every
prior and bc with 2-3 strips (vmap with an axis name, in process) and on 2 real CPU devices (a subprocess)."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pde_cases import PARAMS
from vision_jax import pde
from vision_jax.pde import fast, strips

NAMES = sorted(pde.PRIORS)


def _support_radius(name, params, n=41):
  """Chebyshev radius of the pixels whose F changes when the centre pixel of a random image changes (float64)."""
  with jax.enable_x64(True):
    u = jnp.asarray(np.random.default_rng(0).random((n, n)))
    du = jnp.zeros((n, n)).at[n // 2, n // 2].set(1e-3)
    diff = np.abs(np.asarray(fast.fast_rhs(u + du, name, **params) - fast.fast_rhs(u, name, **params)))
  rows, cols = np.nonzero(diff > 1e-13)
  return int(max(np.abs(rows - n // 2).max(), np.abs(cols - n // 2).max()))


@pytest.mark.parametrize("name,extra", [(n, {}) for n in NAMES] + [("tensor", {"rho": 1.0, "sigma": 0.5})])
def test_stencil_reach_is_the_support_of_one_step(name, extra):
  params = pde.PRIORS[name].resolve_params({**PARAMS[name], **extra})
  assert _support_radius(name, params) == pde.stencil_reach(name, params)


def test_strip_geometry_covers_the_image_with_halos():
  B, L, starts, owned = strips.strip_geometry(23, 3, 4)
  assert (B, L) == (8, 16) and list(owned) == [0, 8, 15] and list(starts) == [0, 4, 7]
  B, L, starts, owned = strips.strip_geometry(256, 2, 16)  # two strips: one halo each
  assert (B, L) == (128, 144) and list(starts) == [0, 112]
  for H, n, halo in [(23, 3, 4), (256, 2, 16), (20, 3, 9), (97, 4, 5), (10, 2, 7)]:
    B, L, starts, owned = strips.strip_geometry(H, n, halo)
    covered = np.zeros(H, bool)
    for s, o in zip(starts, owned):
      covered[o:o + B] = True
      assert 0 <= s <= o and o + B <= s + L <= H
      assert s == 0 or o - s >= halo                 # a cut above the block: a full halo
      assert s + L == H or s + L - (o + B) >= halo   # a cut below it: a full halo
    assert covered.all()
  assert strips.strip_geometry(20, 3, 9)[1] == 20  # halos cover the image: each strip is all of it


def _run_virtual(u, name, steps, dt, fidelity, bc, n_strips, k, halo=None):
  """solve_strips' per-device program run as n_strips vmapped instances (one process, no devices needed)."""
  prior = pde.get_prior(name)
  params = prior.resolve_params(PARAMS[name])
  static, dynamic = prior.split_params(params)
  halo = pde.stencil_reach(name, params) * k if halo is None else halo
  B, L, starts, owned = strips.strip_geometry(u.shape[-2], n_strips, halo)
  body = strips.strips_body(prior, steps, k, bc, static, "fast", True, "rows", u.shape[-2], B, L,
                            tuple(starts), tuple(owned), gather_to="varying")
  out = jax.vmap(body, in_axes=(None, None, None, None), axis_size=n_strips, axis_name="rows")(
      u, jnp.float32(dt), jnp.float32(fidelity), dynamic)
  return out[0], out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_strips_equal_solve_for_every_prior(name, bc):
  """3 strips of a 2 x 29 x 11 stack, 7 steps in blocks of 2 (a remainder block), fidelity on."""
  u = jnp.asarray(np.random.default_rng(1).random((2, 29, 11)), jnp.float32)
  dt = 0.5 * pde.stability_limit(name, 0.1, **PARAMS[name])
  ref = pde.solve(u, name, 7, dt, fidelity=0.1, bc=bc, **PARAMS[name])
  got, every = _run_virtual(u, name, 7, dt, 0.1, bc, n_strips=3, k=2)
  assert float(jnp.abs(got - ref).max()) < 2e-6 and float(jnp.abs(got - u).max()) > 1e-3
  assert float(jnp.abs(every - got[None]).max()) == 0.0  # every instance holds the same image
  wrong, _ = _run_virtual(u, name, 7, dt, 0.1, bc, n_strips=3, k=2, halo=1)  # too thin a halo: cut errors leak
  assert float(jnp.abs(wrong - ref).max()) > 1e-4


def test_solve_strips_errors():
  u = jnp.ones((16, 16))
  with pytest.raises(ValueError, match="bc='periodic' couples the first and last rows"):
    pde.solve_strips(u, "heat", 3, 0.2, bc="periodic")
  with pytest.raises(ValueError, match="block_steps=0 is invalid; expected an int >= 1"):
    pde.solve_strips(u, "heat", 3, 0.2, block_steps=0)
  with pytest.raises(ValueError, match="exceeds the explicit stability limit"):
    pde.solve_strips(u, "heat", 3, 0.3)
  with pytest.raises(ValueError, match="prior 'nope' has no recorded stencil reach"):
    strips.stencil_reach("nope", {})


TWO_DEVICES = textwrap.dedent("""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from vision_jax import pde
    assert jax.device_count() == 2
    u = jnp.asarray(np.random.default_rng(2).random((61, 40)), jnp.float32)
    for name, kw in (("heat", {}), ("perona_malik", {"K": 0.2}), ("tv", {"eps": 0.2})):
      dt = 0.5 * pde.stability_limit(name, **kw)
      ref = pde.solve(u, name, 23, dt, **kw)
      got = pde.solve_strips(u, name, 23, dt, block_steps=5, **kw)
      assert float(jnp.abs(got - ref).max()) < 2e-6, name
      assert got.sharding.is_fully_replicated
    # gradient with respect to K through 12 Perona-Malik steps, against solve's
    f = lambda solver, K: jnp.sum(solver(u, "perona_malik", 12, 0.1, K=K, check_stability=False) ** 2)
    g_ref = jax.grad(lambda K: f(pde.solve, K))(0.2)
    g_got = jax.grad(lambda K: f(lambda *a, **k: pde.solve_strips(*a, block_steps=4, **k), K))(0.2)
    assert abs(float(g_got) - float(g_ref)) <= 1e-4 * abs(float(g_ref)), (g_got, g_ref)
    short = u[:8]  # halos of 10 rows cover it: each device evolves the whole image, same values
    assert float(jnp.abs(pde.solve_strips(short, "heat", 20, 0.1, block_steps=10)
                         - pde.solve(short, "heat", 20, 0.1)).max()) < 2e-6
    print("ok")
""")


def test_solve_strips_on_two_cpu_devices():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  res = subprocess.run([sys.executable, "-c", TWO_DEVICES], env=env, capture_output=True, text=True, timeout=300)
  assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-3000:]
