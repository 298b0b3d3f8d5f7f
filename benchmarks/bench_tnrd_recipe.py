"""What each part of the TNRD-7x7x48 training recipe gives (issue 10), measured on a validation split.

  taskset -c 0 .venv/bin/python benchmarks/bench_tnrd_recipe.py --train_dir ../shared/data/denoise/Train400 \\
      --workdir runs/tnrd_recipe [--sigma 25] [--joint_steps 800] [--variants recipe,joint_only,patch40]

The training folder is split by sorted file name: the last --val_count images are the validation set and
the model never trains on them (symlinks in <workdir>/split/{train,val}); no test image (Set12, the second
set) is read, so nothing here is chosen on a test image. Each variant is configs/denoise/tnrd.py at --sigma
with one change, trained on the split's train part and scored on its val part (fixed AWGN, eval seed 1234,
the same noisy inputs for every variant):

  recipe      the shipped recipe: greedy 5 x 100 steps (one stage trained at a time), then joint steps of 16
              64x64 patches, Adam 1e-3 with 100 warm-up steps and cosine decay
  joint_only  no greedy phase; the greedy phases' CPU seconds are given to joint steps (same CPU budget,
              from the recipe run's own phase times), so it runs after `recipe`
  patch40     41 patches of 40x40 per step (the same pixels per step as 16 x 64^2; smaller context)
  lr2e-3      Adam at 2e-3 (twice the recipe's rate)
  constant_lr no warm-up and no decay

Results: <workdir>/results.md (mean PSNR / SSIM on val, difference to `recipe`, CPU s and steps of each).
Run it on one core (taskset) with nothing else running so CPU seconds compare across variants.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # configs/ is a package at the repository root
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_denoise_suite as suite  # noqa: E402
from vision_jax.data.images import IMAGE_EXTENSIONS  # noqa: E402

VARIANTS = {
    "recipe": {},
    "joint_only": {"train.greedy_steps": 0},  # + the greedy CPU budget as joint steps (joint_only_steps)
    "patch40": {"data.patch_size": 40, "data.batch_size": 41},
    "lr2e-3": {"optim.lr": 2e-3},
    "constant_lr": {"optim.schedule": "constant", "optim.warmup_steps": 0},
}


def split_folder(train_dir: str, out_dir: str, val_count: int) -> tuple[str, str]:
  """Symlinks the images of train_dir into out_dir/train and out_dir/val (the last val_count by sorted name).

  Returns (train folder, val folder). Idempotent; refuses a val_count that leaves no training image.
  """
  if not os.path.isdir(train_dir):
    raise SystemExit(f"error: --train_dir {train_dir!r} is not a folder; expected the Train400 images")
  names = sorted(f for f in os.listdir(train_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
  if not 0 < val_count < len(names):
    raise SystemExit(f"error: --val_count {val_count} is invalid; expected 1 to {len(names) - 1} "
                     f"({len(names)} images in {train_dir!r})")
  parts = {"train": names[:-val_count], "val": names[-val_count:]}
  for part, files in parts.items():
    folder = os.path.join(out_dir, part)
    os.makedirs(folder, exist_ok=True)
    stale = set(os.listdir(folder)) - set(files)
    if stale:
      raise SystemExit(f"error: {folder!r} holds {sorted(stale)[:3]}..., not part of this split; "
                       "use a new --workdir")
    for f in files:
      link = os.path.join(folder, f)
      if not os.path.lexists(link):
        os.symlink(os.path.abspath(os.path.join(train_dir, f)), link)
  return os.path.join(out_dir, "train"), os.path.join(out_dir, "val")


def joint_only_steps(recipe_info: dict) -> int:
  """Joint steps with the recipe's whole CPU budget: its joint steps + greedy CPU s / joint CPU s per step.

  recipe_info: the recipe run's results.json "info" (train_cpu_seconds and the "phases" line of stagewise).
  """
  m = re.search(r"joint (\d+) steps [\d.]+ s \(([\d.]+) CPU s\)", recipe_info.get("phases", ""))
  if not m:
    raise ValueError(f"recipe info has no joint phase: {recipe_info.get('phases')!r}")
  steps, joint_cpu = int(m.group(1)), float(m.group(2))
  greedy_cpu = float(recipe_info["train_cpu_seconds"]) - joint_cpu
  return steps + round(greedy_cpu / (joint_cpu / steps))


def variant_config(name: str, sigma: float, joint_steps: int, train: str, val: str, progress: bool,
                   recipe_info: dict | None = None):
  """configs/denoise/tnrd.py at sigma with the variant's change; trains on `train`, scores on `val`."""
  from configs.denoise import tnrd
  from vision_jax.config_utils import with_overrides
  if name not in VARIANTS:
    raise SystemExit(f"error: variant {name!r} is unknown; valid: {', '.join(VARIANTS)}")
  c = tnrd.get_config(f"sigma={sigma:g}")
  c.train.steps = joint_steps
  c.data.train_dir, c.eval.data_dir = train, val
  c.eval.baselines, c.eval.classical_prior = "", ""
  c.train.eval_every, c.train.progress = 0, progress
  overrides = dict(VARIANTS[name])
  if name == "joint_only":
    overrides["train.steps"] = joint_only_steps(recipe_info)
  return with_overrides(c, **overrides)


def run_variant(config, wd: str) -> dict:
  """Trains (or resumes) and evaluates one variant with bench_denoise's trainer; returns its results.json."""
  suite.train(config, wd)
  with open(os.path.join(wd, "results.json")) as f:
    return json.load(f)


def model_row(results: dict) -> dict:
  """Mean PSNR / SSIM of the trained model (the held-out method of the run) and its training info."""
  name = next(k for k in results["methods"] if k != "noisy input")
  m = results["methods"][name]
  return {"psnr": m["mean_psnr"], "ssim": m["mean_ssim"], **results["info"],
          "noisy": results["methods"]["noisy input"]["mean_psnr"]}


def table(rows: dict) -> str:
  from vision_jax import report
  base = rows.get("recipe", {}).get("psnr")
  body = [[name, f"{r['psnr']:.2f}", "-" if base is None else f"{r['psnr'] - base:+.2f}", f"{r['ssim']:.4f}",
           r["train_steps"], f"{r['train_cpu_seconds']:.0f}"] for name, r in rows.items()]
  return report.markdown_table(["variant", "val PSNR (dB)", "vs recipe", "val SSIM", "steps", "CPU s"], body)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--train_dir", required=True, help="folder of training images (Train400); split into train / val")
  p.add_argument("--workdir", required=True)
  p.add_argument("--val_count", type=int, default=20)
  p.add_argument("--sigma", type=float, default=25.0)
  p.add_argument("--joint_steps", type=int, default=800)
  p.add_argument("--variants", default="recipe,joint_only,patch40")
  p.add_argument("--progress", action="store_true")
  a = p.parse_args(argv)
  names = [v for v in a.variants.split(",") if v]
  for v in names:
    if v not in VARIANTS:
      raise SystemExit(f"error: variant {v!r} is unknown; valid: {', '.join(VARIANTS)}")
  if "joint_only" in names and "recipe" not in names:
    raise SystemExit("error: joint_only takes the recipe run's CPU budget; add recipe to --variants")
  from vision_jax.train import workdir as workdir_lib
  train, val = split_folder(a.train_dir, os.path.join(a.workdir, "split"), a.val_count)
  rows, recipe_info = {}, None
  for name in sorted(names, key=lambda v: v != "recipe"):
    c = variant_config(name, a.sigma, a.joint_steps, train, val, a.progress, recipe_info)
    wd = os.path.join(a.workdir, "models", f"{name}-{workdir_lib.fingerprint(c)[:10]}")
    results = run_variant(c, wd)
    rows[name] = model_row(results)
    recipe_info = results["info"] if name == "recipe" else recipe_info
    print(f"{name}: val PSNR {rows[name]['psnr']:.2f} dB, {rows[name]['train_steps']} steps, "
          f"{rows[name]['train_cpu_seconds']:.0f} CPU s", flush=True)
  noisy = next(iter(rows.values()))["noisy"]
  text = (f"# TNRD-7x7x48 recipe ablation (issue 10), AWGN sigma {a.sigma:g}\n\n"
          f"Command: `{' '.join(['benchmarks/bench_tnrd_recipe.py'] + (argv or sys.argv[1:]))}`\n\n"
          f"Validation: the last {a.val_count} images of `{a.train_dir}` by name (never trained on); "
          f"noisy input {noisy:.2f} dB. Recipe: greedy 5 x 100 + {a.joint_steps} joint steps.\n\n"
          + table(rows) + "\n")
  from vision_jax import report
  report.write_text_atomic(os.path.join(a.workdir, "results.md"), text)
  print(text)


if __name__ == "__main__":
  main()
