"""Exoplanet TCE vetting (seed 002 article 12): VGG19-1D -> t-SNE -> CFM + XGBoost, paper vs honest protocols.

Small (2 CPU cores, under 15 minutes: 1000 simulated curves, VGG19-1D at width x0.25, 100 epochs, 500 t-SNE
iterations, 20 flow-matching noise levels x 10 noise copies):
    python -m vision_jax.main --config=configs/exoplanet_vetting/default.py:small --workdir=runs/exoplanet_small
Full size (DR24-sized simulation, standard VGG19-1D with the 2560-d feature, 300 epochs, 3000 t-SNE iterations;
for an accelerator):
    python -m vision_jax.main --config=configs/exoplanet_vetting/default.py --workdir=runs/exoplanet
Re-render the report from results.json:
    python -m vision_jax.main --config=configs/exoplanet_vetting/default.py:small --workdir=runs/exoplanet_small --mode=report
Real global views (npz with "views" (N, 201) and "labels", or a csv with a "label" column):
    ... --config.data.source=npz:/path/dr24_global_views.npz
One protocol only: --config.protocols=heldout (valid: paper, transductive, heldout).

Arguments: small.
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, small=False)
  small = a["small"]
  c = ml_collections.ConfigDict()
  c.project = "exoplanet_vetting"
  c.seed = 0  # CNN initialisation and batch order
  c.protocols = "paper,transductive,heldout"
  c.model = ml_collections.ConfigDict({
      "name": "vgg19_1d",
      "num_classes": 3,
      "in_channels": 1,
      # batch_norm: the VGG19-BN variant; plain VGG19 from scratch trains too slowly for the budgets here.
      "kwargs": {"width_multiplier": 0.25 if small else 1.0, "fc_dim": 128 if small else 512,
                 "batch_norm": True, "dropout_rate": 0.5, "kernel_size": 3},
  })
  c.data = ml_collections.ConfigDict({
      "source": "simulated",  # or npz:PATH / csv:PATH of real 201-point global views
      "seed": 0,  # simulation and split seed
      "num_curves": 1000 if small else 15737,  # before the PC doubling (DR24: 3600 + 9596 + 2541)
      "days_min": 27.0, "days_max": 90.0,
      "test_fraction": 0.2,
      "reflect_pc": True,
      "batch_size": 128,
  })
  c.loss = ml_collections.ConfigDict({"kind": "ce", "label_smoothing": 0.0, "focal_gamma": 2.0,
                                      "class_weights": "balanced"})  # inverse class frequency
  c.optim = ml_collections.ConfigDict({"name": "adam", "lr": 1e-3, "schedule": "constant", "warmup_steps": 0,
                                       "weight_decay": 0.0, "grad_clip": 0.0})
  c.train = ml_collections.ConfigDict({
      "epochs": 100 if small else 300,  # "until overfitting" (small: 99.6 % training accuracy); the paper: 300
      "log_every": 25, "checkpoint_every": 500, "eval_every": 0, "keep_checkpoints": 1, "progress": True,
  })
  c.tsne = ml_collections.ConfigDict({"perplexity": 50.0, "max_iter": 500 if small else 3000, "seed": 0})
  c.knn = ml_collections.ConfigDict({"k": 10})  # held-out placement of test points
  # The authors' settings (ForestDiffusion flow, 100 trees of depth 2, duplicate_K = 30 "epochs", n_batch = 63
  # "steps"; zero-shot classification with n_t = 25, n_z = 8); small: 20 noise levels and 10 noise copies.
  c.cfm = ml_collections.ConfigDict({"n_t": 20 if small else 50, "duplicate_K": 10 if small else 30, "n_batch": 63,
                                     "n_estimators": 100, "max_depth": 2, "eta": 0.3, "n_t_predict": 25, "n_z": 8,
                                     "seed": 666})
  c.xgb = ml_collections.ConfigDict({"n_estimators": 100, "max_depth": 2, "eta": 0.3, "seed": 0})
  c.eval = ml_collections.ConfigDict({"batch_size": 512})
  # Threads of the OpenMP / BLAS libraries (t-SNE, XGBoost, NumPy). More threads than free cores make them
  # spin: on the shared 2-core machine the same 30 XGBoost fits took 24 s with 1 thread and 619 s with 2.
  c.cpu_threads = 1
  return common.add_run_fields(c)
