"""Reference rows of every denoising comparison, measured in the same run on the same noisy inputs:
the noisy input itself, the classical baselines and a classical PDE prior, each tuned on the
validation image (never a test image)."""

from __future__ import annotations

from vision_jax.baselines import methods as baseline_methods, pde_tuning
from vision_jax.config_utils import split_names
from vision_jax.tasks.denoise import evaluation


def validate(config) -> None:
  """Checks config.eval.baselines / classical_prior / pde before anything runs (one-line errors)."""
  baseline_methods.check_names(split_names(config.eval.baselines))
  prior = config.eval.classical_prior
  if prior:
    pde_tuning.param_grid(prior, config.eval.pde.tune.get(prior, {}))
    pde_tuning.check_dt_fraction(config.eval.pde.dt_fraction)


def reference_methods(config, test: evaluation.TestSet, val: evaluation.TestSet) -> tuple[dict, dict]:
  """(results, settings): {row: evaluate_method result} and {row: the setting tuned on val.cleans[0]}."""
  results = {"noisy input": evaluation.evaluate_method(lambda y: y, test)}
  names = split_names(config.eval.baselines)
  grids = dict(config.eval.get("baseline_grids", {}) or {})
  tuned = baseline_methods.tune_classical(names, val.cleans[0], val.noisys[0], config.noise, grids)
  for name, method in baseline_methods.classical_methods(tuned, config.noise).items():
    results[name] = evaluation.evaluate_method(method, test)
  settings = {name: s for name, s in tuned.items()}
  prior = config.eval.classical_prior
  if prior:
    setting = pde_tuning.tune_prior(prior, val.cleans[0], val.noisys[0], config.eval.pde)
    row = f"pde:{prior} (tuned on val)"
    results[row] = evaluation.evaluate_method(
        pde_tuning.prior_method(prior, setting, float(config.eval.pde.fidelity)), test)
    settings[row] = setting
  return results, settings
