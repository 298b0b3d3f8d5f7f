"""Explicit-Euler solver for the PDE priors: u <- u + dt (F(u) + fidelity (u0 - u)).

Images are (..., H, W) at unit grid spacing (one pixel); time is in the units implied by that
spacing (for "heat", t steps of the flow equal a Gaussian blur of sigma = sqrt(2 t) pixels).

Two implementations of the same step: method="fast" (default for the registered priors; ghost
cells, masked edge differences and in-place buffers, see fast.py) and method="reference" (the
operators.py rhs re-padded every step, also used for a Prior built by hand). They agree to float32
rounding for every prior and bc (tests/test_pde_fast.py). Parameter grids (K x stopping step) for one
image run as one vmapped call: see grid.py.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import jax.numpy as jnp

from vision_jax import validate
from vision_jax.pde import fast as fast_lib
from vision_jax.pde import operators as ops
from vision_jax.pde.priors import Prior, get_prior


def _concrete_float(x):
  """float(x) for a concrete scalar, None for a tracer."""
  try:
    return float(x)
  except Exception:  # jax tracer (dt or a parameter is being traced)
    return None


def stability_limit(prior, fidelity: float = 0.0, **params) -> float:
  """Largest stable explicit-Euler dt at unit spacing for prior (+ the fidelity term).

  The fidelity term -fidelity * u adds `fidelity` to the spectral radius rho = 2 / limit of the
  prior, so the combined limit is 2 / (2 / limit + fidelity).
  """
  prior = get_prior(prior)
  limit = float(prior.stability_limit(prior.resolve_params(params)))
  if fidelity:
    limit = 2.0 / (2.0 / limit + float(fidelity))
  return limit


def _check_steps(steps) -> int:
  if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
    raise ValueError(f"steps={steps!r} is invalid; expected a Python int >= 0")
  return int(steps)


METHODS = ("fast", "reference")


def evolve(u0, prior: Prior, steps: int, dt, fidelity, params: dict, *, bc: str = "neumann",
           method: str = "fast", emit=None, use_fidelity: bool = True, batch: str = "auto", ref=None):
  """Traceable core of solve(): `steps` steps from u0, optionally emitting emit(u) after each step.

  No validation (solve() and grid.py validate first); params must be complete. Returns (u, emitted)
  with emitted the stacked emit outputs, leading axis `steps` (None without emit or for 0 steps).
  method="fast" falls back to the reference step for a Prior that is not registered; batch (fast path
  only): "auto", "joint" or "per_image", see fast.use_per_image. ref: the image the fidelity term pulls
  towards (default u0; solve_strips restarts from later states with the original image).
  """
  ref = u0 if ref is None else ref
  if method == "fast" and fast_lib.has_fast_path(prior):
    return fast_lib.evolve(u0, prior.name, steps, dt, fidelity, params, bc, emit=emit, use_fidelity=use_fidelity,
                           batch=batch, ref=ref)

  def step(u):
    F = prior.rhs(u, bc=bc, **params)
    return u + dt * (F + fidelity * (ref - u) if use_fidelity else F)

  if emit is None or steps == 0:
    return jax.lax.fori_loop(0, steps, lambda i, u: step(u), u0), None

  def body(u, _):
    u = step(u)
    return u, emit(u)
  return jax.lax.scan(body, u0, None, length=steps)


@functools.partial(jax.jit, static_argnames=("prior", "steps", "bc", "static", "trajectory", "method",
                                             "use_fidelity", "batch"))
def _solve_jit(u0, dt, fidelity, dynamic, *, prior, steps, bc, static, trajectory, method="reference",
               use_fidelity=True, batch="auto"):
  params = {**dynamic, **dict(static)}
  u, traj = evolve(u0, prior, steps, dt, fidelity, params, bc=bc, method=method,
                   emit=(lambda v: v) if trajectory else None, use_fidelity=use_fidelity, batch=batch)
  if not trajectory:
    return u
  return u0[None] if traj is None else jnp.concatenate([u0[None], traj], axis=0)


def check_dt(prior: Prior, dt, fidelity, params: dict, check_stability: bool = True):
  """ValueError unless concrete dt > 0 (finite), fidelity >= 0 and dt within the stability limit.

  Returns (dt, fidelity) as Python floats, None for a traced value (not checked).
  """
  dt_val, fid_val = _concrete_float(dt), _concrete_float(fidelity)
  if dt_val is not None and not (dt_val > 0 and math.isfinite(dt_val)):
    raise ValueError(f"dt={dt!r} is invalid; expected a finite number > 0")
  if fid_val is not None and not (fid_val >= 0 and math.isfinite(fid_val)):
    raise ValueError(f"fidelity={fidelity!r} is invalid; expected a finite number >= 0")
  if check_stability and dt_val is not None and fid_val is not None:
    try:
      limit = stability_limit(prior, fid_val, **params)
    except (TypeError, jax.errors.ConcretizationTypeError):  # traced parameters: cannot bound
      limit = math.inf
    if dt_val > limit * (1 + 1e-9):
      extra = f" with fidelity={fid_val:g}" if fid_val else ""
      raise ValueError(f"dt={dt_val:g} exceeds the explicit stability limit {limit:.6g} of prior "
                       f"'{prior.name}'{extra} (unit grid spacing); pass check_stability=False to override")
  return dt_val, fid_val


def prepare(u0, prior, steps, dt, fidelity, bc: str, method: str, check_stability: bool, params: dict):
  """The checks of solve(): (Prior, u0 as a finite float image, steps, complete params, concrete fidelity or None).

  One-line ValueErrors for an unknown prior / bc / method / parameter, bad steps, a non-finite or
  rank < 2 u0, and dt or fidelity out of range (see check_dt).
  """
  prior = get_prior(prior)
  ops.check_bc(bc)
  if method not in METHODS:
    raise ValueError(f"unknown solver method={method!r}; valid: {', '.join(METHODS)}")
  steps = _check_steps(steps)
  u0 = ops.as_image(u0, "u0")
  validate.check_finite(u0, "u0")
  params = prior.resolve_params(params)
  _, fid_val = check_dt(prior, dt, fidelity, params, check_stability)
  return prior, u0, steps, params, fid_val


def solve(u0, prior, steps: int, dt: float, *, fidelity: float = 0.0, return_trajectory: bool = False,
          check_stability: bool = True, bc: str = "neumann", method: str = "fast", batch: str = "auto",
          **params):
  """Runs `steps` explicit-Euler steps of u_t = F(u) + fidelity (u0 - u) from u0.

  Args:
    u0: image(s) (..., H, W), float; leading axes are batch/channel.
    prior: a registered name ("heat", "perona_malik", "mpmc", "zg", "tensor", "tv") or a Prior.
    steps: number of steps, a Python int >= 0 (static: each value compiles once).
    dt: time step (unit grid spacing). Checked against the prior's explicit stability limit
      (see priors.py) unless check_stability=False or dt is traced.
    fidelity: weight of the reaction term pulling u back to u0 (0 = pure flow).
    return_trajectory: if True, returns (steps + 1, ..., H, W) with u0 first.
    bc: "neumann" (default), "dirichlet" or "periodic".
    method: "fast" (default; the reference step for a Prior that is not registered) or "reference".
    batch: how the fast path runs several images: "auto" (default), "joint" (one loop over the whole
      array) or "per_image" (lax.map, each image's steps in cache); identical values (fast.use_per_image).
    **params: prior parameters (see PRIORS[name].defaults); unknown names raise ValueError.

  Returns:
    u at time steps * dt, same shape as u0 (or the trajectory).
  """
  fast_lib.check_batch(batch)
  prior, u0, steps, params, fid_val = prepare(u0, prior, steps, dt, fidelity, bc, method, check_stability, params)
  static, dynamic = prior.split_params(params)
  return _solve_jit(u0, jnp.asarray(dt, u0.dtype), jnp.asarray(fidelity, u0.dtype), dynamic,
                    prior=prior, steps=steps, bc=bc, static=static, trajectory=bool(return_trajectory),
                    method=method, use_fidelity=fid_val != 0.0, batch=batch)


def solve_sharded(u0, prior, steps: int, dt: float, *, mesh=None, axis: str | None = None, **kwargs):
  """solve() with the images of a batch (N, H, W) split over the devices of a mesh, one shard each.

  The images evolve independently, so each device runs its shard's loop with no communication (on a
  CPU host with jax_num_cpu_devices = cores, one core per shard). Values equal solve(u0, ...).

  Args:
    u0: (N, H, W) with N divisible by the size of the mesh axis. prior, steps, dt, **kwargs: as solve()
      (return_trajectory is not supported here).
    mesh: a jax.sharding.Mesh (default: all devices on one axis "batch"); axis: its axis to split N
      over (default: the mesh's first axis).
  Returns:
    (N, H, W), sharded over `axis`.
  """
  from jax.sharding import Mesh, NamedSharding, PartitionSpec
  import numpy as np

  if kwargs.get("return_trajectory"):
    raise ValueError("solve_sharded does not return trajectories; use solve(..., return_trajectory=True)")
  u0 = ops.as_image(u0, "u0")
  if u0.ndim != 3:
    raise ValueError(f"u0 has shape {tuple(u0.shape)}; solve_sharded expects a batch (N, H, W)")
  mesh = mesh if mesh is not None else Mesh(np.asarray(jax.devices()), ("batch",))
  axis = axis or mesh.axis_names[0]
  if axis not in mesh.axis_names:
    raise ValueError(f"axis={axis!r} is not an axis of the mesh {mesh.axis_names}")
  n_dev = mesh.shape[axis]
  if u0.shape[0] % n_dev:
    raise ValueError(f"batch of {u0.shape[0]} images does not split over {n_dev} devices of mesh axis {axis!r}; "
                     "pad it to a multiple")
  spec = PartitionSpec(axis)
  u0 = jax.device_put(u0, NamedSharding(mesh, spec))
  key = (get_prior(prior), int(steps), float(dt), mesh, axis, tuple(sorted(kwargs.items())))
  try:
    run = _SHARDED.get(key)
  except TypeError:  # an unhashable keyword value (an array): no caching
    key, run = None, None
  if run is None:
    run = jax.jit(jax.shard_map(lambda u: solve(u, prior, steps, dt, **kwargs), mesh=mesh, in_specs=spec,
                                out_specs=spec))
    if key is not None:
      _SHARDED[key] = run
  return run(u0)


_SHARDED: dict = {}  # (prior, steps, dt, mesh, axis, kwargs) -> jitted shard_map of solve


def solve_nhwc(x, prior, steps: int, dt: float, **kwargs):
  """solve() for NHWC images (..., H, W, C): each channel evolves independently."""
  return ops.on_nhwc(lambda u: solve(u, prior, steps, dt, **kwargs))(x)


__all__ = ["METHODS", "check_dt", "evolve", "prepare", "solve", "solve_nhwc", "solve_sharded", "stability_limit", "Prior"]
