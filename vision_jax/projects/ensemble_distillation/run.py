"""train / report of the EKD project (config.project = "ensemble_distillation"): k-fold CV of Student,
SGDRE, KD and EKD on the same folds, the paper's statistics and the verdict."""

from __future__ import annotations

import os

import numpy as np

from vision_jax.data import classification as data_lib
from vision_jax.metrics import cost, stats
from vision_jax.projects.ensemble_distillation import claims, data as data_mod, methods, models, protocol, report
from vision_jax.train import workdir as workdir_lib

SCHEMES = ("cxr_synth", "kermany")
SCORES = ("accuracy", "f1", "auc", "kappa")
COSTS = ("epochs", "train_seconds", "inference_seconds")


def load_pool(config) -> data_lib.ClassificationData:
  """Every image the folds split (the source's "train" split; Kermany: all folders pooled)."""
  d = config.data
  if str(d.scheme) not in SCHEMES:
    raise ValueError(f"data.scheme={d.scheme!r} is invalid; expected one of {', '.join(SCHEMES)}")
  try:
    pool = data_lib.load_classification(f"{d.scheme}:{d.name}", "train", image_size=int(d.image_size) or None,
                                        seed=int(d.seed), **dict(d.options))
  except TypeError as e:
    raise ValueError(f"data.options {sorted(dict(d.options))} has a field {d.scheme}: does not take ({e})") from None
  if pool.num_classes != 2:
    raise ValueError(f"{d.scheme}:{d.name} has {pool.num_classes} classes; expected 2 (normal, pneumonia)")
  return pool


def cost_table(image_hw: tuple[int, int]) -> dict:
  """Parameters and XLA FLOPs of the teacher ensemble (3 snapshots) and the student, at 200 x 200 x 1
  (the paper's input) and at the trained size."""
  out = {}
  for label, hw in (("200x200", (200, 200)), (f"{image_hw[0]}x{image_hw[1]} (trained)", image_hw)):
    row = {}
    for name, m in (("teacher", models.SGDRECNN()), ("student", models.StudentCNN())):
      v = {k: t for k, t in cost.abstract_variables(m, (1, *hw, 1)).items() if k != "perturbations"}
      row[name] = {"params": cost.num_values(v["params"]), "flops": cost.model_flops(m, v, (*hw, 1))}
    row["params_ratio"] = 3 * row["teacher"]["params"] / row["student"]["params"]
    row["flops_ratio"] = 3 * row["teacher"]["flops"] / row["student"]["flops"]
    out[label] = row
  return out


def statistics(per_fold: list[dict]) -> dict:
  """Shapiro-Wilk per method, Friedman + average ranks, Wilcoxon + Holm on claims.PAIRS, per metric."""
  out = {}
  for metric in SCORES + COSTS:
    table = np.array([[f[m][metric] for m in methods.METHODS] for f in per_fold], np.float64)
    higher = metric in SCORES
    entry = {"shapiro": {m: (stats.shapiro_wilk(table[:, j]) if len(table) >= 3 else {"W": float("nan"), "p": float("nan")})
                         for j, m in enumerate(methods.METHODS)}}
    entry["friedman"] = stats.friedman(table, higher_is_better=higher) if len(table) >= 2 else \
        {"chi2": float("nan"), "p": float("nan"), "average_ranks": np.full(len(methods.METHODS), np.nan)}
    entry["wilcoxon"] = stats.wilcoxon_holm({m: table[:, j] for j, m in enumerate(methods.METHODS)}, claims.PAIRS)
    out[metric] = entry
  return out


def execute(config, workdir: str, read_only: bool) -> dict:
  data_mod.register()
  methods.parse_restarts(config.sgdre.restarts)
  if int(config.sgdre.snapshots) < 1 or int(config.sgdre.snapshots) > len(methods.parse_restarts(config.sgdre.restarts)):
    raise ValueError(f"sgdre.snapshots={config.sgdre.snapshots} is invalid; expected 1..number of restarts")
  if not 0 <= float(config.kd.alpha) <= 1 or float(config.kd.temperature) <= 0:
    raise ValueError(f"kd.alpha={config.kd.alpha}, kd.temperature={config.kd.temperature} are invalid; expected "
                     "0 <= alpha <= 1 and T > 0")
  if int(config.sgdre.total_epochs) <= int(config.sgdre.init_epochs):
    raise ValueError(f"sgdre.total_epochs={config.sgdre.total_epochs} must exceed sgdre.init_epochs="
                     f"{config.sgdre.init_epochs} (the restarts share the difference)")
  pool = load_pool(config)
  splits = protocol.folds(pool.labels, int(config.cv.folds), int(config.cv.seed))
  if (len(pool) * (1 - 1 / int(config.cv.folds)) * (1 - float(config.cv.val_fraction))) < int(config.data.batch_size):
    raise ValueError(f"data.batch_size={config.data.batch_size} exceeds a fold's training images; lower it")
  if read_only:
    workdir_lib.check(config, workdir, "report")
  else:
    workdir_lib.prepare(config, workdir)
  per_fold = [methods.run_fold(config, workdir, i, pool, tr, te, read_only) for i, (tr, te) in enumerate(splits)]
  result = {"per_fold": per_fold, "stats": statistics(per_fold), "cost": cost_table(tuple(pool.images.shape[1:3])),
            "means": {m: {k: float(np.mean([f[k][m] for f in per_fold])) for k in methods.METHODS}
                      for m in SCORES + COSTS},
            "stds": {m: {k: float(np.std([f[k][m] for f in per_fold], ddof=1)) if len(per_fold) > 1 else float("nan")
                         for k in methods.METHODS} for m in SCORES + COSTS},
            "num_images": len(pool), "pneumonia_fraction": float(np.mean(pool.labels == 1)),
            "image_hw": list(pool.images.shape[1:3])}
  return report.write(config, workdir, result)


def train(config, workdir: str) -> dict:
  """Runs every fold's four methods (finished runs are read back), then writes the report."""
  return execute(config, workdir, read_only=False)


def report_mode(config, workdir: str) -> dict:
  """Re-renders the report from finished runs (nothing trains)."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"workdir {workdir!r} does not exist; run --mode=train first")
  return execute(config, workdir, read_only=True)

