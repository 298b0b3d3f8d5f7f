"""Classical PDE denoising (heat, Perona-Malik, MPMC, ZG, tensor, TV) against scikit-image and BM3D.

Run:   python -m vision_jax.main --config=configs/pde_denoise/default.py --workdir=runs/pde
Small: python -m vision_jax.main --config=configs/pde_denoise/default.py:small --workdir=runs/pde_small
Set12: ... --config.eval.data_dir=../shared/data/denoise/Set12 --config.noise.sigma=25
Re-render the report: --mode=report
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, small=False, noise="awgn")
  c = ml_collections.ConfigDict()
  c.project = "pde_denoise"
  c.task = "denoise"
  c.seed = 0
  c.noise = ml_collections.ConfigDict({"kind": a["noise"], "sigma": 25.0, "looks": 4.0, "lam": 30.0})
  c.data = ml_collections.ConfigDict({
      "val": "bundled:camera",  # tunes every prior and baseline; never a test image
      "test": "bundled:coins,moon,astronaut,coffee,clock,page",
      "max_size": 128 if a["small"] else 256,
  })
  c.eval = ml_collections.ConfigDict({
      "data_dir": "",  # a folder of images replaces data.test (e.g. Set12)
      "seed": 0,
      "baselines": "tv_chambolle,nl_means,wavelet,bm3d",
      "baseline_grids": {},  # {name: {field: [values]}} replacing vision_jax.baselines.methods.DEFAULT_GRIDS
      "classical_prior": "",  # every prior of pde.priors is a row already
  })
  c.pde = ml_collections.ConfigDict({
      "priors": "heat,perona_malik,mpmc,zg,tensor,tv",
      "max_time": 15.0,  # longest diffusion time tried (pixel^2 units); the stopping step is tuned below it
      "max_steps": 1500,  # cap on explicit steps per candidate
      "dt_fraction": 0.9,  # dt = fraction * the prior's explicit stability limit, in (0, 1]
      "fidelity": 0.0,
      # Parameters swept on the validation image (others keep the prior's defaults).
      "tune": {
          "perona_malik": {"K": [0.02, 0.05, 0.1, 0.2, 0.4]},
          "mpmc": {"K": [0.5, 1.0, 2.0]},
          "zg": {"K": [0.02, 0.05, 0.1, 0.2]},
          "tensor": {"K": [0.02, 0.05, 0.1]},
          "tv": {"eps": [0.05, 0.1]},
      },
  })
  return common.add_run_fields(c)
