"""Explicit-Euler solver for the PDE priors: u <- u + dt (F(u) + fidelity (u0 - u)).

Images are (..., H, W) at unit grid spacing (one pixel); time is in the units implied by that
spacing (for "heat", t steps of the flow equal a Gaussian blur of sigma = sqrt(2 t) pixels).
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import jax.numpy as jnp

from vision_jax import validate
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


@functools.partial(jax.jit, static_argnames=("prior", "steps", "bc", "static", "trajectory"))
def _solve_jit(u0, dt, fidelity, dynamic, *, prior, steps, bc, static, trajectory):
  params = {**dynamic, **dict(static)}

  def step(u):
    return u + dt * (prior.rhs(u, bc=bc, **params) + fidelity * (u0 - u))

  if trajectory:
    def body(u, _):
      u = step(u)
      return u, u
    _, traj = jax.lax.scan(body, u0, None, length=steps)
    return jnp.concatenate([u0[None], traj], axis=0)
  return jax.lax.fori_loop(0, steps, lambda i, u: step(u), u0)


def solve(u0, prior, steps: int, dt: float, *, fidelity: float = 0.0, return_trajectory: bool = False,
          check_stability: bool = True, bc: str = "neumann", **params):
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
    **params: prior parameters (see PRIORS[name].defaults); unknown names raise ValueError.

  Returns:
    u at time steps * dt, same shape as u0 (or the trajectory).
  """
  prior = get_prior(prior)
  ops.check_bc(bc)
  steps = _check_steps(steps)
  u0 = ops.as_image(u0, "u0")
  validate.check_finite(u0, "u0")
  params = prior.resolve_params(params)
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
  static, dynamic = prior.split_params(params)
  return _solve_jit(u0, jnp.asarray(dt, u0.dtype), jnp.asarray(fidelity, u0.dtype), dynamic,
                    prior=prior, steps=steps, bc=bc, static=static, trajectory=bool(return_trajectory))


def solve_nhwc(x, prior, steps: int, dt: float, **kwargs):
  """solve() for NHWC images (..., H, W, C): each channel evolves independently."""
  return ops.on_nhwc(lambda u: solve(u, prior, steps, dt, **kwargs))(x)


__all__ = ["solve", "solve_nhwc", "stability_limit", "Prior"]
