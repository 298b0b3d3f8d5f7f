"""Supervised denoiser (the denoise task): a registry backbone trained on clean images with noise drawn on
the device, evaluated on held-out images against the noisy input, scikit-image TV / NL-means / wavelet,
BM3D and a tuned Perona-Malik diffusion, all on the same noisy inputs.

Run:    python -m vision_jax.main --config=configs/denoise/default.py:backbone=dncnn --workdir=runs/dncnn
Small:  python -m vision_jax.main --config=configs/denoise/default.py:backbone=dncnn,small --workdir=runs/dncnn_small
Train400 -> Set12: --config.data.train_dir=../shared/data/denoise/Train400 --config.eval.data_dir=../shared/data/denoise/Set12
Evaluate a trained workdir on a folder: --mode=eval --config.eval.data_dir=DIR

Arguments: backbone (unet, resunet, u2net, resu2net, dncnn, tnrd), noise (awgn, poisson_gaussian, speckle,
speckle_amplitude), small. `base_config` is the shared part other denoising configs import.
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg

# Backbone fields: full size, then a CPU-sized variant.
MODELS = {
    "unet": ({"features": (32, 64, 128, 256)}, {"features": (16, 32, 64)}),
    "resunet": ({"features": (32, 64, 128, 256)}, {"features": (16, 32, 64)}),
    "u2net": ({"width": 16, "output": "residual"}, {"width": 2, "heights": (4, 4, 3, 3), "output": "residual"}),
    "resu2net": ({"output": "residual"}, {"mid": 4, "features": 16, "heights": (4, 4, 3, 3), "output": "residual"}),
    "dncnn": ({"depth": 17, "features": 64}, {"depth": 8, "features": 32}),
    # Piecewise-linear influence functions: the paper's Gaussian RBF mixture ("gaussian") trains ~3x slower on CPU.
    "tnrd": ({"stages": 5, "num_filters": 24, "kernel_size": 5, "influence": "linear"},
             {"stages": 3, "num_filters": 8, "kernel_size": 5, "influence": "linear"}),
    "coord_mlp": ({"width": 128, "depth": 4, "num_fourier": 128, "fourier_scale": 10.0},
                  {"width": 64, "depth": 3, "num_fourier": 64, "fourier_scale": 8.0}),
}


def base_config(backbone: str, noise: str, small: bool) -> ml_collections.ConfigDict:
  """The fields every denoising experiment has: model, noise, data, eval, train, optim, run fields."""
  c = ml_collections.ConfigDict()
  c.task = "denoise"
  c.seed = 0
  c.backbone = backbone
  c.model = ml_collections.ConfigDict({name: sizes[1 if small else 0] for name, sizes in MODELS.items()})
  c.noise = ml_collections.ConfigDict({"kind": noise, "sigma": 25.0, "looks": 4.0, "lam": 30.0})
  c.data = ml_collections.ConfigDict({
      "train": "bundled:camera,astronaut,brick,grass,gravel,text,chelsea,rocket,immunohistochemistry,cell",
      "train_dir": "",  # a folder of training images replaces data.train (e.g. Train400)
      "train_max_size": 256,
      "val": "bundled:clock",  # tunes the baselines and the PDE prior; never a test image
      "test": "bundled:coins,moon,page" if small else "bundled:coins,moon,page,coffee,hubble_deep_field,retina",
      "max_size": 128 if small else 256,
      "patch_size": 64,
      "batch_size": 8 if small else 16,
  })
  c.eval = ml_collections.ConfigDict({
      "data_dir": "",  # a folder of test images replaces data.test (e.g. Set12)
      "seed": 1234,
      "baselines": "tv_chambolle,nl_means,wavelet,bm3d",
      "baseline_grids": {},  # {name: {field: [values]}} replacing vision_jax.baselines.methods.DEFAULT_GRIDS
      "classical_prior": "perona_malik",
      "self_ensemble": False,  # held-out models: also report the x8 flip/rotation self-ensemble (noisy input only)
      "pde": {"max_time": 15.0, "max_steps": 1500, "dt_fraction": 0.9, "fidelity": 0.0,
              "tune": {"perona_malik": {"K": [0.02, 0.05, 0.1, 0.2, 0.4]}}},
  })
  c.train = ml_collections.ConfigDict({
      "steps": 600 if small else 20000,
      "log_every": 25 if small else 100,
      "checkpoint_every": 200 if small else 1000,
      "eval_every": 0 if small else 2000,
      "keep_checkpoints": 2,
      "progress": True,
  })
  c.optim = ml_collections.ConfigDict({"name": "adam", "lr": 2e-3 if small else 1e-3, "schedule": "cosine",
                                       "warmup_steps": 0, "weight_decay": 0.0, "grad_clip": 1.0})
  return common.add_run_fields(c)


def get_config(arg=None):
  a = parse_arg(arg, backbone="dncnn", noise="awgn", small=False)
  return base_config(a["backbone"], a["noise"], a["small"])
