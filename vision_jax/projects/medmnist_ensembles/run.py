"""train / report of the MedMNIST ensembles project (config.project = "medmnist_ensembles").

train: validates the config and data, then per dataset trains (or reads back) every member, builds
every ensemble, runs the selection under both protocols, stacking and int8, and writes the report.
report: the same from finished member sub-runs only (nothing trains).
"""

from __future__ import annotations

import os

from vision_jax.config_utils import split_names
from vision_jax.projects.medmnist_ensembles import data as data_mod, members as members_lib, models, report, study
from vision_jax.train import workdir as workdir_lib

SCHEMES = ("medmnist_synth", "medmnist")


def validate(config) -> tuple[list[str], list[str]]:
  """(datasets, members) after the plain-Python checks; ValueError (one line) on bad input."""
  datasets = [data_mod.dataset_spec(d).flag for d in split_names(config.datasets)]
  if not datasets:
    raise ValueError(f"datasets={config.datasets!r} is empty; expected some of pathmnist, organamnist, octmnist")
  names = split_names(config.members.cnn) + split_names(config.members.dnn)
  for n in names:
    models.member_kind(n)
  if len(set(names)) != len(names) or len(names) < 2:
    raise ValueError(f"members {names} are invalid; expected at least 2 distinct names")
  e = config.ensemble
  if not 1 <= int(e.min_size) <= int(e.max_size):
    raise ValueError(f"ensemble sizes {e.min_size}..{e.max_size} are invalid; expected 1 <= min_size <= max_size")
  if float(e.size_cap_mb) <= 0:
    raise ValueError(f"ensemble.size_cap_mb={e.size_cap_mb!r} is invalid; expected > 0")
  if str(config.data.scheme) not in SCHEMES:
    raise ValueError(f"data.scheme={config.data.scheme!r} is invalid; expected one of {', '.join(SCHEMES)}")
  if int(config.train.epochs) < 1:
    raise ValueError(f"train.epochs={config.train.epochs!r} is invalid; expected >= 1")
  return datasets, names


def run_dataset(config, workdir: str, dataset: str, names: list[str], splits: dict, read_only: bool) -> dict:
  """Members, ensembles, selections, stacking and int8 of one dataset (a plain dict for the report)."""
  records, arrays = {}, {}
  for n in names:
    records[n], arrays[n] = members_lib.train_member(config, workdir, dataset, n, splits, read_only=read_only)
  e = config.ensemble
  tables = study.all_ensembles(records, arrays, int(e.min_size), int(e.max_size))
  selections = study.select_both(tables, float(e.size_cap_mb))
  rows = {r["name"]: r for r in tables["test"]}
  picks = {}
  for proto, sel in selections.items():
    for cat in ("CNN", "DNN", "HYB"):
      if sel.best[cat]:
        picks.setdefault(sel.best[cat], rows[sel.best[cat]]["members"])
  out = {"dataset": dataset, "records": records, "tables": tables, "selections": selections,
         "gain": study.best_member_vs_ensembles(records, tables), "int8": study.int8_rows(picks, records, arrays),
         "num_images": {s: len(d) for s, d in splits.items()}, "class_names": list(splits["train"].class_names)}
  out["stacking"] = study.stacking_study(records, arrays, tables, config.stacking, int(config.seed)) \
      if bool(config.stacking.enabled) else {"rows": []}
  return out


def execute(config, workdir: str, read_only: bool) -> dict:
  data_mod.register()
  datasets, names = validate(config)
  loaded = {d: members_lib.load_splits(config, d) for d in datasets}  # validates every source before writing
  for d, splits in loaded.items():
    for split, part in splits.items():
      if part.num_classes != data_mod.dataset_spec(d).num_classes:
        raise ValueError(f"{d} {split} split has {part.num_classes} classes; expected "
                         f"{data_mod.dataset_spec(d).num_classes}")
  if read_only:
    workdir_lib.check(config, workdir, "report")
  else:
    workdir_lib.prepare(config, workdir)
  results = {d: run_dataset(config, workdir, d, names, loaded[d], read_only) for d in datasets}
  return report.write(config, workdir, results)


def train(config, workdir: str) -> dict:
  """Trains every member of every dataset (sub-runs resume), then writes results.md / .json / CSV / PNG."""
  return execute(config, workdir, read_only=False)


def report_mode(config, workdir: str) -> dict:
  """Re-renders the report from finished member sub-runs (nothing trains)."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"workdir {workdir!r} does not exist; run --mode=train first")
  return execute(config, workdir, read_only=True)
