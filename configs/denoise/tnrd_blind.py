"""One blind TNRD for AWGN sigma in [0, 55]: the noise-level-map TNRD (models/denoisers/tnrd_blind.py; the
sigma / 255 map is an input channel, FFDNet-style) in the paper's size (5 stages x 48 7x7 filters), influence
and reaction tables at 12 knot levels 0, 5, ..., 55, trained greedily then jointly on levels drawn per patch
uniformly in [0, 55] with the level-weighted MSE (tasks/denoise/blind.py). These are the shipped weights
(vision_jax/weights/tnrd_blind.npz), made by

  make weights TRAIN=../shared/data/denoise/Train400
  # = python -m vision_jax.main --config=configs/denoise/tnrd_blind.py --workdir=runs/weights-tnrd_blind \
  #     --config.data.train_dir=$(TRAIN)   then   --mode=export (writes the .npz)

The run's own report evaluates at noise.sigma (25) on the bundled test images, with the true level and with
the wavelet MAD estimate; benchmarks/bench_denoise.py evaluates it at 15 / 25 / 50 on Set12 and the bundled set.
Tiny (tests): ...tnrd_blind.py:small

Arguments: small.
"""

from configs.denoise import default, tnrd
from vision_jax.config_utils import parse_arg

KNOTS = tuple(float(s) for s in range(0, 60, 5))


def get_config(arg=None):
  a = parse_arg(arg, small=False)
  c = default.base_config("tnrd_blind", "awgn", a["small"])
  fields = dict(tnrd.TINY if a["small"] else tnrd.PAPER)
  del fields["influence"]  # always piecewise linear
  c.backbone = "tnrd_blind"
  c.model.tnrd_blind = {**fields, "sigma_knots": KNOTS}
  c.noise.sigma = 25.0  # the level of the run's own evaluation
  c.noise.train_sigmas = "0:55"
  c.noise.train_weighting = "inverse"
  if a["small"]:
    c.data.test, c.data.max_size, c.data.patch_size, c.data.batch_size = "bundled:coins", 48, 32, 4
    c.data.train, c.data.train_max_size = "bundled:camera,brick", 96
    c.eval.baselines, c.eval.classical_prior = "", ""
  # Joint steps: 9000 (6381 CPU s in all, one core; 6000 took 4523 CPU s and sat 0.03-0.05 dB lower on Set12).
  # The first shipped weights had 400 and sat 0.35-0.43 dB below BM3D on Set12; 6000 gave +0.30-0.35 dB.
  return tnrd.schedule(c, a["small"], greedy_steps=400, joint_steps=9000)
