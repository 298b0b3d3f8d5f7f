"""One image's explicit solve split into row strips over the devices of a mesh (temporal blocking).

    pde.solve_strips(u0, "heat", steps=200, dt=0.25)       # (..., H, W) on all devices, one strip each

An explicit step changes a pixel only through its neighbours within the prior's stencil reach r
(stencil_reach: 1 row for heat, Perona-Malik and TV; 2 for mpmc and zg; the Gaussian radii + 2 for
tensor). So a strip of rows evolved k steps on its own, with any boundary rule at its cut edges, is
exact except within r * k rows of a cut. Each device owns B = ceil(H / D) rows, evolves them with a
halo of R = r * k rows on each cut side (strip of L = B + R rows for 2 devices, B + 2R for more),
and after every block of k steps the devices exchange their owned rows (one all_gather of the image)
and cut their strips again. The real top and bottom borders lie in the first and last strips, where
the prior's bc applies as in solve(). Work grows by R / B per step and the exchange costs about one
image copy per block: block_steps=None picks k = B / (8 r), a 12 % overhead on 2 devices.

The values equal solve(u0, ...) to float32 rounding (tests/test_pde_strips.py). Use it for single
large images on a multi-core CPU (one device per core, jax_num_cpu_devices) or several accelerators;
batches of images are better split by image (solve_sharded), which needs no exchange. Measured on a
2-core EPYC (benchmarks/results/bench_pde.md): 1.5-1.9x over solve() on 1024^2 for the nonlinear
priors, no gain for heat, slower on 256^2 (the exchange and the halo rows cost more than the second core returns).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.pde import operators as ops
from vision_jax.pde import solvers


def stencil_reach(name: str, params: dict) -> int:
  """Rows (and columns) beyond which one explicit step of prior `name` cannot see: F(u)[i, j] depends
  on u only within |di|, |dj| <= reach. params: the prior's complete parameters.

  heat (5-point), perona_malik and tv (edge fluxes with tangential central differences): 1;
  mpmc (curvature, then its diffusivity averaged onto edges) and zg (Laplacian of the Laplacian): 2;
  tensor: the radii of its two Gaussian blurs, plus 1 for the central gradient and 1 for the fluxes.
  tests/test_pde_strips.py checks every value against the support of F's response to one pixel.
  """
  if name in ("heat", "perona_malik", "tv"):
    return 1
  if name in ("mpmc", "zg"):
    return 2
  if name == "tensor":
    radius = lambda s: len(ops.gaussian_kernel1d(float(s))) // 2 if float(s) > 0 else 0
    return radius(params["sigma"]) + radius(params["rho"]) + 2
  raise ValueError(f"prior {name!r} has no recorded stencil reach; solve_strips supports heat, perona_malik, "
                   "mpmc, zg, tensor and tv")


def rows_per_device(H: int, n_dev: int) -> int:
  """B = ceil(H / n_dev): the rows each device owns (the last block overlaps the one before when n_dev B > H)."""
  return -(-H // n_dev)


def strip_geometry(H: int, n_dev: int, halo: int):
  """(B, L, starts, owned): rows owned per device, strip length, and per device the first row of its
  strip and of its owned block (both (n_dev,) int arrays). The last device owns rows [H - B, H).

  Every owned block lies >= halo rows from each cut edge of its strip (a strip clipped at the top or
  bottom of the image has the real border there instead). When the halos would cover the image
  (L = H) every device evolves the whole image: still exact, but no faster than solve().
  """
  B = rows_per_device(H, n_dev)
  L = min(H, B + (halo if n_dev == 2 else 2 * halo))
  owned = np.minimum(np.arange(n_dev) * B, H - B)
  starts = np.clip(owned - halo, 0, H - L)
  return B, L, starts, owned


def _assemble(blocks, H: int):
  """(D, ..., B, W) owned blocks -> (..., H, W); the last block overlaps the one before when D B > H."""
  D, B = blocks.shape[0], blocks.shape[-2]
  blocks = jnp.moveaxis(blocks, 0, -3)                                   # (..., D, B, W)
  head = blocks[..., :-1, :, :].reshape(blocks.shape[:-3] + ((D - 1) * B, blocks.shape[-1]))
  return jnp.concatenate([head, blocks[..., -1, D * B - H:, :]], axis=-2)


def solve_strips(u0, prior, steps: int, dt: float, *, fidelity: float = 0.0, mesh=None, axis: str | None = None,
                 block_steps: int | None = None, bc: str = "neumann", check_stability: bool = True,
                 method: str = "fast", **params):
  """solve() for one image (or a stack sharing its rows) split into row strips, one per device.

  Args:
    u0: (..., H, W) float. prior, steps, dt, fidelity, bc, check_stability, method, **params: as
      solve() (bc "neumann" or "dirichlet": "periodic" couples the first and last rows).
    mesh: a jax.sharding.Mesh (default: all devices on one axis "rows"); axis: its axis to split the
      rows over (default: its first axis).
    block_steps: steps between exchanges, k (default B / (8 reach), at least 1).
  Returns:
    (..., H, W), the same values as solve(u0, prior, steps, dt, ...) (replicated on the mesh).
  """
  from jax.sharding import Mesh, NamedSharding, PartitionSpec

  prior, u0, steps, params, fid_val = solvers.prepare(u0, prior, steps, dt, fidelity, bc, method, check_stability,
                                                     params)
  if bc == "periodic":
    raise ValueError("bc='periodic' couples the first and last rows of the image; solve_strips supports "
                     "'neumann' and 'dirichlet' (use solve() for periodic)")
  mesh = mesh if mesh is not None else Mesh(np.asarray(jax.devices()), ("rows",))
  axis = axis or mesh.axis_names[0]
  if axis not in mesh.axis_names:
    raise ValueError(f"axis={axis!r} is not an axis of the mesh {mesh.axis_names}")
  n_dev, H = int(mesh.shape[axis]), int(u0.shape[-2])
  reach = stencil_reach(prior.name, params)
  if block_steps is None:
    block_steps = max(1, rows_per_device(H, n_dev) // (8 * reach))
  if isinstance(block_steps, bool) or not isinstance(block_steps, int) or block_steps < 1:
    raise ValueError(f"block_steps={block_steps!r} is invalid; expected an int >= 1")
  block_steps = min(block_steps, max(steps, 1))
  B, L, starts, owned = strip_geometry(H, n_dev, reach * block_steps)
  static, dynamic = prior.split_params(params)
  run = _strips_fn(prior, steps, block_steps, bc, static, method, fid_val != 0.0, mesh, axis, H, B, L,
                   tuple(int(s) for s in starts), tuple(int(o) for o in owned))
  rep = NamedSharding(mesh, PartitionSpec())
  return run(jax.device_put(u0, rep), jnp.asarray(dt, u0.dtype), jnp.asarray(fidelity, u0.dtype), dynamic)


def strips_body(prior, steps: int, k: int, bc: str, static, method: str, use_fidelity: bool, axis: str, H: int,
                B: int, L: int, starts, owned, gather_to: str = "invarying"):
  """The per-device program, f(u0, dt, fidelity, dynamic) -> u: run under shard_map with one instance per
  strip (or under vmap with axis_name=axis and gather_to="varying", as the tests do); every instance
  returns the whole image."""
  n_blocks, rest = divmod(steps, k)

  def per_device(u0, dt, fidelity, dynamic):
    params = {**dynamic, **dict(static)}
    i = jax.lax.axis_index(axis)
    start = jnp.asarray(starts)[i]
    offset = jnp.asarray(owned)[i] - start
    cut = lambda u: jax.lax.dynamic_slice_in_dim(u, start, L, axis=-2)
    ref = cut(u0)

    def block(u, n):
      strip, _ = solvers.evolve(cut(u), prior, n, dt, fidelity, params, bc=bc, method=method,
                                use_fidelity=use_fidelity, ref=ref)
      mine = jax.lax.dynamic_slice_in_dim(strip, offset, B, axis=-2)
      return _assemble(jax.lax.all_gather(mine, axis, to=gather_to), H)

    u = jax.lax.fori_loop(0, n_blocks, lambda _, u: block(u, k), u0) if n_blocks else u0
    return block(u, rest) if rest else u

  return per_device


@functools.lru_cache(maxsize=64)
def _strips_fn(prior, steps, k, bc, static, method, use_fidelity, mesh, axis, H, B, L, starts, owned):
  """The jitted shard_map of one setting (cached: building it retraces)."""
  from jax.sharding import PartitionSpec

  body = strips_body(prior, steps, k, bc, static, method, use_fidelity, axis, H, B, L, starts, owned)
  rep = PartitionSpec()
  return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(rep, rep, rep, rep), out_specs=rep))


__all__ = ["solve_strips", "stencil_reach", "strip_geometry", "strips_body"]
