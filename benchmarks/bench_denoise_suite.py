"""The pieces of benchmarks/bench_denoise.py (issue 10): model configs keyed by fingerprint, training,
reference methods, evaluation on fixed noisy test sets and the inference-speed comparison."""

from __future__ import annotations

import json
import os
import time

import numpy as np

SECOND_SET = ("bundled:coins,moon,brick,grass,gravel,text,page,chelsea,coffee,clock,rocket,hubble_deep_field,"
              "immunohistochemistry,retina,cell")  # scikit-image pictures: never trained on (camera = Set12's C.man)
KINDS = ("tnrd7", "tnrd_blind", "dncnn")


def _parse_value(text: str):
  if text.lower() in ("true", "false"):
    return text.lower() == "true"
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text


def model_config(kind: str, sigma: float, a, dncnn_steps: int = 0):
  """The denoise-task config of one benchmark model (fingerprinted: it keys the model's workdir)."""
  from configs.denoise import default, tnrd, tnrd_blind
  from vision_jax.config_utils import with_overrides
  if kind == "tnrd7":
    c = tnrd.get_config(f"sigma={sigma:g}")
  elif kind == "tnrd_blind":
    c = tnrd_blind.get_config()
  elif kind == "dncnn":
    c = default.get_config("backbone=dncnn")
    c.noise.sigma = float(sigma)
    c.train.steps = int(dncnn_steps)
    c.train.checkpoint_every, c.train.eval_every = 100, 0
  else:
    raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}")
  c.data.train_dir = a.train_dir
  if kind != "tnrd_blind":  # the blind config stays exactly `make weights`'s, so its workdir can be shared
    c.eval.baselines, c.eval.classical_prior = "", ""  # the benchmark measures the references itself
  for item in a.set:
    key, _, value = item.partition("=")
    prefix, _, field = key.partition(":")
    if field and prefix != kind:
      continue
    c = with_overrides(c, **{field or key: _parse_value(value)})
  c.train.progress = bool(a.progress)
  return c


def model_dir(a, name: str, config) -> str:
  """<workdir>/models/<name>-<fingerprint[:10]> (the blind model: --blind_workdir when given)."""
  from vision_jax.train import workdir as workdir_lib
  if name == "tnrd_blind" and a.blind_workdir:
    return a.blind_workdir
  return os.path.join(a.workdir, "models", f"{name}-{workdir_lib.fingerprint(config)[:10]}")


def trained(wd: str) -> bool:
  return os.path.exists(os.path.join(wd, "results.json"))


def train(config, wd: str) -> dict:
  """Trains (or resumes) one model with the denoise task; returns its run info (results.json)."""
  from vision_jax.tasks.denoise import modes
  from vision_jax.train import workdir as workdir_lib
  if not trained(wd):
    workdir_lib.check(config, wd, "train")
    modes.train(config, wd)
  return run_info(wd)


def run_info(wd: str) -> dict:
  with open(os.path.join(wd, "results.json")) as f:
    return json.load(f).get("info", {})


def cpu_seconds_per_step(config, n: int = 6) -> float:
  """CPU seconds (this process, all threads) of one jitted train step of config's model (compiles excluded).

  It used to time 4 steps after one warm-up call, which counted the second call's recompile: 2.58 CPU s
  per DnCNN-17 step against 1.8 s measured step by step, so DnCNN got about 30 % fewer steps than the budget.
  """
  from vision_jax.tasks.denoise import modes, supervised
  from vision_jax.train import loop
  h = modes.prepare_heldout(config)
  problem = supervised.heldout_problem(config, h.model, h.multiple, [im.pixels for im in h.train_images], h.val,
                                       supervised.training_loss(h.model, config))
  return loop.seconds_per_step(problem, config, n, clock=time.process_time)


def restore(config, wd: str):
  """The trained model's denoise method (with .at_sigma for noise-map models)."""
  from vision_jax.tasks.denoise import model as model_lib, modes
  model, multiple = model_lib.build_model(config, model_lib.TASK_BACKBONES)
  method, _ = modes.restore_method(config, wd, model, multiple)
  return method


def references(test, val, sigma: float, a) -> tuple[dict, dict]:
  """Noisy input, the scikit-image baselines and BM3D (tuned on val), and the best of the classical PDE
  priors a.priors (each tuned on val; the best by validation PSNR is reported)."""
  import ml_collections
  from configs.denoise import default
  from vision_jax.baselines import methods as baseline_methods, pde_tuning
  from vision_jax.tasks.denoise import evaluation
  cfg = default.get_config("backbone=tnrd")
  noise = ml_collections.ConfigDict({"kind": "awgn", "sigma": float(sigma), "looks": 4.0, "lam": 30.0})
  results = {"noisy input": evaluation.evaluate_method(lambda y: y, test)}
  tuned = baseline_methods.tune_classical(a.baselines.split(","), val.cleans[0], val.noisys[0], noise)
  for name, method in baseline_methods.classical_methods(tuned, noise).items():
    results[name] = evaluation.evaluate_method(method, test)
  settings = dict(tuned)
  best = None
  for prior in [p for p in a.priors.split(",") if p]:
    s = pde_tuning.tune_prior(prior, val.cleans[0], val.noisys[0], cfg.eval.pde)
    if best is None or s["val_psnr"] > best[1]["val_psnr"]:
      best = (prior, s)
  if best is not None:
    row = f"best PDE prior: {best[0]} (tuned on val)"
    results[row] = evaluation.evaluate_method(pde_tuning.prior_method(best[0], best[1], 0.0), test)
    settings[row] = best[1]
  return results, settings


def speed(method_fns: dict, image: np.ndarray, repeats: int = 2) -> dict:
  """{name: {"wall", "cpu"}}: median seconds per call on one (H, W, 1) image (after one warm-up call)."""
  out = {}
  for name, fn in method_fns.items():
    fn(image)
    walls, cpus = [], []
    for _ in range(repeats):
      t0, c0 = time.perf_counter(), time.process_time()
      np.asarray(fn(image))
      walls.append(time.perf_counter() - t0)
      cpus.append(time.process_time() - c0)
    out[name] = {"wall": float(np.median(walls)), "cpu": float(np.median(cpus))}
  return out
