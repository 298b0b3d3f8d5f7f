"""Modes of the covid_cxr project: train (the full model and every ablation, then the report and the
explanations), report (re-renders results.md from finished runs, trains nothing) and explain
(overlays, rule-based texts and the randomization check of the full model).

Every model is a sub-run in workdir/<name>-<fingerprint[:10]> (the fingerprint of its own config without
the study section, eval.* and explain.*), so a rerun resumes, re-evaluates only what changed and never
mixes cells; the top-level folder only collects them (WORKDIR_POLICY = "subruns").
"""

from __future__ import annotations

import json
import os
import time

import ml_collections

from vision_jax import report as report_lib
from vision_jax.config_utils import split_names, with_overrides
from vision_jax.projects.covid_cxr import ablations as ablations_lib, baselines as baselines_lib, explain as explain_lib
from vision_jax.projects.covid_cxr import report, rules, single, training
from vision_jax.train import workdir as workdir_lib


def subrun_config(config, name: str):
  """The config of one model: the study config without its `study` section, the ablation's overrides applied."""
  sub = ml_collections.ConfigDict(config.to_dict())
  if "study" in sub:
    del sub["study"]
  return with_overrides(sub, **ablations_lib.get_ablation(name).overrides)


def subrun_dir(config, workdir: str, name: str) -> str:
  sub = subrun_config(config, name)
  return os.path.join(workdir, f"{name}-{workdir_lib.fingerprint(sub, ignore=workdir_lib.EVAL_PREFIXES)[:10]}")


def study_names(config) -> list[str]:
  return ablations_lib.run_order(split_names(config.study.get("ablations", "")))


def validate(config) -> list[str]:
  """Checks the whole study before anything is written: ablation names, rule thresholds, every
  sub-run's config fields, and the full run's data (loads its training split)."""
  names = study_names(config)
  rules.check_rule_thresholds(float(config.explain.rule_within), float(config.explain.rule_mixed))
  for name in names:
    training.check_config(subrun_config(config, name))
  training.setup(subrun_config(config, "full"))
  return names


def _runs(config, workdir: str, names, read_only: bool) -> dict:
  out = {}
  for name in names:
    out[name] = single.run(subrun_config(config, name), subrun_dir(config, workdir, name), name, read_only=read_only)
  return out


def train(config, workdir: str) -> dict:
  t0, load0 = time.time(), os.getloadavg()[0]
  names = validate(config)
  os.makedirs(workdir, exist_ok=True)
  runs = _runs(config, workdir, names, read_only=False)
  base = baselines(config, workdir)
  explained = explain_lib.run(subrun_config(config, "full"), subrun_dir(config, workdir, "full"),
                              os.path.join(workdir, "explain")) if bool(config.explain.after_train) else None
  timing = {"wall_seconds": time.time() - t0, "load_average_start": load0, "load_average_end": os.getloadavg()[0],
            "cpu_count": os.cpu_count(), "models": names}
  report_lib.write_json(os.path.join(workdir, TIMING_FILE), timing)
  return report.write(config, workdir, runs, explained, base, timing)


TIMING_FILE = "timing.json"


def _read_json(path):
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


BASELINES_FILE = "baselines.json"


def baselines(config, workdir: str) -> dict:
  """The baselines on the full model's splits (the same arrays), written to workdir/baselines.json."""
  full = subrun_config(config, "full")
  s = training.setup(full)
  val, test = training.load_eval_split(full, s, "val"), training.load_eval_split(full, s, "test")
  out = {"majority": baselines_lib.majority(test),
         "texture_logistic": baselines_lib.texture_logistic(s.train, val, test, int(config.seed))}
  report_lib.write_json(os.path.join(workdir, BASELINES_FILE), out)
  return json.loads(json.dumps(report_lib._jsonable(out)))


def report_mode(config, workdir: str) -> dict:
  """--mode=report: rebuilds results.md from finished sub-runs; a missing one is an error, never trained."""
  names = study_names(config)
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"workdir {workdir!r} does not exist; run --mode=train first")
  runs = _runs(config, workdir, names, read_only=True)
  explained = explain_lib.read(os.path.join(workdir, "explain"))
  base = _read_json(os.path.join(workdir, BASELINES_FILE))
  return report.write(config, workdir, runs, explained, base, _read_json(os.path.join(workdir, TIMING_FILE)))


def explain_mode(config, workdir: str) -> dict:
  """--mode=explain: overlays, rule-based texts and the randomization check of the trained full model."""
  rules.check_rule_thresholds(float(config.explain.rule_within), float(config.explain.rule_mixed))
  sub_dir = subrun_dir(config, workdir, "full")
  if not os.path.isdir(sub_dir):
    raise FileNotFoundError(f"no trained full model in {sub_dir}; run --mode=train first")
  return explain_lib.run(subrun_config(config, "full"), sub_dir, os.path.join(workdir, "explain"))
