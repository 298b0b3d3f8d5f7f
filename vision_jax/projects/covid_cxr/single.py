"""One trained model of the study (the full pipeline or one ablation) in its own workdir: train with the
generic loop (early stopping on validation MCC), then evaluate on the held-out test split.

The workdir's fingerprint leaves out eval.* and explain.* (EVAL_PREFIXES), so changing how a model is
evaluated re-evaluates its checkpoint instead of training again; summary.json records the evaluation
fields it was computed with and is recomputed when they change.

summary.json: test metrics at 0.5 and at the validation-chosen threshold (with stratified bootstrap 95 %
intervals), the Table 2 sweep, the MCC plateau, ROC / PR points, Grad-CAM lung coverage per test image
against the true and the Otsu masks, the Otsu mask's Dice with the true mask and its fallbacks, and for
marker runs (or eval.marked_test) the same metrics on the test split with the marker painted at the
training rates (the confounded view), with the share of Grad-CAM energy in the marker's corner box on the
marked images (and on the same images without the marker).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from vision_jax import report as report_lib
from vision_jax.data import chest_xray as cx
from vision_jax.projects.covid_cxr import evaluation, pipeline as pl, training, xai
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib
from vision_jax.train.workdir import EVAL_PREFIXES, flatten

SUMMARY = "summary.json"


def eval_fields(config) -> dict:
  return {k: v for k, v in flatten(config).items() if k.startswith(EVAL_PREFIXES)}


def read_summary(workdir: str, config=None) -> dict | None:
  """summary.json of a finished run (None if absent, or if it was made with other eval fields)."""
  path = os.path.join(workdir, SUMMARY)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    summary = json.load(f)
  if config is not None and summary.get("eval_fields") != json.loads(json.dumps(eval_fields(config))):
    return None
  return summary


def build_model(config, channels: int):
  from vision_jax.models import get_classifier
  return get_classifier(str(config.model.name), 1, in_channels=channels, **dict(config.model.get("kwargs", {}) or {}))


PRECISE_BN = "precise_bn.npz"


def save_batch_stats(path: str, stats) -> None:
  from flax import traverse_util
  flat = traverse_util.flatten_dict(jax.device_get(stats), sep="/")
  np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


def load_batch_stats(path: str) -> dict:
  from flax import traverse_util
  with np.load(path, allow_pickle=False) as f:
    return traverse_util.unflatten_dict({k: f[k] for k in f.files}, sep="/")


def restore_best(config, workdir: str, channels: int, image_hw) -> tuple[object, dict, int]:
  """(model, state, step) of the run's selected checkpoint (best by train.select_metric, else latest), with
  the precise BatchNorm statistics that its evaluation used (workdir/precise_bn.npz) when present."""
  model = build_model(config, channels)
  problem = loop.TrainProblem(model, np.zeros((1, *image_hw, channels), np.float32), None, None)
  which = "best" if config.train.get("select_metric", "") else "latest"
  state, step = loop.restore_state(problem, config, workdir, which=which)
  path = os.path.join(workdir, PRECISE_BN)
  if os.path.exists(path):
    state = {**state, "batch_stats": load_batch_stats(path)}
  return model, state, int(step)


def coverage_of(config, model, state, data, probs) -> dict:
  """Grad-CAM lung coverage (percent) of every image of `data` against its true and Otsu masks, on the last
  feature map (the paper's) and, when explain.hires_layer names a submodule, on its output ("*_hires")."""
  targets = xai.cam_targets(probs, float(config.eval.threshold), str(config.explain.cam_target))
  maps = xai.grad_cam_maps(model, state, data.images, targets)
  box = np.broadcast_to(cx.corner_marker_box(data.images.shape[1:3]), data.masks.shape)
  out = {"true": xai.lung_coverage(maps, data.masks), "otsu": xai.lung_coverage(maps, data.aux["otsu_masks"]),
         "marker_box": xai.lung_coverage(maps, box), "targets": targets}
  layer = str(config.explain.get("hires_layer", "") or "")
  if layer:
    hires = xai.grad_cam_maps(model, state, data.images, targets, layer=layer)
    out.update({"true_hires": xai.lung_coverage(hires, data.masks),
                "otsu_hires": xai.lung_coverage(hires, data.aux["otsu_masks"]),
                "marker_box_hires": xai.lung_coverage(hires, box)})
  return out


def evaluate(config, model, state, val, test, marked_test=None) -> dict:
  """Everything summary.json holds (see the module docstring), computed from a trained state."""
  bs = int(config.eval.batch_size)
  thresholds = evaluation.sweep_thresholds(config)
  t0 = float(config.eval.threshold)
  val_probs = training.predict_probs(model, state, val.images, bs)
  t_val = evaluation.choose_threshold(val.labels, val_probs, thresholds)
  probs = training.predict_probs(model, state, test.images, bs)
  rows = evaluation.sweep(test.labels, probs, thresholds)
  lo, hi, best = evaluation.mcc_plateau(rows)
  val_rows = evaluation.sweep(val.labels, val_probs, thresholds)
  vlo, vhi, _ = evaluation.mcc_plateau(val_rows)
  boot = int(config.eval.bootstrap)
  ci = {}
  for name, t in (("at_default", t0), ("at_val", t_val)):
    for metric in ("mcc", "accuracy", "f1"):
      ci[f"{name}_{metric}"] = evaluation.bootstrap_interval(test.labels, probs, t, metric, boot, int(config.seed))
  ci["auc"] = evaluation.bootstrap_interval(test.labels, probs, t0, "auc", boot, int(config.seed))
  cov = coverage_of(config, model, state, test, probs)
  out = {"threshold_default": t0, "threshold_val": t_val, "at_default": evaluation.binary_metrics(test.labels, probs, t0),
         "at_val": evaluation.binary_metrics(test.labels, probs, t_val), "intervals": ci, "sweep": rows,
         "plateau": [lo, hi, best], "val_plateau": [vlo, vhi], "monotone": evaluation.is_monotone(rows),
         "curves": {k: np.asarray(v).tolist() if k != "average_precision" else v
                    for k, v in evaluation.curves(test.labels, probs).items()},
         "test_labels": test.labels.tolist(), "test_probs": probs.tolist(),
         "test_index": test.aux["index"].tolist(), "test_source_class": test.aux["source_class"].tolist(),
         "coverage_true": cov["true"].tolist(), "coverage_otsu": cov["otsu"].tolist(),
         **({"coverage_true_hires": cov["true_hires"].tolist(), "coverage_otsu_hires": cov["otsu_hires"].tolist()}
            if "true_hires" in cov else {}),
         "cam_targets": cov["targets"].tolist(),
         "otsu_dice": pl.dice(test.aux["otsu_masks"], test.masks).tolist(),
         "lung_area_true": (100.0 * test.masks.mean(axis=(1, 2))).tolist(),
         "lung_area_otsu": (100.0 * test.aux["otsu_masks"].mean(axis=(1, 2))).tolist(),
         "otsu_fallbacks": int(np.sum(test.aux["otsu_fallback"])),
         "otsu_fallback_reasons": sorted(set(str(r) for r in test.aux["otsu_reason"] if r)),
         "test_size": len(test), "test_positives": int(test.labels.sum()),
         "val_size": len(val), "val_positives": int(val.labels.sum())}
  if marked_test is not None:
    mprobs = training.predict_probs(model, state, marked_test.images, bs)
    mcov = coverage_of(config, model, state, marked_test, mprobs)
    marked = marked_test.aux["marker"]
    out["marked_test"] = {"at_default": evaluation.binary_metrics(marked_test.labels, mprobs, t0),
                          "coverage_true": mcov["true"].tolist(), "coverage_otsu": mcov["otsu"].tolist(),
                          "markers": int(np.sum(marked)),
                          "marker_energy": float(np.mean(mcov["marker_box"][marked])) if marked.any() else 0.0,
                          "marker_energy_clean": float(np.mean(cov["marker_box"][marked])) if marked.any() else 0.0,
                          "marker_box_area": float(100 * cx.corner_marker_box(test.images.shape[1:3]).mean())}
    if "true_hires" in mcov:
      out["marked_test"].update({
          "coverage_true_hires": mcov["true_hires"].tolist(),
          "marker_energy_hires": float(np.mean(mcov["marker_box_hires"][marked])) if marked.any() else 0.0,
          "marker_energy_clean_hires": float(np.mean(cov["marker_box_hires"][marked])) if marked.any() else 0.0})
  return out


def run(config, workdir: str, name: str = "full", read_only: bool = False) -> dict:
  """Trains (or resumes, or only re-evaluates) one model in `workdir` and returns its summary."""
  done = read_summary(workdir, config)
  if done is not None:
    return done
  if read_only:
    raise FileNotFoundError(f"run {workdir} has no summary for this evaluation config; --mode=report only reads "
                            "finished runs (run --mode=train first)")
  s = training.setup(config)
  val = training.load_eval_split(config, s, "val")
  test = training.load_eval_split(config, s, "test")
  marked = None
  if bool(config.data.options.get("marker", False)) or bool(config.eval.get("marked_test", False)):
    marked = training.load_eval_split(config, s, "test", marker=True, marker_splits="train,val,test")
  workdir_lib.prepare(config, workdir, ignore=EVAL_PREFIXES)
  problem = training.make_problem(config, s, val)
  res = loop.fit(problem, config, workdir, desc=f"covid_cxr {name}")
  state, step = res.state, int(res.state["step"])
  info = {"train_images": len(s.train), "train_positives": int(s.train.labels.sum()),
          "steps_run": step, "train_seconds": res.seconds, "resumed_from_step": res.start_step,
          "parameters": state_lib.count_params(res.state["params"])}
  if res.best:
    state, step = loop.restore_state(problem, config, workdir, which="best")
    info.update({"selected_by": res.best["metric"], "selected_value": res.best["value"], "selected_step": int(step),
                 "stopped_early": bool(res.best["stopped_early"])})
  batches = training.calibration_batches(s.train, config)
  if batches:
    state = training.calibrated(s.model, state, batches)
    save_batch_stats(os.path.join(workdir, PRECISE_BN), state["batch_stats"])
    info["precise_bn_batches"] = len(batches)
  summary = {"name": name, "channels": list(pl._names(config.data.options.get("channels", pl.CHANNELS))),
             "isolate": bool(config.data.options.get("isolate", True)),
             "marker": bool(config.data.options.get("marker", False)), "step": int(step), "info": info,
             **evaluate(config, s.model, state, val, test, marked), "eval_fields": eval_fields(config)}
  report_lib.write_json(os.path.join(workdir, SUMMARY), summary)
  return json.loads(json.dumps(report_lib._jsonable(summary)))
