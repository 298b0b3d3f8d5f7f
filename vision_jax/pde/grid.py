"""Parameter x stopping-step grids for one image, as one vmapped, jitted call.

A PDE prior is tuned by running it from the noisy image for several parameter values and keeping
the best (parameters, step). Instead of one solver call per value (each returning a trajectory that
is then scored), psnr_grid / sure_grid vmap the solver over the flattened parameter grid and score
every step inside the loop (no trajectory is stored):

  * psnr_grid(noisy, clean, ...): PSNR against the clean image (oracle tuning, or a validation pair).
  * sure_grid(noisy, sigma, ...): Stein's unbiased risk estimate of the MSE, from the noisy image
    and the AWGN level only (losses/sure.py for the estimator). The divergence of the map
    y -> u_t(y) is b^T J_t b for a probe b, by one forward-mode jax.jvp through the whole run that
    carries the tangent alongside the state, so all steps cost one jvp pass.

Both return an array (*grid_shape, steps + 1): index 0 along the last axis is the noisy input itself
(no smoothing). best_setting() picks the argmax / argmin and returns the parameter values;
sure_best_setting() is the SURE choice guarded against Monte-Carlo noise (needs probes >= 2).

    psnr = psnr_grid(noisy, clean, "perona_malik", 300, 0.2, grid={"K": Ks})       # (len(Ks), 301)
    risk, err = sure_grid(noisy, 25, "perona_malik", 300, 0.2, grid={"K": Ks}, key=key, probes=4,
                          return_stderr=True)
    sure_best_setting(risk, err, {"K": Ks})   # {'K': ..., 'steps': ..., 'score': SURE}
"""

from __future__ import annotations

import functools
import itertools
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import validate
from vision_jax.losses.sure import PROBES, probe
from vision_jax.pde import operators as ops
from vision_jax.pde import solvers
from vision_jax.pde.priors import get_prior

__all__ = ["grid_combinations", "psnr_grid", "sure_grid", "best_setting", "sure_best_setting"]


def grid_combinations(prior, grid: Mapping[str, Sequence[float]]):
  """(names, values (G, len(names)) float64, shape) of the Cartesian product of grid, validated.

  Every name must be a traced (non-static) parameter of prior; every value is checked like a
  solve() parameter (e.g. K > 0). An empty grid is one combination (a search over steps only).
  """
  prior = get_prior(prior)
  if not isinstance(grid, Mapping):
    raise ValueError(f"grid={grid!r} is invalid; expected a mapping of parameter name -> values")
  names = list(grid)
  for name in names:
    if name not in prior.defaults:
      valid = ", ".join(sorted(k for k in prior.defaults if k not in prior.static_params)) or "(none)"
      raise ValueError(f"grid parameter {name!r} is not a parameter of prior '{prior.name}'; valid: {valid}")
    if name in prior.static_params:
      raise ValueError(f"grid parameter {name!r} of prior '{prior.name}' is static (compiled in); "
                       "expected a traced parameter")
  columns = []
  for name in names:
    vals = np.asarray(grid[name], np.float64).ravel()
    if vals.size == 0:
      raise ValueError(f"grid[{name!r}] is empty; expected at least one value")
    for v in vals:
      prior.resolve_params({name: float(v)})  # ValueError on an invalid value
    columns.append(vals)
  shape = tuple(len(c) for c in columns)
  values = np.array(list(itertools.product(*columns)), np.float64).reshape(max(1, int(np.prod(shape))), len(names))
  return names, values, shape


def _prepare(noisy, prior, steps, dt, grid, fidelity, check_stability, params):
  prior = get_prior(prior)
  steps = solvers._check_steps(steps)
  noisy = ops.as_image(noisy, "noisy")
  validate.check_finite(noisy, "noisy")
  params = prior.resolve_params(params)
  names, values, shape = grid_combinations(prior, grid)
  dts = np.broadcast_to(np.asarray(dt, np.float64), shape).reshape(-1)
  for row, dt_i in zip(values, dts):  # concrete: every combination is checked against its own limit
    solvers.check_dt(prior, float(dt_i), fidelity, {**params, **dict(zip(names, map(float, row)))},
                     check_stability)
  return prior, steps, noisy, params, names, values, shape, dts


def _run_grid(noisy, dts, values, fidelity, *, prior, steps, bc, static, dynamic, names, method, emit_fn,
              use_fidelity):
  """vmap over the G combinations of one run with per-step emit; returns emitted (G, steps, ...)."""
  def one(dt, row):
    params = {**dynamic, **dict(static), **{n: row[i] for i, n in enumerate(names)}}
    return emit_fn(lambda u0, emit: solvers.evolve(u0, prior, steps, dt, fidelity, params, bc=bc, method=method,
                                                   emit=emit, use_fidelity=use_fidelity)[1])
  return jax.vmap(one)(dts, values)


@functools.partial(jax.jit, static_argnames=("prior", "steps", "bc", "static", "names", "method", "clip",
                                             "use_fidelity"))
def _psnr_jit(noisy, clean, dts, values, fidelity, data_range, dynamic, *, prior, steps, bc, static, names,
              method, clip, use_fidelity):
  n = noisy.size

  def sse(u):
    v = jnp.clip(u, 0.0, data_range) if clip else u
    return jnp.sum((v - clean) ** 2)

  def emit_fn(run):
    out = run(noisy, sse)
    first = sse(noisy)[None]
    return first if out is None else jnp.concatenate([first, out])

  errs = _run_grid(noisy, dts, values, fidelity, prior=prior, steps=steps, bc=bc, static=static, dynamic=dynamic,
                   names=names, method=method, emit_fn=emit_fn, use_fidelity=use_fidelity)
  return 10.0 * jnp.log10(data_range**2 / (errs / n))


def psnr_grid(noisy, clean, prior, steps: int, dt, *, grid: Mapping[str, Sequence[float]], fidelity: float = 0.0,
              bc: str = "neumann", data_range: float = 1.0, clip: bool = True, method: str = "fast",
              check_stability: bool = True, **params) -> jax.Array:
  """PSNR (dB) of every (grid combination, step) of the prior run from one noisy image.

  Args:
    noisy, clean: (..., H, W) images (one image, or its channels), [0, 1] scale; PSNR is over all pixels.
    prior: name or Prior. steps: the largest step (Python int). dt: time step, a float or an array
      broadcastable to the grid shape (each combination is checked against its stability limit).
    grid: parameter name -> 1-D values; the Cartesian product is evaluated (traced parameters only);
      {} runs the given parameters once (a search over the stopping step only).
    fidelity, bc, method, check_stability, **params: as in solve() (params fixed for all combinations).
    clip: clip the estimate to [0, data_range] before scoring (as the tuning protocols do).
  Returns:
    (*grid_shape, steps + 1) PSNR; [..., 0] is the noisy input.
  """
  prior, steps, noisy, params, names, values, shape, dts = _prepare(noisy, prior, steps, dt, grid, fidelity,
                                                                    check_stability, params)
  clean = ops.as_image(clean, "clean")
  if clean.shape != noisy.shape:
    raise ValueError(f"clean has shape {tuple(clean.shape)}; expected the shape of noisy {tuple(noisy.shape)}")
  if method not in solvers.METHODS:
    raise ValueError(f"unknown solver method={method!r}; valid: {', '.join(solvers.METHODS)}")
  static, dynamic = prior.split_params({k: v for k, v in params.items() if k not in names})
  out = _psnr_jit(noisy, clean.astype(noisy.dtype), jnp.asarray(dts, noisy.dtype), jnp.asarray(values, noisy.dtype),
                  jnp.asarray(fidelity, noisy.dtype), jnp.asarray(data_range, noisy.dtype), dynamic, prior=prior,
                  steps=steps, bc=bc, static=static, names=tuple(names), method=method, clip=bool(clip),
                  use_fidelity=float(fidelity) != 0.0)
  return out.reshape(shape + (steps + 1,))


@functools.partial(jax.jit, static_argnames=("prior", "steps", "bc", "static", "names", "method", "probes",
                                             "kind", "use_fidelity"))
def _sure_jit(noisy, sigma, key, dts, values, fidelity, dynamic, *, prior, steps, bc, static, names, method,
              probes, kind, use_fidelity):
  n = noisy.size
  s2 = (sigma / 255.0) ** 2
  bs = jnp.stack([probe(k, noisy.shape, noisy.dtype, kind) for k in jax.random.split(key, probes)])

  def emit_fn(run):
    def per_probe(b):
      def scores(y):
        emit = lambda u: (jnp.sum((u - noisy) ** 2), jnp.sum(b * u))
        out = run(y, emit)
        first = jax.tree.map(lambda a: a[None], emit(y))
        return first if out is None else jax.tree.map(lambda a, c: jnp.concatenate([a, c]), first, out)
      (sq, _), (_, bjb) = jax.jvp(scores, (noisy,), (b,))
      return sq, bjb
    sq, div = jax.lax.map(per_probe, bs)
    risk = sq[0] / n - s2 + 2.0 * s2 * jnp.mean(div, axis=0) / n
    # Monte-Carlo standard error of the divergence term (NaN with one probe)
    err = 2.0 * s2 / n * jnp.std(div, axis=0, ddof=1) / jnp.sqrt(probes) if probes > 1 else jnp.full_like(risk, jnp.nan)
    return risk, err

  return _run_grid(noisy, dts, values, fidelity, prior=prior, steps=steps, bc=bc, static=static, dynamic=dynamic,
                   names=names, method=method, emit_fn=emit_fn, use_fidelity=use_fidelity)


def sure_grid(noisy, sigma, prior, steps: int, dt, *, grid: Mapping[str, Sequence[float]], key, probes: int = 1,
              kind: str = "rademacher", fidelity: float = 0.0, bc: str = "neumann", method: str = "fast",
              check_stability: bool = True, return_stderr: bool = False, **params):
  """SURE of the MSE ([0, 1]^2 units) of every (grid combination, step), from the noisy image and sigma only.

  Args:
    noisy: (..., H, W) image with AWGN of std sigma / 255 (sigma on the 0-255 scale, > 0).
    key: PRNG key of the probes; probes (>= 1) are averaged; kind "rademacher" or "gaussian".
    prior, steps, dt, grid, fidelity, bc, method, check_stability, **params: as in psnr_grid.
    return_stderr: also return the Monte-Carlo standard error of each value (from the spread of the
      probes; NaN for probes=1). Where the flow's Jacobian explodes (backward diffusion, e.g. mpmc or
      Perona-Malik with a small K run long) b^T J b is astronomically variable and SURE can go negative;
      the standard error flags those entries (sure_best_setting).
  Returns:
    (*grid_shape, steps + 1) SURE values ([..., 0] is the noisy input: SURE = (sigma/255)^2 there),
    and the standard errors if return_stderr. 10 log10(1 / SURE) estimates the PSNR (where SURE > 0).
    No clipping: SURE scores f(y) as computed.
  """
  prior, steps, noisy, params, names, values, shape, dts = _prepare(noisy, prior, steps, dt, grid, fidelity,
                                                                    check_stability, params)
  s = solvers._concrete_float(sigma)
  if s is not None and not (s > 0 and np.isfinite(s)):
    raise ValueError(f"sigma={sigma!r} is invalid; expected a finite noise level > 0 (0-255 scale)")
  if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
    raise ValueError(f"probes={probes!r} is invalid; expected a Python int >= 1")
  if kind not in PROBES:
    raise ValueError(f"unknown probe kind={kind!r}; valid: {', '.join(PROBES)}")
  if method not in solvers.METHODS:
    raise ValueError(f"unknown solver method={method!r}; valid: {', '.join(solvers.METHODS)}")
  static, dynamic = prior.split_params({k: v for k, v in params.items() if k not in names})
  risk, err = _sure_jit(noisy, jnp.asarray(sigma, noisy.dtype), key, jnp.asarray(dts, noisy.dtype),
                        jnp.asarray(values, noisy.dtype), jnp.asarray(fidelity, noisy.dtype), dynamic, prior=prior,
                        steps=steps, bc=bc, static=static, names=tuple(names), method=method, probes=probes,
                        kind=kind, use_fidelity=float(fidelity) != 0.0)
  risk, err = (a.reshape(shape + (steps + 1,)) for a in (risk, err))
  return (risk, err) if return_stderr else risk


def best_setting(scores, grid: Mapping[str, Sequence[float]], mode: str = "max", mask=None) -> dict:
  """The (parameters, step) with the best score: {name: value, ..., 'steps': k, 'score': v}.

  scores: (*grid_shape, steps + 1) from psnr_grid (mode="max") or sure_grid (mode="min"); NaN is skipped.
  mask: optional boolean array of the same shape; only True entries compete (e.g. SURE values with a
  small Monte-Carlo standard error). Step 0 (the input itself) is always allowed.
  """
  if mode not in ("max", "min"):
    raise ValueError(f"unknown mode={mode!r}; valid: max, min")
  a = np.asarray(scores, np.float64)
  if mask is not None:
    m = np.asarray(mask, bool)
    if m.shape != a.shape:
      raise ValueError(f"mask has shape {m.shape}; expected the shape of scores {a.shape}")
    m = m.copy()
    m[..., 0] = True
    a = np.where(m, a, np.nan)
  names = list(grid)
  if a.ndim != len(names) + 1 or a.shape[:-1] != tuple(len(np.ravel(grid[n])) for n in names):
    raise ValueError(f"scores have shape {a.shape}; expected (*grid_shape, steps + 1) for grid {list(grid)}")
  flat = np.nanargmax(a) if mode == "max" else np.nanargmin(a)
  idx = np.unravel_index(flat, a.shape)
  out = {n: float(np.ravel(grid[n])[idx[i]]) for i, n in enumerate(names)}
  out.update(steps=int(idx[-1]), score=float(a[idx]))
  return out


def sure_best_setting(risk, stderr, grid: Mapping[str, Sequence[float]], *, z: float = 2.0,
                      max_rel_stderr: float = 0.1) -> dict:
  """The SURE choice with a guard against Monte-Carlo noise: minimise risk + z * stderr.

  risk, stderr: sure_grid(..., probes >= 2, return_stderr=True). Entries whose standard error exceeds
  max_rel_stderr times their own SURE value (or whose SURE is <= 0, which a true risk never is) do not
  compete, nor does any later step of the same parameters: there the divergence estimate is unreliable
  (the flow's Jacobian explodes, and it only grows along the run; a 4-probe standard error can look
  small by chance at a late step). The threshold is relative because the risks being compared can be
  far below sigma^2 (2 % of it at sigma 50).
  Returns best_setting's dict; 'score' is the SURE value (without the z * stderr margin) of the choice.
  """
  r, e = np.asarray(risk, np.float64), np.asarray(stderr, np.float64)
  if r.shape != e.shape:
    raise ValueError(f"stderr has shape {e.shape}; expected the shape of risk {r.shape}")
  if np.all(np.isnan(e[..., 1:])):
    raise ValueError("stderr is NaN everywhere; expected sure_grid(..., probes >= 2, return_stderr=True)")
  e = np.nan_to_num(e, nan=0.0)
  ok = (r > 0) & (e <= max_rel_stderr * np.abs(r))
  ok[..., 0] = True
  ok = np.logical_and.accumulate(ok, axis=-1)  # stop each run at its first unreliable step
  out = best_setting(np.where(ok, r + z * np.where(ok, e, 0.0), np.nan), grid, "min", mask=ok)
  idx = tuple(list(np.ravel(grid[n])).index(out[n]) for n in grid) + (out["steps"],)
  out["score"] = float(r[idx])
  return out
