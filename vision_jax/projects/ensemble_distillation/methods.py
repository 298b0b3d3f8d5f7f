"""The four methods of one fold, on the same fit / val / test images:

Student : the small CNN trained on the labels (Adam, cross-entropy + L2 0.01 on its dense kernel),
          early stopping on validation AUC.
SGDRE   : the teacher CNN: an initial phase of plain SGD with the learning rate decayed linearly
          from sgdre.lr to 0, then warm restarts, each branching from the initial phase's final
          state (lr0 and decay from sgdre.restarts: "sine" lr0 (1 - sin(pi t / 2T)) -- the paper gives
          no formula, this is our assumption -- or "cosine" lr0 (1 + cos(pi t / T)) / 2), each kept at
          its best validation AUC (early stopping); the sgdre.snapshots best of these by validation
          AUC form the ensemble, whose output is their mean probability.
KD      : the student distilled from the best single snapshot (by validation AUC; the paper does not
          say which teacher), L = alpha CE(y, z) + (1 - alpha) T^2 CE(p_soft, z / T).
EKD     : the same loss with p_soft the mean of the snapshots' softened probabilities.
Input centring (data.featurewise_center, our preprocessing, Keras' featurewise_center; the paper
states none): every image of the fold becomes x - m, with m the fit split's mean image, so the
networks see zero-mean inputs in [-1, 1] (the one place these projects leave [0, 1]). Without it the
stand-in's near-identical phantoms (a shared body / lung / heart layout) give every unit an
image-independent pre-activation: the student's 12,544-wide Dense-32 ReLU loses most of its units in
the first Adam steps and the BN-free teacher's SGD loss stays at the prior's, so every method
predicted the majority class (measured: accuracy 0.730 = the prevalence, kappa 0 on every fold,
validation AUC ~0.85). Centred, one fold of the small config gives the student test kappa ~0.7 and
the teacher's initial phase ~0.55 (probes at 64 px, 10-12 epochs).
Soft targets are precomputed once per fold (the teachers are frozen and the images are not
augmented, so this equals running the teachers at every step) and carried in the loop's extra
state (TrainProblem.extra_init) as an (N_fit, 2) array indexed by the batch's example indices.
"""

from __future__ import annotations

import os

import numpy as np

from vision_jax.losses import distillation as kd_loss
from vision_jax.metrics.evaluation import compute_metrics, softmax
from vision_jax.projects.ensemble_distillation import models, protocol

METHODS = ("Student", "SGDRE", "KD", "EKD")


def parse_restarts(text: str) -> list[tuple[float, str]]:
  """'0.01:sine,0.02:cosine' -> [(0.01, 'sine'), (0.02, 'cosine')]; ValueError on a bad entry."""
  out = []
  for item in str(text).split(","):
    if not item.strip():
      continue
    lr, _, kind = item.partition(":")
    try:
      value = float(lr)
    except ValueError:
      value = -1.0
    if value <= 0 or kind.strip() not in ("sine", "cosine"):
      raise ValueError(f"sgdre.restarts entry {item.strip()!r} is invalid; expected LR:sine or LR:cosine, LR > 0")
    out.append((value, kind.strip()))
  if not out:
    raise ValueError("sgdre.restarts is empty; expected e.g. '0.01:sine,0.02:sine,0.01:cosine,0.02:cosine'")
  return out


def fold_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
  """accuracy, support-weighted F1, AUC of p(pneumonia), Cohen's kappa."""
  s = compute_metrics(labels, probs)["summary"]
  return {"accuracy": s["accuracy"], "f1": s["f1_weighted"], "auc": s.get("roc_auc", float("nan")),
          "kappa": s["cohen_kappa"]}


def center(parts: dict, enabled: bool) -> dict:
  """x - m for every split with m the "fit" split's mean image (see the module docstring)."""
  if not enabled:
    return parts
  mean = parts["fit"].images.mean(axis=0, keepdims=True)
  return {k: type(v)((v.images - mean).astype(np.float32), v.labels, v.class_names)
          for k, v in parts.items()}


def student_model(num_classes: int, bn_momentum: float):
  return models.StudentCNN(num_classes=num_classes, bn_momentum=float(bn_momentum))


def run_fold(config, workdir: str, fold: int, data, train_idx, test_idx, read_only: bool = False) -> dict:
  """Trains (or reads back) the four methods on one fold; returns {method: metrics + costs}."""
  fit_idx, val_idx = protocol.inner_split(train_idx, data.labels, float(config.cv.val_fraction),
                                          int(config.cv.seed) + fold)
  parts = {"fit": protocol.subset(data, fit_idx), "val": protocol.subset(data, val_idx),
           "test": protocol.subset(data, test_idx)}
  parts = center(parts, bool(config.data.get("featurewise_center", False)))
  k = data.num_classes
  bs_eval = int(config.eval.batch_size)
  per_epoch = max(1, len(fit_idx) // int(config.data.batch_size))
  y_test = parts["test"].labels
  common = dict(batch_size=bs_eval, read_only=read_only)
  student = student_model(k, config.student.bn_momentum)
  l2 = dict(l2_path=models.L2_KERNEL, l2=float(config.student.l2))

  # Student
  s = config.student
  sub = protocol.run_config(config, fold, "student", {"name": "adam", "lr": float(s.lr)}, int(s.epochs),
                            int(s.patience), per_epoch, True, bn_momentum=float(s.bn_momentum), l2=float(s.l2))
  rec_s, log_s, _ = protocol.fit_run(sub, workdir, student, parts,
                                     protocol.make_loss(student, alpha=None, temperature=1.0, **l2), **common)

  # SGDRE: initial phase, then warm restarts from its final state
  g = config.sgdre
  teacher = models.SGDRECNN(num_classes=k)
  ce = protocol.make_loss(teacher, alpha=None, temperature=1.0, l2_path=None, l2=0.0)
  sgd = {"name": "sgd", "momentum": 0.0, "lr": float(g.lr), "schedule": "linear", "final_lr_fraction": 0.0}
  init_sub = protocol.run_config(config, fold, "sgdre_init", sgd, int(g.init_epochs), 0, per_epoch, False)
  rec_init, _, init_dir = protocol.fit_run(init_sub, workdir, teacher, parts, ce, **common)
  restarts = parse_restarts(g.restarts)
  branch_epochs = max(1, (int(g.total_epochs) - int(g.init_epochs)) // len(restarts))
  init_vars = None
  branches = []
  for j, (lr, kind) in enumerate(restarts):
    opt = {"name": "sgd", "momentum": 0.0, "lr": lr, "schedule": kind, "final_lr_fraction": 0.0}
    sub = protocol.run_config(config, fold, f"sgdre_restart{j + 1}_{kind}_{lr:g}", opt, branch_epochs,
                              int(g.patience), per_epoch, True, warm_start=init_sub.name)
    sub.key.init_fingerprint = protocol.workdir_lib.fingerprint(init_sub)
    if protocol.read_run(protocol.run_dir(workdir, sub)) is None and init_vars is None and not read_only:
      init_vars = protocol.load_variables(init_dir)
    branches.append(protocol.fit_run(sub, workdir, teacher, parts, ce, init_params=init_vars, **common))
  ranked = sorted(branches, key=lambda b: -b[0]["best_val_auc"])
  snaps = ranked[:int(g.snapshots)]
  ens_probs = np.mean([softmax(lg["test"]) for _, lg, _ in snaps], axis=0)

  # KD (best snapshot) and EKD (the snapshot ensemble)
  d = config.kd
  temp = float(d.temperature)
  results = {}
  for name, teachers in (("KD", snaps[:1]), ("EKD", snaps)):
    (targets, soft_s) = protocol.timed(lambda: np.asarray(kd_loss.soft_targets(
        np.stack([lg["fit"] for _, lg, _ in teachers]), temp)))
    sub = protocol.run_config(config, fold, name.lower(), {"name": "adam", "lr": float(d.lr)}, int(d.epochs),
                              int(d.patience), per_epoch, True, alpha=float(d.alpha), temperature=temp,
                              bn_momentum=float(config.student.bn_momentum), l2=float(config.student.l2),
                              teachers=",".join(os.path.basename(dir_) for _, _, dir_ in teachers))
    loss = protocol.make_loss(student, alpha=float(d.alpha), temperature=temp, **l2)
    rec, lg, out_dir = protocol.fit_run(sub, workdir, student, parts, loss,
                                        extra={"soft_targets": targets.astype(np.float32)}, **common)
    if "soft_target_seconds" not in rec:  # recorded once, so --mode=report shows the trained run's time
      rec["soft_target_seconds"] = soft_s
      if not read_only:
        protocol.report_lib.write_json(os.path.join(out_dir, protocol.RUN_FILE), rec)
    results[name] = {**fold_metrics(y_test, softmax(lg["test"])), "epochs": rec["epochs"],
                     "train_seconds": rec["train_seconds"] + rec["soft_target_seconds"], "inference_seconds": rec["inference_seconds"],
                     "teachers": [r["name"] for r, _, _ in teachers]}
  results["Student"] = {**fold_metrics(y_test, softmax(log_s["test"])), "epochs": rec_s["epochs"],
                        "train_seconds": rec_s["train_seconds"], "inference_seconds": rec_s["inference_seconds"]}
  results["SGDRE"] = {**fold_metrics(y_test, ens_probs),
                      "epochs": rec_init["epochs"] + sum(r["epochs"] for r, _, _ in branches),
                      "train_seconds": rec_init["train_seconds"] + sum(r["train_seconds"] for r, _, _ in branches),
                      "inference_seconds": sum(r["inference_seconds"] for r, _, _ in snaps),
                      "snapshots": [r["name"] for r, _, _ in snaps],
                      "snapshot_val_auc": [r["best_val_auc"] for r, _, _ in snaps],
                      "best_single_snapshot": fold_metrics(y_test, softmax(snaps[0][1]["test"]))}
  results["_split"] = {"fit": len(fit_idx), "val": len(val_idx), "test": len(test_idx),
                       "test_pneumonia_fraction": float(np.mean(y_test == 1))}
  return {m: results[m] for m in (*METHODS, "_split")}
