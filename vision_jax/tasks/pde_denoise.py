"""Classical PDE denoising: each prior of vision_jax.pde run as an explicit diffusion from the noisy image.

Protocol: one validation image (the first of `data.val`) tunes each prior's parameters (a small grid)
and its stopping step (the best PSNR along one trajectory); the tuned settings are then applied
unchanged to the test images, which were never used for tuning. Baselines (scikit-image TV, NL-means,
wavelet, BM3D if installed) run on exactly the same noisy test images.
"""

from __future__ import annotations

import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import report
from vision_jax.config_utils import split_names
from vision_jax.metrics import image as image_metrics
from vision_jax.pde import priors as priors_lib, solvers
from vision_jax.tasks import denoise_common as common


def _param_grid(prior_name: str, tune_cfg) -> list[dict]:
  """Candidate parameter dicts: the prior's defaults with each listed field swept over its values."""
  defaults = dict(priors_lib.get_prior(prior_name).defaults)
  sweep = dict(tune_cfg.get(prior_name, {}) or {})
  for key in sweep:
    if key not in defaults:
      raise ValueError(f"tune.{prior_name}.{key}: prior {prior_name!r} has no parameter {key!r}; "
                       f"valid: {', '.join(sorted(defaults)) or '(none)'}")
  keys = sorted(sweep)
  return [{**defaults, **dict(zip(keys, values))} for values in itertools.product(*(sweep[k] for k in keys))]


def _stable_dt(prior_name: str, params: dict, fraction: float, fidelity: float) -> float:
  return float(fraction * solvers.stability_limit(prior_name, fidelity, **params))


def tune_prior(prior_name: str, clean: np.ndarray, noisy: np.ndarray, config) -> dict:
  """Grid search over parameters and stopping step on one validation pair; returns the best setting.

  Each candidate runs up to diffusion time config.max_time (pixel^2 units), capped at
  config.max_steps explicit steps, so priors with small stable dt (TV) get as much time as the others.

  clean, noisy: (H, W, 1). Returns {'params', 'dt', 'steps', 'val_psnr'}.
  """
  u0 = jnp.asarray(noisy[..., 0])
  ref = jnp.asarray(clean)
  best = {"val_psnr": -np.inf}
  for params in _param_grid(prior_name, config.tune):
    dt = _stable_dt(prior_name, params, config.dt_fraction, float(config.fidelity))
    steps = int(min(np.ceil(float(config.max_time) / dt), int(config.max_steps)))
    traj = solvers.solve(u0, prior_name, steps, dt, return_trajectory=True,
                         fidelity=float(config.fidelity), **params)
    psnrs = np.asarray(jax.vmap(lambda u: image_metrics.psnr(jnp.clip(u, 0, 1)[..., None], ref))(traj))
    k = int(np.nanargmax(psnrs))
    if psnrs[k] > best["val_psnr"]:
      best = {"params": params, "dt": dt, "steps": k, "val_psnr": float(psnrs[k])}
  return best


def prior_method(prior_name: str, setting: dict, fidelity: float):
  """The tuned prior as a method (H, W, 1) -> (H, W, 1)."""
  def run(noisy):
    u = solvers.solve(jnp.asarray(noisy[..., 0]), prior_name, setting["steps"], setting["dt"],
                      fidelity=fidelity, **setting["params"])
    return np.asarray(u)[..., None]
  return run


def _validate(config) -> list[str]:
  names = split_names(config.priors)
  for p in names:
    _param_grid(p, config.tune)  # raises on an unknown prior or parameter name
  common.noise_kwargs(config.noise)
  return names


def train(config, workdir: str):
  """Tunes every prior on the validation image, evaluates on the test images, writes the report."""
  prior_names = _validate(config)
  test_source = config.data_dir or config.data.test
  val = common.make_test_set(config.data.val, config.noise, config.seed + 1, config.data.max_size)
  test = common.make_test_set(test_source, config.noise, config.seed, config.data.max_size)
  common.prepare_workdir(workdir)
  settings, results = {}, {}
  results["noisy input"] = common.evaluate_method(lambda y: y, test)
  for p in prior_names:
    settings[p] = tune_prior(p, val.cleans[0], val.noisys[0], config)
    print(f"{p}: tuned {settings[p]['params']} dt={settings[p]['dt']:.4g} steps={settings[p]['steps']} "
          f"(val {settings[p]['val_psnr']:.2f} dB)")
    results[f"pde:{p}"] = common.evaluate_method(prior_method(p, settings[p], float(config.fidelity)), test)
  for name, fn in common.classical_methods(_baseline_names(config), config.noise).items():
    results[name] = common.evaluate_method(fn, test)
  write_report(workdir, config, test, results, settings)
  return results


def _baseline_names(config) -> list[str]:
  return split_names(config.baselines)


def write_report(workdir, config, test, results, settings) -> None:
  header, rows = common.results_rows(results, test.names)
  md = [f"# Classical PDE denoising ({common.noise_label(config.noise)})", "",
        f"Tuned on validation image `{config.data.val}` (parameters + stopping step by PSNR); "
        f"evaluated on {len(test.names)} held-out test images with fixed noise seed {config.seed}. "
        "Every method sees the same noisy inputs. s/image is wall-clock (first call includes jit compilation).",
        "", report.markdown_table(header, rows), "", "## Tuned settings", ""]
  for p, s in settings.items():
    md.append(f"- {p}: params {s['params']}, dt {s['dt']:.4g}, steps {s['steps']}, validation PSNR {s['val_psnr']:.2f} dB")
  report.write_text_atomic(os.path.join(workdir, "results.md"), "\n".join(md) + "\n")
  report.write_csv(os.path.join(workdir, "results.csv"), header, rows)
  report.write_json(os.path.join(workdir, "results.json"),
                    {"noise": common.noise_label(config.noise), "images": test.names,
                     "methods": common.summary(results), "settings": settings})
  report.image_grid_figure(os.path.join(workdir, "comparison.png"), common.comparison_panels(test, results),
                           title=f"{test.names[0]}: {common.noise_label(config.noise)}")
  print(f"wrote {workdir}/results.md, results.json, results.csv, comparison.png")


def eval(config, workdir: str):  # noqa: A001 (mode name)
  """Nothing is trained here: eval is the same as train."""
  return train(config, workdir)
