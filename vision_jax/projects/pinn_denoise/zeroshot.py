"""The PDE prior as a zero-shot denoiser: its parameter and stopping step chosen per noisy image by
SURE (no clean image), next to the same prior with oracle parameters (chosen on the clean test image,
labelled so), both on the same variance-stabilised input.

For one noisy test image y (H, W, 1):
  1. s = stabilize(y): identity for AWGN; generalized Anscombe transform for Poisson-Gaussian (mapped
     back by its exact unbiased inverse); the log with its known bias psi(L) - log L removed for
     speckle (mapped back by exp). s.image has approximately AWGN of level s.sigma (0-255 scale); for
     speckle the noise is log-Gamma (skewed, std speckle_log_std(L) after rescaling), so SURE is an
     approximation there.
  2. SURE: pde.sure_grid over config.sure_tuning's grid of the prior's parameter x every step
     0..steps, from s.image and s.sigma only; pde.sure_best_setting (SURE + z * Monte-Carlo stderr,
     each run stopped at its first unreliable step) picks (parameter, steps).
  3. Oracle: every (parameter, step) of the same grid, mapped back by s.invert and scored against the
     clean image (clipped to [0, 1]); the best PSNR. An upper bound for any rule that picks
     (parameter, step), not a method.
The chosen setting also gives the zero-shot PINN fit its K and tau (tau = steps * dt, the diffusion
time the SURE-tuned flow ran): `pinn_setting`.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import pde
from vision_jax.metrics import image as image_metrics
from vision_jax.pde import solvers
from vision_jax.projects.pinn_denoise import loss as loss_lib
from vision_jax.tasks.denoise import evaluation, self_supervised

# The swept parameter of each prior (geometric grid, [0, 1] intensity units) and dt as a fraction of
# its explicit stability limit; the prior's other parameters come from config.prior_params.
SWEEPS = {"heat": (None, ()), "perona_malik": ("K", (0.01, 0.4)), "mpmc": ("K", (0.05, 2.0)),
          "zg": ("K", (0.01, 0.4)), "tensor": ("K", (0.005, 0.1)), "tv": ("eps", (0.02, 0.4))}


def grid_for(config) -> tuple[dict, np.ndarray | float, dict]:
  """(grid {name: values}, dt (scalar or per value), fixed params) of config.prior's SURE/oracle search."""
  prior = config.prior
  if prior not in SWEEPS:
    raise ValueError(f"prior {prior!r} has no zero-shot tuning grid; valid: {', '.join(SWEEPS)}")
  tcfg = config.sure_tuning
  fixed = loss_lib.prior_params(config)
  name, (lo, hi) = SWEEPS[prior][0], (SWEEPS[prior][1] or (None, None))
  frac = float(tcfg.dt_fraction)
  if name is None:
    return {}, frac * solvers.stability_limit(prior, **fixed), fixed
  values = np.geomspace(lo, hi, int(tcfg.grid_size)).tolist()
  fixed = {k: v for k, v in fixed.items() if k != name}
  dts = np.array([frac * solvers.stability_limit(prior, **{**fixed, name: v}) for v in values])
  dt = float(dts[0]) if np.allclose(dts, dts[0]) else dts
  return {name: values}, dt, fixed


def check_tuning_config(config) -> None:
  """One-line errors for config.sure_tuning before anything runs."""
  t = config.sure_tuning
  if int(t.steps) < 1 or int(t.grid_size) < 1:
    raise ValueError(f"sure_tuning.steps={t.steps!r} / grid_size={t.grid_size!r} are invalid; expected >= 1")
  if isinstance(t.probes, bool) or int(t.probes) < 2:
    raise ValueError(f"sure_tuning.probes={t.probes!r} is invalid; expected >= 2 (the Monte-Carlo guard needs a spread)")
  if not 0 < float(t.dt_fraction) <= 1:
    raise ValueError(f"sure_tuning.dt_fraction={t.dt_fraction!r} is invalid; expected 0 < dt_fraction <= 1")
  if config.prior != "none":
    grid_for(config)


def _dt_of(dt, grid: dict, setting: dict) -> float:
  if np.ndim(dt) == 0:
    return float(dt)
  name = next(iter(grid))
  return float(np.asarray(dt)[list(grid[name]).index(setting[name])])


def sure_setting(v: np.ndarray, sigma: float, config, key) -> dict:
  """SURE choice on a stabilised image v (H, W, 1): {param: value, 'steps', 'dt', 'time', 'score'}."""
  grid, dt, fixed = grid_for(config)
  t = config.sure_tuning
  risk, err = pde.sure_grid(jnp.asarray(v[..., 0]), sigma, config.prior, int(t.steps), dt, grid=grid, key=key,
                            probes=int(t.probes), return_stderr=True, **fixed)
  best = pde.sure_best_setting(risk, err, grid, z=float(t.z), max_rel_stderr=float(t.max_rel_stderr))
  d = _dt_of(dt, grid, best)
  return {**best, "dt": d, "time": best["steps"] * d}


def oracle_setting(v: np.ndarray, clean: np.ndarray, invert, config) -> dict:
  """The (parameter, step) of the grid whose mapped-back output is closest to the clean image (ORACLE)."""
  grid, dt, fixed = grid_for(config)
  steps = int(config.sure_tuning.steps)
  ref = jnp.asarray(clean)
  name = next(iter(grid), None)
  values = grid[name] if name else [None]
  best = {"score": -np.inf}
  score = jax.jit(lambda traj: jax.vmap(lambda u: image_metrics.psnr(jnp.clip(invert(u), 0, 1)[..., None], ref))(traj))
  for i, val in enumerate(values):
    params = {**fixed, **({name: val} if name else {})}
    d = float(dt) if np.ndim(dt) == 0 else float(np.asarray(dt)[i])
    traj = solvers.solve(jnp.asarray(v[..., 0]), config.prior, steps, d, return_trajectory=True, **params)
    psnrs = np.asarray(score(traj))
    k = int(np.nanargmax(psnrs))
    if psnrs[k] > best["score"]:
      best = {**({name: float(val)} if name else {}), "steps": k, "score": float(psnrs[k]), "dt": d, "time": k * d}
  return best


def run_setting(v: np.ndarray, setting: dict, config, invert) -> np.ndarray:
  """The prior run from v with `setting`, mapped back: (H, W, 1) float32."""
  grid, _, fixed = grid_for(config)
  params = {**fixed, **{k: setting[k] for k in grid}}
  u = solvers.solve(jnp.asarray(v[..., 0]), config.prior, int(setting["steps"]), setting["dt"], **params)
  return np.asarray(invert(u), np.float32)[..., None]


def sure_key(config, index: int):
  return jax.random.fold_in(jax.random.PRNGKey(int(config.sure_tuning.seed)), index)


def pinn_setting(v: np.ndarray, sigma: float, config, index: int) -> dict:
  """K (or the prior's swept parameter) and tau for the zero-shot PINN fit of image `index`, by SURE."""
  best = sure_setting(v, sigma, config, sure_key(config, index))
  grid, _, _ = grid_for(config)
  out = {k: best[k] for k in grid}
  out["tau"] = max(best["time"], best["dt"])  # at least one step: tau > 0
  out["steps"] = best["steps"]
  return out


def prior_rows(config, test: evaluation.TestSet) -> tuple[dict, dict]:
  """({row: result}, {row: per-image settings}) for the SURE-tuned and the oracle-tuned prior.

  Both rows see test.noisys, stabilised the same way; the SURE row never reads test.cleans.
  """
  if config.prior == "none":
    return {}, {}
  sure_row = f"pde:{config.prior} tuned by SURE [zero-shot]"
  oracle_row = f"pde:{config.prior}, parameters chosen on the clean test image [ORACLE]"
  out = {sure_row: {"psnr": [], "ssim": [], "seconds": [], "outputs": []},
         oracle_row: {"psnr": [], "ssim": [], "seconds": [], "outputs": []}}
  settings = {sure_row: [], oracle_row: []}
  for i, noisy in enumerate(test.noisys):
    t0 = time.perf_counter()
    s = self_supervised.stabilize(noisy, config.noise)
    v = np.asarray(s.image, np.float32)
    setting = sure_setting(v, s.sigma, config, sure_key(config, i))
    den = run_setting(v, setting, config, s.invert)
    _append(out[sure_row], den, test.cleans[i], time.perf_counter() - t0)
    settings[sure_row].append(setting)
    t0 = time.perf_counter()
    o = oracle_setting(v, test.cleans[i], s.invert, config)
    _append(out[oracle_row], run_setting(v, o, config, s.invert), test.cleans[i], time.perf_counter() - t0)
    settings[oracle_row].append(o)
  return out, settings


def _append(r: dict, den: np.ndarray, clean: np.ndarray, seconds: float) -> None:
  p, q = evaluation.score(den, clean)
  r["psnr"].append(p)
  r["ssim"].append(q)
  r["seconds"].append(seconds)
  r["outputs"].append(den)
