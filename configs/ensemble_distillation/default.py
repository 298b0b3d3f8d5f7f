"""Ensemble knowledge distillation (seed 002 article 8): SGDR snapshot teachers (SGDRE) distilled into a
small student (EKD), against the student alone and single-teacher KD, k-fold CV, Friedman / Wilcoxon-Holm.

Small (2 CPU cores, < 15 min: 500 synthetic CXR-like images at 64 x 64, 3 folds, SGDRE 20 + 4 x 3 epochs,
students <= 10 epochs; inputs centred on the fit split's mean image):
    python -m vision_jax.main --config=configs/ensemble_distillation/default.py:small --workdir=runs/ekd_small
Full (the paper's protocol: 200 x 200, 10 folds, 50 + 4 x 12 SGDRE epochs, <= 100 student epochs):
    python -m vision_jax.main --config=configs/ensemble_distillation/default.py --workdir=runs/ekd
Real Kermany folders (DIR/NORMAL, DIR/PNEUMONIA or DIR/{train,val,test}/...; nothing downloads):
    python -m vision_jax.main --config=configs/ensemble_distillation/default.py:kermany=DIR --workdir=runs/ekd_real
Re-render the report from finished runs:
    ... --mode=report

Arguments: small, kermany (a folder in the Kermany layout), folds.
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, small=False, kermany="", folds=0)
  small = a["small"]
  c = ml_collections.ConfigDict()
  c.project = "ensemble_distillation"
  c.task = "classify"
  c.seed = 0
  if a["kermany"]:
    scheme, name, options = "kermany", a["kermany"], {"pool": True}
  else:
    scheme, name = "cxr_synth", "default"
    options = {"num_images": 500 if small else 5856, "prevalence": 0.7296, "opacity_min": 0.3,
               "opacity_max": 1.0, "noise": 0.03}
  c.data = ml_collections.ConfigDict({"scheme": scheme, "name": name, "options": options,
                                      "image_size": 64 if small else 200, "seed": 0, "batch_size": 32,
                                      # x - (the fit split's mean image): see projects/ensemble_distillation/methods.py
                                      "featurewise_center": True})
  c.cv = ml_collections.ConfigDict({"folds": a["folds"] or (3 if small else 10), "seed": 0, "val_fraction": 0.1})
  # Table 1: Student Adam 1e-3; SGDRE SGD 1e-1; KD / EKD Adam 1e-4; batch 32; <= 100 epochs; patience 10.
  # small: KD / EKD also at 1e-3 (a few hundred steps cannot train at 1e-4); schedules shortened.
  # bn_momentum: Keras' 0.99 in full; small 0.9 (a few hundred steps leave 0.99's running statistics unsettled).
  c.student = ml_collections.ConfigDict({"lr": 1e-3, "epochs": 10 if small else 100, "patience": 4 if small else 10,
                                         "l2": 0.01, "bn_momentum": 0.9 if small else 0.99})
  c.sgdre = ml_collections.ConfigDict({
      "lr": 0.1, "init_epochs": 20 if small else 50, "total_epochs": 32 if small else 100,
      "restarts": "0.01:sine,0.02:sine,0.01:cosine,0.02:cosine", "patience": 2 if small else 10, "snapshots": 3})
  c.kd = ml_collections.ConfigDict({"alpha": 0.5, "temperature": 3.0, "lr": 1e-3 if small else 1e-4,
                                    "epochs": 10 if small else 100, "patience": 4 if small else 10})
  c.train = ml_collections.ConfigDict({"progress": True})
  c.eval = ml_collections.ConfigDict({"batch_size": 256})
  argtext = f":{arg}" if arg else ""
  c.report = ml_collections.ConfigDict({
      "command": f"python -m vision_jax.main --config=configs/ensemble_distillation/default.py{argtext} --workdir=W"})
  return common.add_run_fields(c)
