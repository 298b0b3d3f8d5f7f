"""The denoise task: train a registry denoiser on clean training images (noise drawn on the device),
evaluate it on held-out test images against the reference methods on the same noisy inputs.

    python -m vision_jax.main --config=configs/denoise/default.py:small --workdir=W              # train + report
    python -m vision_jax.main --config=configs/denoise/default.py:small --workdir=W --mode=eval   # checkpoint on eval.data_dir
    python -m vision_jax.main --config=configs/denoise/default.py:small --workdir=W --mode=report # re-render results.md

Projects reuse the pieces: `prepare_heldout` (validated data and model), `fit_heldout` (the trained
method) and `model_rows` (the model and its self-ensemble on the test set).

Additive options (defaults keep the plain behaviour): noise.train_sigmas = "lo:hi" trains one blind
model over a range of AWGN levels, and a noise-map backbone (tnrd_blind) gets the sigma / 255 map
(tasks/denoise/blind.py; its rows are reported with the true level and with the wavelet MAD
estimate); train.greedy_steps > 0 trains a staged model greedily stage by stage, then jointly
(tasks/denoise/stagewise.py); `--mode=export` writes the trained parameters as a .npz that
`vision_jax.denoise` loads (tasks/denoise/export.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vision_jax import noise as noise_lib
from vision_jax import report as report_lib
from vision_jax.tasks.denoise import blind, evaluation, model as model_lib, references, report, stagewise, supervised
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib


@dataclasses.dataclass
class Heldout:
  """Validated pieces of a held-out denoising run."""
  model: object
  multiple: int
  test: evaluation.TestSet
  val: evaluation.TestSet
  train_images: list


def test_source(config) -> str:
  return config.eval.data_dir or config.data.test


def load_eval_sets(config) -> tuple[evaluation.TestSet, evaluation.TestSet]:
  """(test, val): the fixed noisy test set (seed eval.seed) and validation image (seed eval.seed + 1)."""
  test = evaluation.make_test_set(test_source(config), config.noise, config.eval.seed, config.data.max_size)
  val = evaluation.make_test_set(config.data.val, config.noise, config.eval.seed + 1, config.data.max_size)
  return test, val


def prepare_heldout(config, backbones=model_lib.IMAGE_BACKBONES) -> Heldout:
  """Validates config and data (one-line errors, nothing written) and loads them."""
  noise_lib.noise_kwargs(config.noise)
  references.validate(config)
  model, multiple = model_lib.build_model(config, backbones)
  blind.check_blind_config(config, model)
  if stagewise.greedy_steps(config):
    stagewise.check_staged(config, model)
  test, val = load_eval_sets(config)
  train_images = supervised.load_train_images(config)
  supervised.assert_disjoint(train_images, test, val)
  supervised.check_training_fields(config, train_images, multiple)
  return Heldout(model, multiple, test, val, train_images)


def fit_heldout(config, workdir: str, h: Heldout, make_loss, desc: str, ignore=()) -> tuple:
  """Trains (or resumes) in workdir; returns (denoise method, info).

  With train.greedy_steps > 0 the staged model is trained greedily, then jointly (stagewise.py).
  The method (a TrainedDenoiser) gives a noise-map model the run's AWGN level; `method.at_sigma(s)`
  is the same model given level s (None: the wavelet MAD estimate of each image).
  """
  if stagewise.greedy_steps(config):
    state, info = stagewise.fit_stagewise(config, workdir, h, make_loss, desc, ignore)
  else:
    problem = supervised.heldout_problem(config, h.model, h.multiple, [im.pixels for im in h.train_images], h.val,
                                         make_loss(h.model, config))
    workdir_lib.prepare(config, workdir, ignore)
    res = loop.fit(problem, config, workdir, desc=desc)
    report_lib.training_curves(workdir, title=desc)  # workdir/training_curves.png from metrics.jsonl
    state = res.state
    info = {"train_seconds": res.seconds, "train_cpu_seconds": res.cpu_seconds, "train_steps": int(config.train.steps),
            "train_images": len(h.train_images), "parameters": state_lib.count_params(res.state["params"])}
  return _method(config, h.model, state, h.multiple), info


@dataclasses.dataclass
class TrainedDenoiser:
  """A trained model as a denoise method (H, W, C) -> (H, W, C) at the run's AWGN level `sigma`;
  `at_sigma(s)` is the same model given level s (noise-map models; None: the wavelet MAD estimate)."""
  model: object
  state: dict
  multiple: int
  sigma: float | None

  def __post_init__(self):
    self._fn = model_lib.denoise_method(self.model, self.state, self.multiple, self.sigma)

  def __call__(self, noisy):
    return self._fn(noisy)

  @property
  def takes_noise_map(self) -> bool:
    return model_lib.denoisers.takes_noise_map(self.model)

  def at_sigma(self, sigma):
    return model_lib.denoise_method(self.model, self.state, self.multiple, sigma)


def _method(config, model, state, multiple: int) -> TrainedDenoiser:
  return TrainedDenoiser(model, state, multiple, model_lib.eval_sigma(config))


def self_ensemble_label(label: str) -> str:
  """The row label of a trained model's x8 geometric self-ensemble (model_rows)."""
  return label + " + x8 self-ensemble"


def model_rows(config, label: str, method, test: evaluation.TestSet) -> dict:
  """{label: result} of the trained model, plus its x8 geometric self-ensemble if eval.self_ensemble.

  A noise-map model's rows use the true AWGN level; one more row gives it the wavelet MAD estimate
  of each noisy image instead ('<label>, estimated sigma').
  """
  out = {label: evaluation.evaluate_method(method, test)}
  if config.eval.get("self_ensemble", False):
    out[self_ensemble_label(label)] = evaluation.evaluate_method(evaluation.dihedral_self_ensemble(method), test)
  if isinstance(method, TrainedDenoiser) and method.takes_noise_map:
    out[label + ", estimated sigma"] = evaluation.evaluate_method(method.at_sigma(None), test)
  return out


def _label(config) -> str:
  return f"{config.backbone} [held-out]"


def _intro(config, test) -> str:
  return (f"Noise: {noise_lib.noise_label(config.noise)} (fixed seed {config.eval.seed}); {len(test.names)} test images "
          f"`{test_source(config)}`; every method sees the same noisy inputs; outputs clipped to [0, 1] for scoring.")


def train(config, workdir: str):
  """Trains config.backbone with the MSE loss, evaluates it against the references, writes the report."""
  h = prepare_heldout(config, model_lib.TASK_BACKBONES)
  method, info = fit_heldout(config, workdir, h, supervised.training_loss, desc=config.backbone)
  results = model_rows(config, _label(config), method, h.test)
  refs, settings = references.reference_methods(config, h.test, h.val)
  results.update(refs)
  record = report.make_record(f"Denoising: {_label(config)}", _intro(config, h.test), h.test, results,
                              settings=settings, info=info, figure_title=h.test.names[0])
  report.write_results(workdir, record, h.test, results)
  return results


def restore_method(config, workdir: str, model, multiple: int):
  """(denoise method, step) of the newest checkpoint in workdir."""
  example = supervised.example_input(model, config.data.patch_size, 1)
  state, step = loop.restore_state(loop.TrainProblem(model, example, None, None), config, workdir)
  return _method(config, model, state, multiple), step


def evaluate_checkpoint(config, workdir: str, label: str, backbones=model_lib.TASK_BACKBONES):
  """--mode=eval: the checkpoint (and noisy input) on eval.data_dir or data.test; writes eval_results.*."""
  noise_lib.noise_kwargs(config.noise)
  model, multiple = model_lib.build_model(config, backbones)
  test = evaluation.make_test_set(test_source(config), config.noise, config.eval.seed, config.data.max_size)
  method, step = restore_method(config, workdir, model, multiple)
  results = {"noisy input": evaluation.evaluate_method(lambda y: y, test), **model_rows(config, label, method, test)}
  record = report.make_record(f"Evaluation of checkpoint step {step}", _intro(config, test), test, results,
                              info={"checkpoint_step": step}, figure_title=test.names[0])
  report.write_results(workdir, record, test, results, prefix="eval_")
  return results


def eval(config, workdir: str):  # noqa: A001 (mode name)
  return evaluate_checkpoint(config, workdir, _label(config))


def report_mode(config, workdir: str):
  return report.rerender(workdir)
