"""TNRD in the paper's configuration (Chen and Pock 2017: 5 stages of 48 7x7 filters, 63-knot influence
functions, piecewise linear here), trained greedily stage by stage and then jointly, at one AWGN level.

Per-sigma model (Train400 -> the run's bundled test images; benchmarks/bench_denoise.py adds Set12):
  python -m vision_jax.main --config=configs/denoise/tnrd.py:sigma=25 --workdir=runs/tnrd7-s25 \
      --config.data.train_dir=../shared/data/denoise/Train400
Tiny (tests, seconds): ...tnrd.py:sigma=25,small
Joint training only (the greedy ablation): --config.train.greedy_steps=0

Arguments: sigma (AWGN level, 0-255), small. Budget: train.greedy_steps per stage (5 greedy phases whose
backward pass covers one stage) + train.steps joint steps; on 2 CPU cores a joint step of 16 64x64 patches
costs about 0.7 CPU seconds with vision_jax.cpu_flags (0.69-0.71 in the 6000-step runs of
benchmarks/results/bench_denoise_blind6000.md / _tnrd6000.md; bench_denoise.py prints CPU and wall seconds).
"""

from configs.denoise import default
from vision_jax.config_utils import parse_arg

PAPER = {"stages": 5, "num_filters": 48, "kernel_size": 7, "num_rbf": 63, "influence": "linear"}
TINY = {"stages": 2, "num_filters": 8, "kernel_size": 5, "num_rbf": 31, "influence": "linear"}


def schedule(c, small: bool, greedy_steps: int, joint_steps: int):
  """Greedy-then-joint budget and the Adam schedule shared by the TNRD-family configs."""
  c.train.greedy_steps = 4 if small else greedy_steps
  c.train.greedy_freeze = True
  c.train.greedy_lr = 2e-3
  c.train.steps = 6 if small else joint_steps
  c.train.checkpoint_every = 5 if small else 200
  c.train.eval_every = 0 if small else 500
  c.train.log_every = 2 if small else 50
  c.optim.lr = 1e-3
  c.optim.schedule = "warmup_cosine"
  c.optim.warmup_steps = 0 if small else 100
  c.optim.grad_clip = 1.0
  return c


def get_config(arg=None):
  a = parse_arg(arg, sigma=25.0, small=False)
  c = default.base_config("tnrd", "awgn", a["small"])
  c.noise.sigma = a["sigma"]
  c.model.tnrd = dict(TINY if a["small"] else PAPER)
  if a["small"]:
    c.data.test, c.data.max_size, c.data.patch_size, c.data.batch_size = "bundled:coins", 48, 32, 4
    c.data.train, c.data.train_max_size = "bundled:camera,brick", 96
    c.eval.baselines, c.eval.classical_prior = "", ""
  return schedule(c, a["small"], greedy_steps=100, joint_steps=800)
