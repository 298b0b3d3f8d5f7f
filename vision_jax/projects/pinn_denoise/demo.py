"""The `make demo` run of pinn_denoise (config.project = "pinn_denoise.demo"): the project's methods at
their honest best, on the same noisy test images, in one report.

Pieces, each a pinn_denoise sub-run of study.sub_run (keyed by its config's fingerprint, read back or
resumed on a rerun) or a function of this project:
  1. held-out: the PINN-loss network trained on the training images only, with the references the run
     measures on the same noisy inputs (noisy input, scikit-image TV / NL-means / wavelet, BM3D and a
     Perona-Malik diffusion tuned on the validation image);
  2. the PDE prior as a zero-shot denoiser: config.prior run on each variance-stabilised noisy test
     image (the unbiased log for speckle) with its parameter and stopping step chosen by SURE, next to
     the same prior with parameters chosen on the clean test image (labelled ORACLE): zeroshot.prior_rows;
  3. the paper's oracle protocol (Algorithm 1: a fresh network fitted to one test image's clean target)
     on the first test image, beside the held-out network on the same noisy image, with the verdict lines;
  4. if vision_jax/weights/tnrd_blind.npz exists: the shipped vision_jax.denoise (blind TNRD, sigma
     estimated) against BM3D (true sigma) at AWGN config.study.shipped_sigma on the same test images.
Every method of a table sees the same noisy arrays; the driver checks it bit for bit.

study.seeds = n > 0 instead runs only piece 1's network (and its x8 self-ensemble, eval.self_ensemble) once
per seed 0..n-1 (references off) and writes the spread of its mean PSNR (seeds.md): the robustness figure
the README quotes.

Writes workdir/results.md / .json / .csv, comparison.png (clean, noisy, every method with its PSNR
on the first test image) and training_curves.png (every weighted term of the PINN loss per step).
"""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np

from vision_jax import noise as noise_lib, report as report_lib
from vision_jax.config_utils import with_overrides
from vision_jax.projects.pinn_denoise import claims, run, study, zeroshot
from vision_jax.tasks.denoise import evaluation, modes, report
from vision_jax.train import workdir as workdir_lib
from vision_jax.train.writer import read_jsonl

LOSS_TERMS = ("data", "pde", "perc", "ic", "bc")
WORKDIR_POLICY = "subruns"  # sub-runs are keyed by fingerprint; the top folder holds the report only


def subrun_dir(config, workdir: str, name: str, **fields) -> str:
  """The folder study.sub_run uses for this sub-run."""
  return os.path.join(workdir, f"{name}-{workdir_lib.fingerprint(study.subrun_config(config, **fields))[:10]}")


def oracle_fields(config) -> dict:
  """Sub-run fields of the oracle protocol on the first test image, study.oracle_steps steps (Algorithm 1:
  500); no references (piece 1 has them). Only this sub-run gets the steps, so the held-out sub-run's
  fingerprint does not depend on them."""
  first = str(config.data.test).split(":", 1)[1].split(",")[0]
  return {"protocol": "oracle", "data.test": f"bundled:{first}", "eval.baselines": "", "eval.classical_prior": "",
          "oracle.steps": int(config.study.oracle_steps)}


def check_same_inputs(rows: dict, test: evaluation.TestSet, count: int | None = None) -> None:
  """Raises unless the 'noisy input' row of a sub-run scored exactly test.noisys (first `count` images)."""
  outs = rows["noisy input"]["outputs"]
  for i, (a, b) in enumerate(zip(outs, test.noisys[:count or len(outs)])):
    if not np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32).reshape(np.shape(a))):
      raise AssertionError(f"sub-run noisy input {i} differs from the demo's noisy test image {test.names[i]}")


def _mean(r: dict) -> float:
  return float(np.mean(r["psnr"]))


def shipped_rows(config) -> dict:
  """{row: result} of the shipped vision_jax.denoise and BM3D at AWGN study.shipped_sigma; {} without weights."""
  from vision_jax import denoise as denoise_api
  from vision_jax.baselines import classical, methods
  if not os.path.exists(os.path.join(denoise_api.WEIGHTS_DIR, denoise_api.MODELS["default"])):
    return {}
  noise_cfg = with_overrides(config, **{"noise.kind": "awgn", "noise.sigma": float(config.study.shipped_sigma)}).noise
  test = evaluation.make_test_set(modes.test_source(config), noise_cfg, config.eval.seed, config.data.max_size)
  label = f"AWGN {float(config.study.shipped_sigma):g}"
  out = {f"{label}: noisy input": evaluation.evaluate_method(lambda y: y, test),
         f"{label}: vision_jax.denoise (shipped blind TNRD, sigma estimated)":
             evaluation.evaluate_method(lambda y: denoise_api.denoise(y), test)}
  if "bm3d" in classical.available_baselines():
    out[f"{label}: bm3d (true sigma)"] = evaluation.evaluate_method(methods.baseline_method("bm3d", noise_cfg), test)
  return out


def loss_terms_figure(metrics_path: str, path: str, weights: dict, title: str = "") -> str | None:
  """Weighted loss terms w_k L_k (and their sum) per training step, log scale, from metrics.jsonl."""
  from matplotlib.figure import Figure
  rows = [r for r in read_jsonl(metrics_path) if "train/loss" in r]
  if not rows:
    return None
  steps = [r["step"] for r in rows]
  fig = Figure(figsize=(6.5, 4.0), layout="constrained")
  ax = fig.subplots()
  ax.plot(steps, [r["train/loss"] for r in rows], color="black", lw=2, label="total")
  for term in LOSS_TERMS:
    w = float(weights.get(term, 0.0))
    if w > 0 and f"train/{term}" in rows[0]:
      ax.plot(steps, [w * r[f"train/{term}"] for r in rows], label=f"{w:g} x {term}")
  ax.set_yscale("log")
  ax.set_xlabel("training step")
  ax.set_ylabel("weighted loss term")
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.savefig(path, dpi=110)
  return path


def comparison_figure(path: str, test: evaluation.TestSet, results: dict, title: str) -> None:
  """Clean / noisy / every method with outputs (PSNR in each caption) on test image 0, 3 columns."""
  panels = [(textwrap.fill(c, 34), im) for c, im in evaluation.comparison_panels(test, results, crop=256)]
  report_lib.image_grid_figure(path, panels, ncols=3, title=title)


def _settings_text(per_image: list[dict]) -> str:
  return "; ".join(", ".join(f"{k}={v:.4g}" for k, v in s.items() if k != "score") for s in per_image)


def summary_lines(config, test, results: dict, net: str, prior_row: str, oracle: dict, heldout_cfg) -> list[str]:
  """The bold lines of the report: the network against the references, the oracle protocol, the verdicts."""
  m = {k: _mean(v) for k, v in results.items()}
  pm = next((k for k in results if k.startswith("pde:") and "(tuned on val)" in k), None)
  gains = [f"{m[net] - m['noisy input']:+.2f} dB against the noisy input",
           f"{m[net] - m[prior_row]:+.2f} dB against {prior_row}"]
  if pm:
    gains.append(f"{m[net] - m[pm]:+.2f} dB against {pm}")
  if "bm3d" in m:
    gains.append(f"{m[net] - m['bm3d']:+.2f} dB against bm3d")
  lines = [f"Held-out network {net}: {m[net]:.2f} dB mean PSNR; " + ", ".join(gains) + "."]
  if modes.self_ensemble_label(net) in m:
    x8 = m[modes.self_ensemble_label(net)]
    lines.append(f"The same network with its x8 flip/rotation self-ensemble: {x8:.2f} dB ({x8 - m[net]:+.2f} dB).")
  lines += [
           f"PDE prior without any clean image ({prior_row}): {m[prior_row]:.2f} dB, "
           f"{m[prior_row] - m['noisy input']:+.2f} dB over the noisy input."]
  olabel = next(k for k in oracle if "ORACLE" in k)
  o = oracle[olabel]["psnr"][0]
  h = results[net]["psnr"][0]
  gap = (f"the {o - h:+.2f} dB are what fitting the answer adds, not denoising" if o > h else
         f"fitting one image from scratch for {int(config.study.oracle_steps)} steps does not reach "
         "the held-out network; its number measures memorisation, not denoising")
  lines.append(f"The paper's protocol on {test.names[0]} ({olabel}, fitted to the clean target of the image it "
               f"is scored on): {o:.2f} dB; the held-out network on the same noisy {test.names[0]}: {h:.2f} dB: {gap}.")
  lines.append(claims.verdict(heldout_cfg, "heldout", m[net]))
  lines.append(claims.verdict(study.subrun_config(config, **oracle_fields(config)), "oracle", o))
  return lines


def train(config, workdir: str):
  """Runs the demo's pieces (module doc) and writes the report; returns the results dict (no outputs)."""
  if int(config.study.get("seeds", 0)) > 0:
    return seed_spread(config, workdir)
  heldout_cfg = study.subrun_config(config)
  run.validate(heldout_cfg)
  run.validate(study.subrun_config(config, **oracle_fields(config)))
  os.makedirs(workdir, exist_ok=True)
  held = study.sub_run(config, workdir, "heldout", keep_outputs=True)
  info = held.pop("_info")
  test, _ = modes.load_eval_sets(heldout_cfg)
  check_same_inputs(held, test)
  net = run.method_label(heldout_cfg)
  priors, tuned = zeroshot.prior_rows(heldout_cfg, test)
  prior_row = next(k for k in priors if "SURE" in k)
  results = {net: held.pop(net), "noisy input": held.pop("noisy input"), **priors, **held}
  oracle = study.sub_run(config, workdir, "oracle", keep_outputs=True, **oracle_fields(config))
  oracle.pop("_info")
  check_same_inputs(oracle, test, count=1)
  lines = summary_lines(config, test, results, net, prior_row, oracle, heldout_cfg)
  shipped = shipped_rows(config)
  if shipped:
    lines += [f"{k}: {_mean(v):.2f} dB mean PSNR" for k, v in shipped.items()]
  info.update({f"{row} settings": _settings_text(per) for row, per in tuned.items()})
  info["oracle protocol PSNR"] = {k: v["psnr"] for k, v in oracle.items()}
  intro = (f"The network trains on clean training images (fresh noise every step), never on a test or the validation "
           f"image. Noise: {noise_lib.noise_label(config.noise)} "
           f"(fixed seed {config.eval.seed}); test images `{modes.test_source(config)}` at {config.data.max_size} px; "
           "every row sees the same noisy inputs (checked bit for bit); outputs clipped to [0, 1] for scoring. "
           "Rows marked ORACLE saw the clean test image and are upper bounds, not methods.")
  record = report.make_record(f"vision_jax demo: {net}", intro, test, {**results, **shipped}, lines=lines, info=info,
                              settings=_load_settings(subrun_dir(config, workdir, "heldout")))
  md, header, rows = report.render_markdown(record)
  report_lib.write_json(os.path.join(workdir, "results.json"), record)
  report_lib.write_text_atomic(os.path.join(workdir, "results.md"), md)
  report_lib.write_csv(os.path.join(workdir, "results.csv"), header, rows)
  comparison_figure(os.path.join(workdir, "comparison.png"), test, results,
                    f"{test.names[0]}: {noise_lib.noise_label(config.noise)} (same noisy input for every method)")
  loss_terms_figure(os.path.join(subrun_dir(config, workdir, "heldout"), "metrics.jsonl"),
                    os.path.join(workdir, "training_curves.png"), dict(config.loss.weights),
                    f"{net}: PINN loss terms on training patches")
  print(md)
  print(f"wrote {workdir}/results.md, .json, .csv, comparison.png, training_curves.png")
  return record["methods"]


def _load_settings(sub_dir: str) -> dict:
  path = os.path.join(sub_dir, "results.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f).get("settings", {})


def seed_spread(config, workdir: str) -> dict:
  """The held-out network alone for seeds 0..study.seeds-1: per-seed mean PSNR of each of its rows (the
  network, and its x8 self-ensemble if eval.self_ensemble) and their spread (seeds.md)."""
  n = int(config.study.seeds)
  quiet = {"eval.baselines": "", "eval.classical_prior": ""}
  means = {}  # {row: {seed: mean PSNR}}
  for seed in range(n):
    r = study.sub_run(config, workdir, f"seed{seed}", seed=seed, **quiet)
    for row in (k for k in r if k not in ("_info", "noisy input")):
      means.setdefault(row, {})[seed] = _mean(r[row])
    noisy = _mean(r["noisy input"])
  rows = list(means)
  lines = [f"# Held-out {rows[0]}: mean PSNR over seeds 0-{n - 1}", "",
           report_lib.markdown_table(["seed"] + [f"{row} (dB)" for row in rows],
                                     [[s] + [means[row][s] for row in rows] for s in range(n)]), "",
           f"Noisy input {noisy:.2f} dB."]
  spreads = {}
  for row in rows:
    v = np.array(list(means[row].values()))
    spreads[row] = float(v.max() - v.min())
    lines.append(f"{row}: mean {v.mean():.2f} dB, min {v.min():.2f}, max {v.max():.2f}, spread (max - min) "
                 f"{spreads[row]:.2f} dB, sd {v.std(ddof=1) if n > 1 else 0:.2f} dB.")
  text = "\n".join(lines + [""])
  report_lib.write_text_atomic(os.path.join(workdir, "seeds.md"), text)
  print(text)
  return {"means": means, "spread": spreads}


def report_mode(config, workdir: str):
  """--mode=report: rewrites results.md / .csv from results.json (nothing is recomputed)."""
  return report.rerender(workdir)


MODES = {"train": train, "report": report_mode}
