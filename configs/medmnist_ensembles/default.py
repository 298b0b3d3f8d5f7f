"""MedMNIST late ensembles (seed 002 article 5): custom CNNs and DNNs (no ImageNet weights offline),
every 2-4 member ensemble, Pareto + radar selection under the paper's and a held-out protocol,
stacking and int8.

Small (2 CPU cores, < 15 min; synthetic stand-in of all three datasets, 1200 / 300 / 500 train / val /
test images at 28 x 28, CNNs B1, B2, C1 + DNNs MobileNetV2, MobileNetV3-Large, 4 epochs (72 steps) each):
    python -m vision_jax.main --config=configs/medmnist_ensembles/default.py:small --workdir=runs/medmnist_small
Full (the paper's members and training; hours on a CPU, minutes per member on an accelerator):
    python -m vision_jax.main --config=configs/medmnist_ensembles/default.py --workdir=runs/medmnist
Real MedMNIST v2 files (pathmnist.npz, organamnist.npz, octmnist.npz in DIR; nothing downloads):
    python -m vision_jax.main --config=configs/medmnist_ensembles/default.py:real=DIR --workdir=runs/medmnist_real
Re-render the report from finished member sub-runs:
    ... --mode=report

Arguments: small, real (a folder with the MedMNIST npz files), datasets (comma list, e.g. path,oct).
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg

FULL_CNN = "A,B1,B2,B3,B4,C1,C3,D1,D2,D3"
FULL_DNN = "MobNetV2,MobV3,Res50,EffB0,Dense121"
SMALL_CNN = "B1,B2,C1"
SMALL_DNN = "MobNetV2,MobV3"


def get_config(arg=None):
  a = parse_arg(arg, small=False, real="", datasets="pathmnist,organamnist,octmnist")
  small = a["small"]
  c = ml_collections.ConfigDict()
  c.project = "medmnist_ensembles"
  c.task = "classify"
  c.seed = 0
  c.datasets = a["datasets"]
  c.members = ml_collections.ConfigDict({
      "cnn": SMALL_CNN if small else FULL_CNN,
      "dnn": SMALL_DNN if small else FULL_DNN,
      # BatchNorm momentum of the members that expose it (A, D1-D3, MobileNetV3; Keras / torchvision use
      # 0.99); 0 keeps each model's own. small: 0.9, or ~100 steps leave the running statistics unsettled.
      "bn_momentum": 0.9 if small else 0.0,
  })
  if a["real"]:
    scheme, options = "medmnist", {"root": a["real"], "max_per_split": 0}
  else:
    n = (1200, 300, 500) if small else (20000, 2500, 5000)
    scheme, options = "medmnist_synth", {"num_train": n[0], "num_val": n[1], "num_test": n[2], "difficulty": 0.4}
  c.data = ml_collections.ConfigDict({
      "scheme": scheme,  # medmnist_synth (offline stand-in) | medmnist (npz files in options.root)
      "options": options,
      "seed": 0,
      "image_size": 0,
      "batch_size": 64,  # the paper's
      "augment": False,
      "max_shift": 2,
      "hflip": False,
      "vflip": False,
  })
  c.loss = ml_collections.ConfigDict({"kind": "ce", "label_smoothing": 0.0, "focal_gamma": 2.0, "class_weights": ""})
  # The paper: AdamW, fixed lr 1e-4 (weight decay not stated: Keras' AdamW default 0.004), <= 20 epochs,
  # early stopping with patience 5 on the validation loss. small: lr 1e-3 (far fewer steps).
  c.optim = ml_collections.ConfigDict({"name": "adamw", "lr": 1e-3 if small else 1e-4, "schedule": "constant",
                                       "weight_decay": 0.004, "grad_clip": 0.0})
  c.train = ml_collections.ConfigDict({
      "epochs": 4 if small else 20,
      "patience": 2 if small else 5,
      "select_metric": "val_log_loss",
      "select_mode": "min",
      "progress": True,
  })
  c.ensemble = ml_collections.ConfigDict({"min_size": 2, "max_size": 4, "size_cap_mb": 34.0})
  c.stacking = ml_collections.ConfigDict({
      "enabled": True,
      "max_ensembles": 4 if small else 12,  # ensembles with the best validation wS
      "hidden_grid": "8,16,8_16,16_32" if small else "8,16,32,64,8_16,8_32,8_64,16_32,16_64,32_64",  # the paper's grid
      "cv": 2 if small else 3,
      "max_iter": 200 if small else 500,
  })
  c.eval = ml_collections.ConfigDict({"batch_size": 100 if small else 500,  # divides val and test: one program
                                     "time_repeats": 1 if small else 3})
  argtext = f":{arg}" if arg else ""
  c.report = ml_collections.ConfigDict({
      "top_rows": 5,
      "command": f"python -m vision_jax.main --config=configs/medmnist_ensembles/default.py{argtext} --workdir=W"})
  return common.add_run_fields(c)
