"""The honest denoising study (seed 002 article 4): the paper's tables re-measured.

study = "table4": backbone x prior PSNR/SSIM under speckle, one table per protocol (held-out,
  oracle, zero-shot), next to baselines measured on the same noisy inputs.
study = "table5": ENL / CNR under speckle L in config.study.looks (regions chosen on the clean image).
study = "table6": per-image PSNR at AWGN sigma in config.study.sigmas: the held-out model, DnCNN
  trained under the same step budget, BM3D, scikit-image TV / NL-means / wavelet and a tuned PDE prior.
study = "scarcity": held-out PSNR with and without the PDE term against the number of clean training
  images, over seeds, with paired tests and the noisy-images-only (SURE) left end (scarcity.py).
study = "zeroshot": denoising without clean images per noise setting: the prior tuned by SURE, the
  zero-shot PINN fit, the SURE-trained network, next to the oracle-tuned prior, the supervised
  network and BM3D (zeroshot_table.py).

Each sub-run is a pinn_denoise run in workdir/<study>/<name>-<fingerprint>/: the fingerprint (first
10 hex digits of vision_jax.train.workdir.fingerprint of the sub-run's full config) keys it, so a
rerun with other settings trains what it must and never mixes cells; a finished sub-run (its
results.json exists) is read back, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import contextvars
import json
import os

import ml_collections
import numpy as np

from vision_jax import noise as noise_lib, report
from vision_jax.config_utils import split_names as _names, with_overrides
from vision_jax.metrics import image as image_metrics
from vision_jax.projects.pinn_denoise import claims, run, scarcity as scarcity_lib, zeroshot_table
from vision_jax.tasks.denoise import evaluation
from vision_jax.train import workdir as workdir_lib

STUDIES = ("table4", "table5", "table6", "scarcity", "zeroshot")
_READ_ONLY = contextvars.ContextVar("study_read_only", default=False)


def subrun_config(config, **fields):
  """The pinn_denoise config of one sub-run: the study config without its `study` section, with
  `fields` (dotted keys) overridden."""
  sub = ml_collections.ConfigDict(config.to_dict())
  del sub["study"]
  sub.project = "pinn_denoise"
  return with_overrides(sub, **fields)


def sub_run(config, workdir: str, name: str, *, keep_outputs: bool = False, **fields) -> dict:
  """Runs pinn_denoise with `fields` overridden in workdir/<name>-<fingerprint> (read back if finished).

  Returns the results dict: {method: {'psnr', 'ssim', 'seconds', ['outputs']}} plus '_info'.
  keep_outputs: run it again (a finished held-out sub-run only re-evaluates its checkpoint) to get
  the denoised images.
  """
  sub = subrun_config(config, **fields)
  out_dir = os.path.join(workdir, f"{name}-{workdir_lib.fingerprint(sub)[:10]}")
  done = os.path.join(out_dir, "results.json")
  if os.path.exists(done) and not keep_outputs:
    with open(done) as f:
      data = json.load(f)
    return {**data["methods"], "_info": data.get("info", {})}
  if _READ_ONLY.get() and not os.path.exists(done):
    raise FileNotFoundError(f"sub-run {out_dir} has not finished; --mode=report only reads finished sub-runs "
                            "(run --mode=train first)")
  results = run.train(sub, out_dir)
  with open(done) as f:
    info = json.load(f).get("info", {})
  return {**results, "_info": info}


def _mean(r: dict, key: str = "psnr") -> float:
  return float(np.mean(r[key]))


def table4(config, workdir: str) -> str:
  backbones, priors, protocols = (_names(config.study.backbones), _names(config.study.priors),
                                  _names(config.study.protocols))
  lines = [f"# Table 4 analogue: backbone x prior, {noise_lib.noise_label(config.noise)}", ""]
  cells = {}
  for protocol in protocols:
    for bb in backbones:
      for prior in priors:
        base = {"eval.baselines": "", "eval.classical_prior": ""}
        r = sub_run(config, workdir, f"{protocol}-{bb}-{prior}", backbone=bb, prior=prior, protocol=protocol, **base)
        label = next(k for k in r if k not in ("_info", "noisy input"))
        cells[(protocol, bb, prior)] = (_mean(r[label]), _mean(r[label], "ssim"))
    title = {"heldout": "held-out (the number that counts)", "oracle": "ORACLE: fits each test image's clean target "
             "(paper's Algorithm 1; an upper bound, not denoising)", "zeroshot": "zero-shot (noisy test image only)"}
    rows = [[bb] + [f"{cells[(protocol, bb, p)][0]:.2f}/{cells[(protocol, bb, p)][1]:.3f}" for p in priors]
            for bb in backbones]
    lines += [f"## {title.get(protocol, protocol)}", "", report.markdown_table(["backbone"] + priors, rows), ""]
  ref = sub_run(config, workdir, "baselines", backbone=backbones[0], prior=priors[0], protocol="zeroshot",
                **{"zeroshot.steps": 1})
  base_rows = [[m, _mean(r), _mean(r, "ssim")] for m, r in ref.items() if m != "_info" and "zero-shot" not in m]
  lines += ["## Baselines on the same noisy inputs", "", report.markdown_table(["method", "PSNR", "SSIM"], base_rows, 3), "",
            "## The paper's Table 4 (its claims, RESISC/AID, oracle protocol; not measured here)", "",
            report.markdown_table(["backbone", "heat", "perona_malik", "mpmc", "zg"],
                                  [[bb] + list(v.values()) for bb, v in claims.PAPER_TABLE4.items()]), ""]
  if "heldout" in protocols and "resu2net" in backbones and "zg" in priors:
    best = with_overrides(config, protocol="heldout", backbone="resu2net", prior="zg")
    lines.append(f"**{claims.verdict(best, 'heldout', cells[('heldout', 'resu2net', 'zg')][0])}**")
  report.write_json(os.path.join(workdir, "table4.json"), {f"{k[0]}/{k[1]}/{k[2]}": v for k, v in cells.items()})
  return "\n".join(lines)


def table5(config, workdir: str) -> str:
  """ENL on the flattest blocks of the clean image; CNR between Otsu object and background masks."""
  looks = [float(x) for x in _names(config.study.looks)]
  rows, data = [], {}
  for L in looks:
    r = sub_run(config, workdir, f"speckle-L{L:g}", keep_outputs=True, **{"noise.kind": "speckle", "noise.looks": L})
    speckle = with_overrides(config, **{"noise.kind": "speckle", "noise.looks": L}).noise
    test = evaluation.make_test_set(config.eval.data_dir or config.data.test, speckle, config.eval.seed,
                                    config.data.max_size)
    for method, res in r.items():
      if method == "_info":
        continue
      enls, cnrs = [], []
      for clean, out in zip(test.cleans, res["outputs"]):
        flat = image_metrics.homogeneous_region_mask(clean, size=8, k=4)
        obj, bg = image_metrics.object_background_masks(clean)
        enls.append(float(image_metrics.enl(out, flat)))
        cnrs.append(float(image_metrics.cnr(out, obj, bg)))
      data[f"L={L:g}/{method}"] = {"enl": enls, "cnr": cnrs}
      rows.append([f"{L:g}", method, float(np.mean(enls)), float(np.mean(cnrs)), _mean(res)])
  report.write_json(os.path.join(workdir, "table5.json"), data)
  return "\n".join([
      "# Table 5 analogue: ENL / CNR under speckle", "",
      "ENL = mean^2/var over the 4 flattest 8x8 blocks of the clean image (mean >= 0.05); CNR = |mu_obj - mu_bg| / "
      "sqrt(var_obj + var_bg) with Otsu object/background masks of the clean image, eroded by 2 px. Same noisy inputs for every method.",
      "", report.markdown_table(["L", "method", "ENL", "CNR", "PSNR"], rows), ""])


def table6(config, workdir: str) -> str:
  """Per-image PSNR at each AWGN sigma: our held-out model, DnCNN (same steps), classical baselines."""
  sigmas = [float(s) for s in _names(config.study.sigmas)]
  lines = [f"# Table 6 analogue: AWGN, test images `{config.eval.data_dir or config.data.test}`", ""]
  summary = {}
  for sigma in sigmas:
    noise = {"noise.kind": "awgn", "noise.sigma": sigma}
    ours = sub_run(config, workdir, f"sigma{sigma:g}-{config.backbone}-{config.prior}", **noise)
    dncnn_steps = int(config.study.get("dncnn_steps") or config.train.steps)
    dncnn = sub_run(config, workdir, f"sigma{sigma:g}-dncnn", backbone="dncnn", prior="none",
                    **{**noise, "eval.baselines": "", "eval.classical_prior": "", "train.steps": dncnn_steps})
    merged = {k: v for k, v in ours.items() if k != "_info"}
    merged.update({k: v for k, v in dncnn.items() if k not in ("_info", "noisy input")})
    header, rows = evaluation.results_rows(merged, [f"#{i + 1}" for i in range(len(merged["noisy input"]["psnr"]))])
    bm3d = _mean(merged["bm3d"]) if "bm3d" in merged else None
    summary[sigma] = {m: _mean(r) for m, r in merged.items()}
    trained = [m for m in merged if "[held-out]" in m]  # our model and DnCNN (with self-ensemble rows)
    gaps = "; ".join(f"{m} {summary[sigma][m] - bm3d:+.2f} dB" for m in trained) if bm3d is not None else ""
    lines += [f"## sigma = {sigma:g}", "", report.markdown_table(header, rows), "",
              f"Training time: ours {ours['_info'].get('train_seconds', 0):.0f} s, DnCNN "
              f"{dncnn['_info'].get('train_seconds', 0):.0f} s ({config.train.steps} and {dncnn_steps} steps)."
              + (f" Difference to BM3D: {gaps}." if gaps else ""), ""]
  report.write_json(os.path.join(workdir, "table6.json"), summary)
  return "\n".join(lines)


def scarcity(config, workdir: str) -> str:
  """Held-out PSNR with and without the PDE term vs the number of clean training images, over seeds,
  with paired tests and the noisy-images-only left end (scarcity.py)."""
  return scarcity_lib.run_study(config, workdir, sub_run)


def zeroshot(config, workdir: str) -> str:
  """Denoising without clean images per noise setting, next to oracle and supervised rows (zeroshot_table.py)."""
  return zeroshot_table.run_table(config, workdir, sub_run)


def _numbers(text, name: str, cast=float, minimum=None) -> list:
  try:
    values = [cast(x) for x in _names(text)]
  except ValueError:
    raise ValueError(f"{name}={text!r} is invalid; expected comma-separated numbers") from None
  if not values or (minimum is not None and min(values) < minimum):
    raise ValueError(f"{name}={text!r} is invalid; expected numbers >= {minimum}")
  return values


def validate_plan(config, studies: list[str]) -> None:
  """Validates every sub-run config a study will run, before any of them trains (one-line errors)."""
  for s in studies:
    if s not in STUDIES:
      raise ValueError(f"unknown study {s!r}; valid: {', '.join(STUDIES)}")
  plans = [{}]
  if "table4" in studies:
    plans += [{"backbone": bb, "prior": prior, "protocol": protocol}
              for protocol in _names(config.study.protocols) for bb in _names(config.study.backbones)
              for prior in _names(config.study.priors)]
  if "table5" in studies:
    plans += [{"noise.kind": "speckle", "noise.looks": L} for L in _numbers(config.study.looks, "study.looks", float, 1)]
  if "table6" in studies:
    plans += [{"noise.kind": "awgn", "noise.sigma": s} for s in _numbers(config.study.sigmas, "study.sigmas", float, 0)]
  if "scarcity" in studies:
    _numbers(config.study.counts, "study.counts", int, 1)
    seeds = _numbers(config.study.get("seeds", "0"), "study.seeds", int, 0)
    if len(set(seeds)) != len(seeds):
      raise ValueError(f"study.seeds={config.study.seeds!r} repeats a seed; expected distinct seeds")
    plans += [{"loss.weights.pde": 0.0, "train.eval_every": 0}]
    if config.study.get("selfsup", True):
      plans += [{"protocol": "selfsup"}]
  if "zeroshot" in studies:
    for _, fields in zeroshot_table.parse_settings(config.study.noises):
      plans += [{"protocol": p, **fields} for p in ("zeroshot", "selfsup", "heldout")]
  for fields in plans:
    run.validate(subrun_config(config, **fields))


def train(config, workdir: str):
  """Runs every study named in config.study.run and writes workdir/results.md."""
  studies = _names(config.study.run)
  validate_plan(config, studies)
  os.makedirs(workdir, exist_ok=True)
  parts = [STUDY_FUNCTIONS[s](config, os.path.join(workdir, s)) for s in studies]
  text = "\n\n".join(parts)
  report.write_text_atomic(os.path.join(workdir, "results.md"), text)
  print(text)
  return text


def report_mode(config, workdir: str):
  """--mode=report: rebuilds results.md from finished sub-runs only; a missing one is an error, never trained."""
  token = _READ_ONLY.set(True)
  try:
    return train(config, workdir)
  finally:
    _READ_ONLY.reset(token)


STUDY_FUNCTIONS = {"table4": table4, "table5": table5, "table6": table6, "scarcity": scarcity, "zeroshot": zeroshot}
# Sub-runs are keyed by their own fingerprints, so the study's top-level folder is not locked to one config.
WORKDIR_POLICY = "subruns"
MODES = {"train": train, "report": report_mode}
