"""Denoising benchmark (issue 10): learned denoisers against BM3D on held-out images, one run, same inputs.

  .venv/bin/python benchmarks/bench_denoise.py --train_dir ../shared/data/denoise/Train400 \
      --test_dir ../shared/data/denoise/Set12 --blind_workdir runs/weights-tnrd_blind

Models (each a denoise-task run trained on --train_dir in <workdir>/models/<name>-<fingerprint[:10]>, so a
rerun resumes or only evaluates; `--train_only` trains what is missing and stops; `--export_to DIR` writes
the per-sigma TNRDs as the .npz files vision_jax.denoise ships, model="tnrd7-s<sigma>"):
  tnrd7       TNRD 5 stages x 48 7x7 filters per sigma, greedy then joint (configs/denoise/tnrd.py:sigma=S)
  tnrd_blind  the noise-level-map TNRD for sigma in [0, 55] (configs/denoise/tnrd_blind.py, = `make weights`);
              rows with the true level and with the wavelet MAD estimate
  dncnn       DnCNN-17 per sigma with the CPU budget of the per-sigma TNRD (steps = its CPU seconds / DnCNN's
              CPU seconds per step, measured once and kept in <workdir>/dncnn_steps.json; --dncnn_steps S:N,...)
              `--step_rates` prints both models' CPU s per step and their ratio, to check a budget
  shipped     `vision_jax.denoise` with the packaged weights, sigma estimated (what a user gets)
References on the same unclipped noisy inputs: the noisy input, scikit-image TV / NL-means / wavelet and BM3D
(settings tuned on --val, BM3D at its default profile), and the best of --priors (each PDE prior tuned on
--val, the best by validation PSNR reported). Test sets: --test_dir (Set12) and --second_set (bundled
scikit-image pictures, none trained on; at --second_max_size). Also: seconds per 512x512 image of the shipped
model against BM3D (wall and CPU, same run), training steps and seconds of every model.
Results: <workdir>/results.md and results.json. The issue-4 benchmark (pinn_denoise Table 6 under a
wall-clock budget) is `bench_denoise.py --table6 ...` with its old arguments.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # configs/ is a package at the repository root
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import bench_denoise_suite as suite  # noqa: E402

TABLE6_DOC = """Standard denoising benchmark (issue 4, Table 6 analogue): train under a time budget, then compare
per-image PSNR on a test folder with DnCNN (same budget), BM3D, scikit-image TV / NL-means / wavelet and
a tuned classical PDE prior, all on the same noisy inputs, measured in this run.

  .venv/bin/python benchmarks/bench_denoise.py --table6 --train_dir ../shared/data/denoise/Train400 \\
      --test_dir ../shared/data/denoise/Set12 --sigmas 15,25,50 --budget_minutes 120

The budget is per trained model and sigma: the step time of each model is measured first and the step
count set so training fits the budget (the cosine schedule then completes). Both trained models
minimise the same objective (--objective: MSE by default, as PSNR is the score); each is also reported
with its x8 geometric self-ensemble. Sub-runs live in <workdir>/table6/<name>-<fingerprint>/.
"""


def parse(argv):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--train_dir", required=True)
  p.add_argument("--test_dir", default="", help="first held-out set (Set12); not needed with --train_only")
  p.add_argument("--second_set", default=suite.SECOND_SET, help="second held-out set (a folder or bundled:...)")
  p.add_argument("--second_max_size", type=int, default=256, help="downscale the second set (0 = full size)")
  p.add_argument("--sigmas", default="15,25,50")
  p.add_argument("--models", default="tnrd7,tnrd_blind,dncnn,shipped")
  p.add_argument("--workdir", default="runs/bench_denoise")
  p.add_argument("--blind_workdir", default="", help="the `make weights` workdir of the blind model (same config)")
  p.add_argument("--dncnn_steps", default="",
                 help="S:N,... fixed DnCNN step counts per sigma (a sigma not listed gets no DnCNN)")
  p.add_argument("--train_only", action="store_true", help="train the missing models and stop")
  p.add_argument("--step_rates", action="store_true",
                 help="print each requested model's CPU seconds per training step (one core: run it under "
                      "taskset -c 0) and the DnCNN / TNRD step ratio per sigma, then stop; trains nothing")
  p.add_argument("--export_to", default="",
                 help="export each per-sigma TNRD (--mode=export) to <folder>/tnrd7_s<sigma>.npz, the files "
                      "vision_jax.denoise ships (model='tnrd7-s<sigma>')")
  p.add_argument("--self_ensemble", action=argparse.BooleanOptionalAction, default=True,
                 help="also report the per-sigma TNRD's x8 flip/rotation self-ensemble")
  p.add_argument("--baselines", default="tv_chambolle,nl_means,wavelet,bm3d")
  p.add_argument("--priors", default="perona_malik,tv", help="classical PDE priors tuned on --val; best reported")
  p.add_argument("--val", default="bundled:astronaut", help="tunes baselines and priors; never a test image")
  p.add_argument("--set", action="append", default=[],
                 help="config override key=value for every model, or kind:key=value for one kind (repeatable)")
  p.add_argument("--progress", action="store_true", help="progress bars while training")
  a = p.parse_args(argv)
  if not a.test_dir and not (a.train_only or a.step_rates):
    p.error("--test_dir is required (the first held-out set, e.g. Set12) unless --train_only or --step_rates")
  return a


def parse_dncnn_steps(text: str) -> dict:
  """'15:1600,25:1635' -> {'15': 1600, '25': 1635} (sigma keys as f'{sigma:g}'); one line on a bad item."""
  given = {}
  for item in (x for x in text.split(",") if x):
    s, _, n = item.partition(":")
    try:
      given[f"{float(s):g}"] = int(n)
    except ValueError:
      raise SystemExit(f"error: --dncnn_steps item {item!r} is invalid; expected SIGMA:STEPS, e.g. 25:1635") from None
  return given


def dncnn_steps(a, sigma: float, tnrd_info: dict | None) -> int:
  """DnCNN steps for sigma: --dncnn_steps, else <workdir>/dncnn_steps.json, else measured and recorded."""
  given = parse_dncnn_steps(a.dncnn_steps)
  if given:
    return given.get(f"{sigma:g}", 0)
  path = os.path.join(a.workdir, "dncnn_steps.json")
  record = json.load(open(path)) if os.path.exists(path) else {}
  if f"{sigma:g}" in record:
    return int(record[f"{sigma:g}"]["steps"])
  if not tnrd_info:
    return 0
  budget = float(tnrd_info.get("train_cpu_seconds") or 0.0)
  per_step = suite.cpu_seconds_per_step(suite.model_config("dncnn", sigma, a, 10))
  steps = max(int(budget / per_step), 10)
  record[f"{sigma:g}"] = {"steps": steps, "budget_cpu_seconds": budget, "cpu_seconds_per_step": per_step}
  with open(path, "w") as f:
    json.dump(record, f, indent=1)
  print(f"DnCNN at sigma {sigma:g}: {per_step:.2f} CPU s/step -> {steps} steps for the TNRD's {budget:.0f} CPU s")
  return steps


def step_rates(a, sigmas, kinds, rate=None) -> list[str]:
  """One line per trainable model and sigma: its CPU s per train step (suite.cpu_seconds_per_step, compiles
  excluded), and per sigma with both tnrd7 and dncnn, how many TNRD-7 joint steps one DnCNN step costs."""
  rate = rate or suite.cpu_seconds_per_step
  lines = []
  for s in sigmas:
    per = {k: rate(suite.model_config(k, s, a, 10)) for k in ("tnrd7", "dncnn") if k in kinds}
    lines += [f"{k} sigma {s:g}: {v:.3f} CPU s/step" for k, v in per.items()]
    if len(per) == 2:
      lines.append(f"sigma {s:g}: 1 DnCNN-17 step = {per['dncnn'] / per['tnrd7']:.2f} TNRD-7 joint steps")
  if "tnrd_blind" in kinds:
    lines.append(f"tnrd_blind: {rate(suite.model_config('tnrd_blind', 25.0, a)):.3f} CPU s/step")
  return lines


def train_all(a, sigmas, kinds) -> dict:
  """{name: (config, workdir, info)} of every requested model, training what is missing (in order)."""
  out = {}
  if "tnrd_blind" in kinds:
    c = suite.model_config("tnrd_blind", 25.0, a)
    wd = suite.model_dir(a, "tnrd_blind", c)
    out["tnrd_blind"] = (c, wd, suite.train(c, wd))
  for s in sigmas:
    tinfo = None
    if "tnrd7" in kinds:
      c = suite.model_config("tnrd7", s, a)
      wd = suite.model_dir(a, f"tnrd7-s{s:g}", c)
      tinfo = suite.train(c, wd)
      out[f"tnrd7-s{s:g}"] = (c, wd, tinfo)
    if "dncnn" in kinds:
      steps = dncnn_steps(a, s, tinfo)
      if steps:
        c = suite.model_config("dncnn", s, a, steps)
        wd = suite.model_dir(a, f"dncnn-s{s:g}", c)
        out[f"dncnn-s{s:g}"] = (c, wd, suite.train(c, wd))
  return out


LABELS = {"tnrd7": "TNRD-7x7x48 per-sigma", "blind_true": "TNRD blind (true sigma map)",
          "blind_est": "TNRD blind (estimated sigma)", "shipped": "shipped vision_jax.denoise (sigma estimated)",
          "dncnn": "DnCNN-17 same CPU budget"}


def evaluate(a, sigmas, kinds, models) -> dict:
  """{set: {sigma: {"names", "results" (summary), "settings"}}} on fixed noisy inputs (seed 1234, val 1235)."""
  import ml_collections
  from vision_jax.data import images as images_lib
  from vision_jax.tasks.denoise import evaluation, supervised
  train_images = images_lib.load_images(a.train_dir)
  methods = {name: suite.restore(c, wd) for name, (c, wd, _) in models.items()}
  shipped = None
  if "shipped" in kinds:
    import vision_jax
    shipped = lambda y: vision_jax.denoise(y[..., 0])[..., None]  # noqa: E731
  out = {}
  for set_name, (source, max_size) in {"Set12": (a.test_dir, None),
                                       "second set": (a.second_set, a.second_max_size or None)}.items():
    out[set_name] = {}
    for s in sigmas:
      noise = ml_collections.ConfigDict({"kind": "awgn", "sigma": float(s), "looks": 4.0, "lam": 30.0})
      test = evaluation.make_test_set(source, noise, 1234, max_size)
      val = evaluation.make_test_set(a.val, noise, 1235, None)
      supervised.assert_disjoint(train_images, test, val)
      res = {}
      if f"tnrd7-s{s:g}" in methods:
        m = methods[f"tnrd7-s{s:g}"]
        res[LABELS["tnrd7"]] = evaluation.evaluate_method(m, test)
        if a.self_ensemble:
          res[LABELS["tnrd7"] + " + x8"] = evaluation.evaluate_method(evaluation.dihedral_self_ensemble(m), test)
      if "tnrd_blind" in methods:
        res[LABELS["blind_true"]] = evaluation.evaluate_method(methods["tnrd_blind"].at_sigma(float(s)), test)
        res[LABELS["blind_est"]] = evaluation.evaluate_method(methods["tnrd_blind"].at_sigma(None), test)
      if shipped is not None:
        res[LABELS["shipped"]] = evaluation.evaluate_method(shipped, test)
      if f"dncnn-s{s:g}" in methods:
        res[LABELS["dncnn"]] = evaluation.evaluate_method(methods[f"dncnn-s{s:g}"], test)
      refs, settings = suite.references(test, val, s, a)
      res.update(refs)
      out[set_name][f"{s:g}"] = {"names": test.names, "results": evaluation.summary(res),
                                 "settings": {k: _jsonable(v) for k, v in settings.items()}}
      print(f"{set_name} sigma {s:g}: " + ", ".join(f"{m} {np.mean(r['psnr']):.2f}" for m, r in res.items()))
  return out


def _jsonable(v):
  if isinstance(v, dict):
    return {k: _jsonable(x) for k, x in v.items()}
  if isinstance(v, (np.floating, np.integer)):
    return v.item()
  return v


def speed_rows(a, kinds) -> dict:
  """Seconds per 512x512 image: the shipped model against BM3D (and the per-sigma TNRD), same image."""
  from vision_jax.baselines import classical
  from vision_jax.data import images as images_lib
  big = [im for im in images_lib.load_images(a.test_dir) if im.pixels.shape[:2] == (512, 512)]
  clean = big[0].pixels if big else images_lib.load_bundled("camera").pixels
  noisy = (clean + 25 / 255 * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
  fns = {"bm3d (sigma given)": lambda y: classical.bm3d(y[..., 0], 25.0)}
  if "shipped" in kinds:
    import vision_jax
    fns["shipped, sigma given"] = lambda y: vision_jax.denoise(y[..., 0], 25.0)
    fns["shipped, sigma estimated"] = lambda y: vision_jax.denoise(y[..., 0])
    fns["shipped, sigma given, x8 self-ensemble"] = lambda y: vision_jax.denoise(y[..., 0], 25.0, self_ensemble=True)
  return {"image": big[0].name if big else "camera", "shape": list(clean.shape[:2]), **suite.speed(fns, noisy)}


def wins_over(results: dict, method: str, reference: str) -> str:
  """'n' = images where `method`'s PSNR is strictly above `reference`'s (same images, same order); '-' if absent."""
  if method not in results or reference not in results:
    return "-"
  return str(int(np.sum(np.asarray(results[method]["psnr"]) > np.asarray(results[reference]["psnr"]))))


def write_report(a, sigmas, models, evals, speeds) -> str:
  from vision_jax import report
  lines = ["# Denoising benchmark (issue 10): held-out PSNR against BM3D", "",
           "Command: `.venv/bin/python benchmarks/bench_denoise.py " + " ".join(sys.argv[1:]) + "`", "",
           "Every method sees the same unclipped noisy inputs (AWGN, seed 1234); outputs clipped to [0, 1] for "
           f"scoring; baselines and PDE priors tuned on `{a.val}`; models trained on `{a.train_dir}` only.", ""]
  cols = [("BM3D", "bm3d"), ("TNRD per-sigma", LABELS["tnrd7"]), ("per-sigma x8", LABELS["tnrd7"] + " + x8"),
          ("blind (true sigma)", LABELS["blind_true"]), ("blind (est. sigma)", LABELS["blind_est"]),
          ("shipped", LABELS["shipped"]), ("DnCNN-17 same budget", LABELS["dncnn"])]
  for set_name, per_sigma in evals.items():
    header, rows, diffs, wins = ["sigma"] + [c for c, _ in cols], [], [], []
    extra = {}
    for s, e in per_sigma.items():
      r = e["results"]
      get = lambda key: r[key]["mean_psnr"] if key in r else float("nan")  # noqa: E731
      rows.append([s] + [get(k) for _, k in cols])
      diffs.append([s] + [get(k) - get("bm3d") for _, k in cols[1:]])
      wins.append([s] + [wins_over(r, k, "bm3d") for _, k in cols[1:]])
      for m in r:
        if m.startswith("best PDE prior") or m in ("tv_chambolle", "nl_means", "wavelet", "noisy input"):
          extra.setdefault(m.split(" (")[0] if m.startswith("best") else m, []).append(r[m]["mean_psnr"])
    lines += [f"## {set_name}: mean PSNR (dB)", "", report.markdown_table(header, rows), "",
              f"Difference to BM3D (dB), {set_name}:", "", report.markdown_table(["sigma"] + [c for c, _ in cols[1:]], diffs), "",
              f"Images above BM3D (PSNR, of {len(next(iter(per_sigma.values()))['names'])}), {set_name}:", "",
              report.markdown_table(["sigma"] + [c for c, _ in cols[1:]], wins), "",
              "Other references (mean PSNR per sigma " + ", ".join(per_sigma) + "): "
              + "; ".join(f"{m} " + " / ".join(f"{v:.2f}" for v in vals) for m, vals in extra.items()), ""]
  lines += ["## Training (each model: Train400, fresh AWGN every step)", "",
            report.markdown_table(["model", "steps", "CPU s", "wall s", "phases"],
                                  [[n, info.get("train_steps"), info.get("train_cpu_seconds", float("nan")),
                                    info.get("train_seconds"), info.get("phases", "")]
                                   for n, (_, _, info) in models.items()], 0), ""]
  if speeds:
    lines += [f"## Inference: seconds per {speeds['shape'][0]}x{speeds['shape'][1]} image ({speeds['image']}, "
              "median of 2 after a warm-up call)", "",
              report.markdown_table(["method", "wall s", "CPU s"],
                                    [[k, v["wall"], v["cpu"]] for k, v in speeds.items() if isinstance(v, dict)], 2), ""]
    b = speeds["bm3d (sigma given)"]
    for name in ("shipped, sigma estimated", "shipped, sigma given, x8 self-ensemble"):
      if name in speeds:
        s = speeds[name]
        lines += [f"{name} vs BM3D: {b['wall'] / s['wall']:.1f}x faster (wall), {b['cpu'] / s['cpu']:.1f}x (CPU).", ""]
  for set_name, per_sigma in evals.items():
    for s, e in per_sigma.items():
      header = ["method"] + [f"{n}" for n in e["names"]] + ["mean PSNR", "mean SSIM", "s/image"]
      rows = [[m] + list(r["psnr"]) + [r["mean_psnr"], r["mean_ssim"], float(np.mean(r["seconds"]))]
              for m, r in e["results"].items()]
      lines += [f"### {set_name}, sigma {s}: per-image PSNR", "", report.markdown_table(header, rows), ""]
  text = "\n".join(lines)
  report.write_text_atomic(os.path.join(a.workdir, "results.md"), text)
  report.write_json(os.path.join(a.workdir, "results.json"),
                    {"evaluations": evals, "speed": speeds,
                     "training": {n: info for n, (_, _, info) in models.items()}})
  return text


def export_models(models: dict, folder: str) -> None:
  """Writes each per-sigma TNRD's --mode=export file to <folder>/tnrd7_s<sigma>.npz (vision_jax.denoise.MODELS)."""
  import shutil
  from vision_jax.tasks.denoise import export
  os.makedirs(folder, exist_ok=True)
  for name, (config, wd, _) in models.items():
    if name.startswith("tnrd7-s"):
      dst = os.path.join(folder, name.replace("-", "_") + ".npz")
      shutil.copyfile(export.export(config, wd), dst)
      print(f"exported {name} to {dst}")


def main(argv=None):
  argv = list(sys.argv[1:] if argv is None else argv)
  if "--table6" in argv:
    return table6_main([x for x in argv if x != "--table6"])
  a = parse(argv)
  sigmas = [float(s) for s in a.sigmas.split(",") if s]
  kinds = [k for k in a.models.split(",") if k]
  for k in kinds:
    if k not in suite.KINDS + ("shipped",):
      raise SystemExit(f"error: unknown model {k!r}; valid: {', '.join(suite.KINDS + ('shipped',))}")
  parse_dncnn_steps(a.dncnn_steps)  # a bad item fails now, not after the first model has trained
  if a.step_rates:
    print("\n".join(step_rates(a, sigmas, kinds)))
    return True
  os.makedirs(a.workdir, exist_ok=True)  # results.md lands here even when every model lives elsewhere
  models = train_all(a, sigmas, kinds)
  if a.export_to:
    export_models(models, a.export_to)
  if a.train_only:
    print("trained: " + ", ".join(f"{n} ({info.get('train_steps')} steps, {info.get('train_cpu_seconds', 0):.0f} CPU s)"
                                  for n, (_, _, info) in models.items()))
    return True
  evals = evaluate(a, sigmas, kinds, models)
  speeds = speed_rows(a, kinds)
  text = write_report(a, sigmas, models, evals, speeds)
  print(text)
  return True


# ----------------------------------------------------------------------------- the issue-4 benchmark (--table6)
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


_parse_value = suite._parse_value  # --set values: bools, ints, floats, else strings


def table6_main(argv=None):
  """The earlier benchmark (issue 4): the pinn_denoise study's Table 6 under a wall-clock budget."""
  p = argparse.ArgumentParser(description="bench_denoise.py --table6: " + TABLE6_DOC.splitlines()[0])
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
