"""Standard denoising benchmark (issue 4, Table 6 analogue): train under a time budget, then compare
per-image PSNR on a test folder with DnCNN (same budget), BM3D, scikit-image TV / NL-means / wavelet and
a tuned classical PDE prior, all on the same noisy inputs, measured in this run.

  .venv/bin/python benchmarks/bench_denoise.py --train_dir ../shared/data/denoise/Train400 \
      --test_dir ../shared/data/denoise/Set12 --sigmas 15,25,50 --budget_minutes 120

The budget is per trained model and sigma: the step time of each model is measured first and the step
count set so training fits the budget (the cosine schedule then completes). Both trained models
minimise the same objective (--objective: MSE by default, as PSNR is the score); each is also reported
with its x8 geometric self-ensemble (flips and rotations of the noisy input, averaged back). Every method gets the
same unclipped noisy input; the baselines' settings and the PDE prior are tuned on the validation image (`--val`,
bundled:astronaut by default: not in Set12, whose cameraman is scikit-image's `camera`). Sub-runs live in
<workdir>/table6/<name>-<fingerprint>/, so a rerun with the same settings only evaluates and a rerun with other
settings trains what it must.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # configs/ is a package at the repository root


def budget_steps(config, backbone: str, prior: str, budget_s: float) -> tuple[int, float]:
  """Steps that fit in budget_s for this backbone (measured on the training pipeline itself)."""
  from vision_jax.projects.pinn_denoise import run, study
  from vision_jax.tasks.denoise import modes, supervised
  from vision_jax.train import loop
  cfg = study.subrun_config(config, backbone=backbone, prior=prior)
  h = modes.prepare_heldout(cfg)
  problem = supervised.heldout_problem(cfg, h.model, h.multiple, [im.pixels for im in h.train_images], h.val,
                                       run.heldout_loss(run.get_protocol("heldout"))(h.model, cfg))
  sec = loop.seconds_per_step(problem, cfg)
  return max(int(budget_s / sec), 10), sec


def _parse_value(text: str):
  if text.lower() in ("true", "false"):
    return text.lower() == "true"
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--train_dir", required=True)
  p.add_argument("--test_dir", required=True)
  p.add_argument("--sigmas", default="15,25,50")
  p.add_argument("--budget_minutes", type=float, default=120.0)
  p.add_argument("--backbone", default="tnrd", help="our model (tnrd is the cheapest route on a CPU)")
  p.add_argument("--prior", default="none")
  p.add_argument("--workdir", default="runs/bench_denoise")
  p.add_argument("--objective", choices=("mse", "pinn"), default="mse",
                 help="mse: the data term only, for both trained models (the benchmark scores PSNR); "
                      "pinn: Algorithm 1's composite weights (perceptual, IC, BC terms too)")
  p.add_argument("--self_ensemble", action=argparse.BooleanOptionalAction, default=True,
                 help="also report each trained model's x8 flip/rotation self-ensemble (noisy input only)")
  p.add_argument("--steps", type=int, default=0,
                 help="with --dncnn_steps: fixed step counts instead of measuring the budget (to rerun or "
                      "extend a benchmark with the counts it printed)")
  p.add_argument("--dncnn_steps", type=int, default=0)
  p.add_argument("--max_size", type=int, default=0, help="downscale test images (0 = full size)")
  p.add_argument("--val", default="bundled:astronaut",
                 help="validation image that tunes the baselines and the PDE prior (never a test image)")
  p.add_argument("--set", action="append", default=[], help="extra config overrides key=value (repeatable)")
  a = p.parse_args(argv)
  from configs.pinn_denoise import study as study_config
  from vision_jax.config_utils import with_overrides
  from vision_jax.projects.pinn_denoise import study as denoise_study
  config = study_config.get_config(f"run=table6,backbone={a.backbone},prior={a.prior}")
  config.data.train_dir = a.train_dir
  config.data.train_max_size = 0
  config.eval.data_dir = a.test_dir
  config.data.max_size = a.max_size or None
  config.data.val = a.val  # tunes the baselines and the PDE prior; never a test image
  config.study.sigmas = a.sigmas
  config.noise.kind = "awgn"
  config.eval.self_ensemble = a.self_ensemble
  if a.objective == "mse":
    config.loss.weights = {"data": 1.0, "pde": 0.0, "perc": 0.0, "ic": 0.0, "bc": 0.0}
  for item in a.set:  # values are parsed like absl's --config.field=value (ints, floats, strings)
    key, _, value = item.partition("=")
    config = with_overrides(config, **{key: _parse_value(value)})
  budget_s = a.budget_minutes * 60.0
  if a.steps and a.dncnn_steps:
    ours_steps, dn_steps = a.steps, a.dncnn_steps
    print(f"steps given: {a.backbone} {ours_steps}, dncnn {dn_steps} (budget not measured)")
  else:
    ours_steps, ours_sec = budget_steps(config, a.backbone, a.prior, budget_s)
    dn_steps, dn_sec = budget_steps(config, "dncnn", "none", budget_s)
    print(f"budget {a.budget_minutes:g} min per model: {a.backbone} {ours_sec:.3f} s/step -> {ours_steps} steps; "
          f"dncnn {dn_sec:.3f} s/step -> {dn_steps} steps")
  config.train.steps = ours_steps
  config.study.dncnn_steps = dn_steps
  os.makedirs(a.workdir, exist_ok=True)
  text = denoise_study.train(config, a.workdir)
  with open(os.path.join(a.workdir, "table6", "table6.json")) as f:
    summary = json.load(f)
  print("\nmean PSNR per method (dB) and difference to BM3D:")
  for sigma, methods in summary.items():
    bm3d = methods.get("bm3d")
    for m, v in methods.items():
      diff = f"{v - bm3d:+.2f}" if bm3d is not None else "n/a"
      print(f"  sigma={sigma:>4}  {m:<45} {v:6.2f}  {diff}")
  return text


if __name__ == "__main__":
  sys.exit(0 if main() else 1)
