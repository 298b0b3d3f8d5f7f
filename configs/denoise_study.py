"""The honest denoising study (issue 4): Table 4/5/6 analogues and the data-scarcity study.

Small (2 CPU cores):  python -m vision_jax.main --config=configs/denoise_study.py:small --workdir=runs/study
One table:            ...denoise_study.py:small,run=table4
Set12 comparison:     ...denoise_study.py:run=table6 --config.data.train_dir=../shared/data/denoise/Train400 \
                        --config.eval.data_dir=../shared/data/denoise/Set12
Every field of configs/pinn_denoise.py exists here too (model, loss, data, train, ...).
"""

import importlib.util
import os

import ml_collections

from vision_jax.config_utils import parse_arg


def _pinn_config(arg):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pinn_denoise.py")
  spec = importlib.util.spec_from_file_location("pinn_denoise_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def get_config(arg=None):
  a = parse_arg(arg, small=False, run="table4,table5,table6,scarcity", backbone="resu2net", prior="zg")
  c = _pinn_config(f"backbone={a['backbone']},prior={a['prior']},small={a['small']}")
  c.task = "denoise_study"
  c.study = ml_collections.ConfigDict({
      "run": a["run"],
      "backbones": "unet,resunet,u2net,resu2net",
      "priors": "heat,perona_malik,mpmc,zg,none",
      "protocols": "heldout,oracle,zeroshot",
      "looks": "1,4,8",
      "sigmas": "15,25,50",
      "counts": "1,5,10,50,400",
      "dncnn_steps": 0,  # 0 = same as train.steps (the same step budget)
  })
  if a["small"]:
    c.train.steps = 150
    c.oracle.steps = 100
    c.zeroshot.steps = 100
    c.data.test = "bundled:coins,moon"
    c.data.max_size = 96
  return c
