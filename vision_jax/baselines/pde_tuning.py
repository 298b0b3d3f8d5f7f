"""The classical PDE priors as tuned denoisers: a small parameter grid and the stopping step chosen on
one validation pair (never a test image), then applied unchanged to other images.

Each candidate runs an explicit diffusion (vision_jax.pde.solvers) from the noisy image up to a
diffusion time `max_time` (pixel^2 units), capped at `max_steps` explicit steps, so priors with a
small stable dt (TV) get as much time as the others; the best PSNR along the trajectory picks the
stopping step.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.metrics import image as image_metrics
from vision_jax.pde import priors as priors_lib, solvers


def param_grid(prior_name: str, sweep) -> list[dict]:
  """Candidate parameter dicts: the prior's defaults with each field of `sweep` ({field: [values]}) swept.

  Raises ValueError for an unknown prior or a field the prior does not have.
  """
  defaults = dict(priors_lib.get_prior(prior_name).defaults)
  sweep = dict(sweep or {})
  for key in sweep:
    if key not in defaults:
      raise ValueError(f"tune.{prior_name}.{key}: prior {prior_name!r} has no parameter {key!r}; "
                       f"valid: {', '.join(sorted(defaults)) or '(none)'}")
  keys = sorted(sweep)
  return [{**defaults, **dict(zip(keys, values))} for values in itertools.product(*(sweep[k] for k in keys))]


def check_dt_fraction(fraction) -> float:
  """dt as a fraction of the explicit stability limit must lie in (0, 1]; ValueError otherwise."""
  f = float(fraction)
  if not 0.0 < f <= 1.0:
    raise ValueError(f"dt_fraction={fraction!r} is invalid; expected 0 < dt_fraction <= 1 (a fraction of the "
                     "explicit stability limit; above 1 the scheme blows up)")
  return f


def stable_dt(prior_name: str, params: dict, fraction: float, fidelity: float) -> float:
  """dt = fraction x the explicit-Euler stability limit of the prior with these parameters."""
  return float(check_dt_fraction(fraction) * solvers.stability_limit(prior_name, fidelity, **params))


def tune_prior(prior_name: str, clean: np.ndarray, noisy: np.ndarray, config) -> dict:
  """Grid search over parameters and stopping step on one validation pair; returns the best setting.

  clean, noisy: (H, W, 1). config fields: tune ({prior: {field: [values]}}), max_time, max_steps,
  dt_fraction, fidelity. Returns {'params', 'dt', 'steps', 'val_psnr'}.
  """
  u0 = jnp.asarray(noisy[..., 0])
  ref = jnp.asarray(clean)
  best = {"val_psnr": -np.inf}
  for params in param_grid(prior_name, config.tune.get(prior_name, {})):
    dt = stable_dt(prior_name, params, config.dt_fraction, float(config.fidelity))
    steps = int(min(np.ceil(float(config.max_time) / dt), int(config.max_steps)))
    traj = solvers.solve(u0, prior_name, steps, dt, return_trajectory=True,
                         fidelity=float(config.fidelity), **params)
    psnrs = np.asarray(jax.vmap(lambda u: image_metrics.psnr(jnp.clip(u, 0, 1)[..., None], ref))(traj))
    k = int(np.nanargmax(psnrs))
    if psnrs[k] > best["val_psnr"]:
      best = {"params": params, "dt": dt, "steps": k, "val_psnr": float(psnrs[k])}
  return best


def prior_method(prior_name: str, setting: dict, fidelity: float):
  """A tuned prior (a `tune_prior` result) as a method (H, W, 1) -> (H, W, 1)."""
  def run(noisy):
    u = solvers.solve(jnp.asarray(noisy[..., 0]), prior_name, setting["steps"], setting["dt"],
                      fidelity=fidelity, **setting["params"])
    return np.asarray(u)[..., None]
  return run
