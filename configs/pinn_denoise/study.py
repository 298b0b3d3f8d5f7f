"""The honest denoising study of pinn_denoise: Table 4/5/6 analogues and the data-scarcity study.

Small (2 CPU cores):  python -m vision_jax.main --config=configs/pinn_denoise/study.py:small --workdir=runs/study
One table:            ...study.py:small,run=table4   (table4, table5, table6, scarcity, zeroshot)
The scarcity study with statistics and the zero-shot table have their own variants: configs/pinn_denoise/scarcity.py,
configs/pinn_denoise/zeroshot.py.
Set12 comparison:     ...study.py:run=table6 --config.data.train_dir=../shared/data/denoise/Train400 \
                        --config.eval.data_dir=../shared/data/denoise/Set12
Rebuild the tables from finished sub-runs (trains nothing): --mode=report
Every field of configs/pinn_denoise/default.py exists here too (model, loss, data, train, ...); sub-runs are
pinn_denoise runs keyed by their fingerprint in <workdir>/<table>/<name>-<fingerprint>/.
"""

import ml_collections

from configs.pinn_denoise import default
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, small=False, run="table4,table5,table6,scarcity", backbone="resu2net", prior="zg")
  c = default.get_config(f"backbone={a['backbone']},prior={a['prior']},small={a['small']}")
  c.project = "pinn_denoise.study"
  c.study = ml_collections.ConfigDict({
      "run": a["run"],
      "backbones": "unet,resunet,u2net,resu2net",
      "priors": "heat,perona_malik,mpmc,zg,none",
      "protocols": "heldout,oracle,zeroshot",
      "looks": "1,4,8",
      "sigmas": "15,25,50",
      "counts": "1,5,10,50,400",
      "seeds": "0",  # scarcity: one subset + initialisation per seed, the same with and without the PDE term
      "selfsup": True,  # scarcity: the noisy-images-only (protocol selfsup) networks as the left end
      "noises": "awgn:15,awgn:25,awgn:50,poisson_gaussian,speckle,speckle_amplitude",  # the zero-shot table's settings
      "dncnn_steps": 0,  # 0 = same as train.steps (the same step budget)
  })
  if a["small"]:
    c.train.steps = 150
    c.oracle.steps = 100
    c.zeroshot.steps = 100
    c.data.test = "bundled:coins,moon"
    c.data.max_size = 96
  return c
