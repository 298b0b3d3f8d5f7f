"""PV soiling (seed 002 article 3): RF + MobileNetV3-Small OR-ensemble, Soiling Index, 10 seeds, domain shift, audit.

Small (10 seeds of a small CNN budget: 10 epochs of the 268 training images, 96 px CNN input, panels rendered at
128 px, a 600-image unseen set):
    python -m vision_jax.main --config=configs/pv_soiling/default.py:small --workdir=runs/pv_small
Full size (the paper's sizes: 224 px, 50 epochs, the 2562-image unseen set; hours on a CPU):
    python -m vision_jax.main --config=configs/pv_soiling/default.py --workdir=runs/pv
Re-render the report from results.json:
    python -m vision_jax.main --config=configs/pv_soiling/default.py:small --workdir=runs/pv_small --mode=report
The Kaggle images (Clean/ and Dusty/ folders):
    ... --config.data.source=pv_folder:/data/solar-panel-images --config.data.unseen_source=pv_folder:/data/unseen

Arguments: small.
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, small=False)
  small = a["small"]
  c = ml_collections.ConfigDict()
  c.project = "pv_soiling"
  c.task = "classify"  # the CNN branch runs on the classify task's pieces
  c.seed = 0  # replaced by each study seed in the CNN sub-runs
  c.protocols = "heldout,paper"
  c.study = ml_collections.ConfigDict({"seeds": ",".join(str(s) for s in range(100, 110))})
  c.model = ml_collections.ConfigDict({"name": "mobilenet_v3_small", "num_classes": 2, "in_channels": 3,
                                       "kwargs": {}})
  c.data = ml_collections.ConfigDict({
      "source": "pv_synthetic:seen",  # or pv_folder:PATH (Clean/, Dusty/)
      "unseen_source": "pv_synthetic:unseen",
      "seed": 0,  # split seed; replaced by each study seed
      "image_size": 96 if small else 224,  # CNN input
      "num_per_class": 0,
      "options": {"num_clean": 193, "num_dusty": 190, "render_size": 128 if small else 224, "generator_seed": 0},
      "unseen_options": {"num_clean": 350 if small else 1493, "num_dusty": 250 if small else 1069,
                         "render_size": 128 if small else 224, "generator_seed": 1},
      "batch_size": 32,
      "augment": True,  # flip, +-5 degree rotation, colour jitter (training split only)
      "rotate_degrees": 5.0,
      "jitter": 0.1,
      "max_shift": 0, "hflip": True, "vflip": False,
  })
  c.loss = ml_collections.ConfigDict({"kind": "ce", "label_smoothing": 0.0, "focal_gamma": 2.0, "class_weights": ""})
  c.optim = ml_collections.ConfigDict({"name": "adamw", "lr": 1e-4, "schedule": "constant", "warmup_steps": 0,
                                       "weight_decay": 1e-4, "grad_clip": 0.0})
  c.train = ml_collections.ConfigDict({
      "epochs": 10 if small else 50,  # the paper: at most 50
      "steps": 1,  # set per seed to epochs x (train images // batch)
      "log_every": 8, "checkpoint_every": 1000, "eval_every": 1, "keep_checkpoints": 1, "progress": True,
      "select_metric": "val_accuracy", "select_mode": "max", "patience": 0 if small else 10,
  })
  c.rf = ml_collections.ConfigDict({"n_estimators": 400})
  # Threads of the OpenMP / BLAS libraries (NumPy in the renderer, scikit-learn); more than the free cores make
  # them spin on a shared machine.
  c.cpu_threads = 1
  c.eval = ml_collections.ConfigDict({"split": "test", "batch_size": 128, "thresholds": ""})
  return common.add_run_fields(c)
