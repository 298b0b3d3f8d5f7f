"""The data-scarcity study with statistics (pinn_denoise, issue 11 section 3): DnCNN-6 (16 features,
9,648 parameters) with and without the ZG PDE term on 1, 2, 5, 10, 50, 400 clean training images,
3 seeds each (subset of the pool + initialisation per seed, shared by both series), plus the
SURE-trained network (noisy images only) as the left end; AWGN sigma 25; paired tests per size.

Train400 -> Set12 (the study as specified; 42 runs of 3000 steps of 8 x 40^2 patches):
    python -m vision_jax.main --config=configs/pinn_denoise/scarcity.py --workdir=runs/scarcity \
      --config.data.train_dir=../shared/data/denoise/Train400 --config.eval.data_dir=../shared/data/denoise/Set12
Bundled images only (counts above the 10-image pool are dropped):
    python -m vision_jax.main --config=configs/pinn_denoise/scarcity.py --workdir=runs/scarcity_bundled
A subset of the cells (finished sub-runs are shared with the full study; they resume):
    ... --config.study.counts=1,10,400 --config.study.seeds=0,1
Tiny (make test): ...scarcity.py:small ; rebuild the table from finished sub-runs: --mode=report

Budget: a DnCNN-6x16 step on 8 x 40 x 40 patches costs about 45 ms of CPU (ZG residual included; the
SURE step with one jvp probe about the same), so 42 runs x 3000 steps are about 95 CPU-minutes.
Measured 2026-12-02 (benchmarks/results/scarcity.md): 102 CPU-minutes and 90 wall-minutes, about 22 of them
stopped by SIGSTOP and the last 38 beside a test run, so about 68 minutes of running on 2 shared cores (the
issue's budget: 90).
"""

from configs.pinn_denoise import study
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, small=False, backbone="dncnn", prior="zg")
  c = study.get_config(f"run=scarcity,backbone={a['backbone']},prior={a['prior']},small={a['small']}")
  c.noise.kind = "awgn"
  c.noise.sigma = 25.0
  c.model.dncnn = {"depth": 6, "features": 16}
  c.data.patch_size = 40
  c.data.batch_size = 8
  c.optim.lr = 1e-3
  c.train.steps = 3000
  c.train.log_every = 100
  c.train.checkpoint_every = 1000
  c.train.eval_every = 0
  c.train.progress = False
  c.study.counts = "1,2,5,10,50,400"
  c.study.seeds = "0,1,2"
  c.study.selfsup = True
  if a["small"]:  # a smoke run of every piece (make test): tiny model, images and steps
    c.study.counts = "1,2"
    c.study.seeds = "0,1"
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
  return c
