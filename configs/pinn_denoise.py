"""PINN denoising (seed-002 article 4): backbone x PDE prior x noise x protocol.

Run:    python -m vision_jax.main --config=configs/pinn_denoise.py:backbone=resu2net,prior=zg --workdir=runs/pinn
Demo:   python -m vision_jax.main --config=configs/pinn_denoise.py:small --workdir=runs/demo   (2 CPU cores, minutes)
Oracle: ...:small,protocol=oracle  (the paper's Algorithm 1: fits the clean test target; an upper bound)
Zero-shot: ...:small,protocol=zeroshot   (noisy test image only)
Train400 -> Set12: --config.data.train_dir=../shared/data/denoise/Train400 --config.eval.data_dir=../shared/data/denoise/Set12
Evaluate a trained workdir: --mode=eval --config.eval.data_dir=DIR

Arguments: backbone (unet, resunet, u2net, resu2net, dncnn, tnrd, coord_mlp: zero-shot only), prior (heat, perona_malik, mpmc,
zg, tensor, tv, none), noise (awgn, poisson_gaussian, speckle, speckle_amplitude), protocol (heldout,
oracle, zeroshot), small.
"""

import ml_collections

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


def get_config(arg=None):
  a = parse_arg(arg, backbone="resu2net", prior="zg", noise="speckle", protocol="heldout", small=False)
  small = a["small"]
  c = ml_collections.ConfigDict()
  c.task = "pinn_denoise"
  c.seed = 0
  c.protocol = a["protocol"]
  c.backbone = a["backbone"]
  c.prior = a["prior"]
  c.model = ml_collections.ConfigDict({name: sizes[1 if small else 0] for name, sizes in MODELS.items()})
  c.prior_params = ml_collections.ConfigDict()  # overrides of the prior's defaults, e.g. {"K": 0.05}
  c.noise = ml_collections.ConfigDict({"kind": a["noise"], "sigma": 25.0, "looks": 4.0, "lam": 30.0})
  c.loss = ml_collections.ConfigDict({
      # Algorithm 1 weights (seed Eq. 10/16); set one to 0 to ablate that term.
      "weights": {"data": 1.0, "pde": 1.0, "perc": 0.1, "ic": 0.03, "bc": 0.02},
      "pde_form": "implicit_step",  # or "steady"; see vision_jax/losses/pinn.py
      "tau": 0.5,  # diffusion time of the implicit step, pixel^2 units
      "bc_kind": "neumann",  # or "dirichlet" (Algorithm 1: g = 0)
      "bc_value": 0.0,
      "deep_supervision": not small,  # side outputs of (Res)U2Net in the data term; off for the short CPU demo
  })
  c.data = ml_collections.ConfigDict({
      "train": "bundled:camera,astronaut,brick,grass,gravel,text,chelsea,rocket,immunohistochemistry,cell",
      "train_dir": "",  # a folder of training images replaces data.train (e.g. Train400)
      "train_max_size": 256,
      "val": "bundled:clock",
      "test": "bundled:coins,moon,page" if small else "bundled:coins,moon,page,coffee,hubble_deep_field,retina",
      "max_size": 128 if small else 256,
      "patch_size": 64,
      "batch_size": 8 if small else 16,
  })
  c.eval = ml_collections.ConfigDict({
      "data_dir": "",  # a folder of test images replaces data.test (e.g. Set12)
      "seed": 1234,
      "baselines": "tv_chambolle,nl_means,wavelet,bm3d",
      "classical_prior": "perona_malik",
      "self_ensemble": False,  # held-out models: also report the x8 flip/rotation self-ensemble (noisy input only)
      "pde": {"max_time": 15.0, "max_steps": 1500, "dt_fraction": 0.9, "fidelity": 0.0, "tune": {"perona_malik": {"K": [0.02, 0.05, 0.1, 0.2, 0.4]}}},
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
  c.oracle = ml_collections.ConfigDict({"steps": 150 if small else 500})  # Algorithm 1: 500 epochs
  c.zeroshot = ml_collections.ConfigDict({"steps": 150 if small else 500, "snapshot_every": 10})
  # The coordinate PINN u(x, y, t) (backbone=coord_mlp, protocol=zeroshot): IC + autodiff PDE + BC.
  c.coord = ml_collections.ConfigDict({"time": 1.0, "points": 512, "steps": 300 if small else 3000,
                                       "weights": {"ic": 1.0, "pde": 1.0, "bc": 0.1},
                                       "bc_kind": "neumann", "bc_value": 0.0})
  c.mesh = [("data", -1)]
  c.distributed = False
  c.tensorboard = False
  return c
