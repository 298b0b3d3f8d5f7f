"""Classical PDE denoising: each prior of vision_jax.pde run as an explicit diffusion from the noisy image.

Protocol: one validation image (`data.val`) tunes each prior's parameters (a small grid) and its
stopping step (the best PSNR along one trajectory), and the baselines' settings; the tuned settings
are then applied unchanged to the test images, which never take part in tuning. Baselines
(scikit-image TV, NL-means, wavelet, BM3D if installed) run on exactly the same noisy test images.
"""

from __future__ import annotations

from vision_jax import noise as noise_lib
from vision_jax.baselines import pde_tuning
from vision_jax.config_utils import split_names
from vision_jax.tasks.denoise import evaluation, modes, references, report, supervised
from vision_jax.train import workdir as workdir_lib


def validate(config) -> list[str]:
  """The prior names, with every grid, dt fraction, baseline and noise field checked (one-line errors)."""
  names = split_names(config.pde.priors)
  if not names:
    raise ValueError("pde.priors is empty; expected a comma-separated list of priors (heat, perona_malik, ...)")
  for p in names:
    pde_tuning.param_grid(p, config.pde.tune.get(p, {}))
  pde_tuning.check_dt_fraction(config.pde.dt_fraction)
  if int(config.pde.max_steps) < 1 or not float(config.pde.max_time) > 0:
    raise ValueError(f"pde.max_steps={config.pde.max_steps!r} / pde.max_time={config.pde.max_time!r} are invalid; "
                     "expected max_steps >= 1 and max_time > 0")
  noise_lib.noise_kwargs(config.noise)
  references.validate(config)
  return names


def train(config, workdir: str):
  """Tunes every prior on the validation image, evaluates on the test images, writes the report."""
  prior_names = validate(config)
  test, val = modes.load_eval_sets(config)
  supervised.assert_disjoint([], test, val)
  workdir_lib.prepare(config, workdir)
  results, settings = references.reference_methods(config, test, val)
  for p in prior_names:
    setting = pde_tuning.tune_prior(p, val.cleans[0], val.noisys[0], config.pde)
    print(f"{p}: tuned {setting['params']} dt={setting['dt']:.4g} steps={setting['steps']} "
          f"(val {setting['val_psnr']:.2f} dB)")
    settings[f"pde:{p}"] = setting
    results[f"pde:{p}"] = evaluation.evaluate_method(
        pde_tuning.prior_method(p, setting, float(config.pde.fidelity)), test)
  intro = (f"Priors and baselines tuned on the validation image `{config.data.val}` (parameters + stopping step by "
           f"PSNR); evaluated on {len(test.names)} held-out test images `{modes.test_source(config)}` with fixed noise "
           f"seed {config.eval.seed}. Every method sees the same noisy inputs; outputs are clipped to [0, 1] for "
           "scoring. s/image is wall-clock (the first call includes jit compilation).")
  record = report.make_record(f"Classical PDE denoising ({noise_lib.noise_label(config.noise)})", intro, test, results,
                              settings=settings, figure_title=f"{test.names[0]}: {noise_lib.noise_label(config.noise)}")
  report.write_results(workdir, record, test, results)
  return results


def report_mode(config, workdir: str):
  """Re-renders results.md / results.csv from results.json (nothing is recomputed)."""
  return report.rerender(workdir)
