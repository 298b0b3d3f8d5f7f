"""The zero-shot table (pinn_denoise, issue 11 section 2): denoising without any clean image at AWGN
15 / 25 / 50, Poisson-Gaussian, speckle and amplitude speckle, on the same noisy inputs: the ZG prior
tuned by SURE, the zero-shot PINN fit (SURE stop), the SURE-trained DnCNN-6x16 (noisy training images
only), next to the prior with oracle parameters, the supervised DnCNN and BM3D.

    python -m vision_jax.main --config=configs/pinn_denoise/zeroshot.py --workdir=runs/zeroshot
One setting:    ... --config.study.noises=awgn:25
Noise2Self instead of SURE for the trained network: --config.selfsup.loss=noise2self
Tiny (make test): ...zeroshot.py:small ; rebuild the table from finished sub-runs: --mode=report
"""

from configs.pinn_denoise import study
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, small=False, backbone="dncnn", prior="zg")
  c = study.get_config(f"run=zeroshot,backbone={a['backbone']},prior={a['prior']},small={a['small']}")
  c.model.dncnn = {"depth": 6, "features": 16}
  c.data.test = "bundled:coins,moon,page,coffee"
  c.data.max_size = 128
  c.data.patch_size = 40
  c.data.batch_size = 8
  c.optim.lr = 1e-3
  c.train.steps = 3000
  c.train.log_every = 100
  c.train.checkpoint_every = 1000
  c.train.eval_every = 0
  c.train.progress = False
  c.zeroshot.steps = 500
  c.zeroshot.snapshot_every = 10
  if a["small"]:  # a smoke run of every piece (make test)
    c.study.noises = "awgn:25,speckle"
    c.model.dncnn = {"depth": 3, "features": 4}
    c.data.train = "bundled:camera,brick"
    c.data.train_max_size = 48
    c.data.test = "bundled:coins"
    c.data.max_size = 32
    c.data.patch_size = 16
    c.data.batch_size = 2
    c.train.steps = 3
    c.train.log_every = 1
    c.train.checkpoint_every = 3
    c.zeroshot.steps = 4
    c.zeroshot.snapshot_every = 2
    c.sure_tuning.steps = 10
    c.sure_tuning.grid_size = 2
    c.eval.baselines = "tv_chambolle"
    c.eval.pde.max_steps = 5
    c.eval.pde.tune = {"perona_malik": {"K": [0.05]}}
  return c
