"""PINN denoising (seed-002 article 4): backbone x PDE prior x noise x protocol.

Run:    python -m vision_jax.main --config=configs/pinn_denoise/default.py:backbone=resu2net,prior=zg --workdir=runs/pinn
Demo:   python -m vision_jax.main --config=configs/pinn_denoise/default.py:small --workdir=runs/demo   (2 CPU cores, minutes)
Oracle: ...:small,protocol=oracle  (the paper's Algorithm 1: fits the clean test target; an upper bound)
Zero-shot: ...:small,protocol=zeroshot   (noisy test image only)
Train400 -> Set12: --config.data.train_dir=../shared/data/denoise/Train400 --config.eval.data_dir=../shared/data/denoise/Set12
Evaluate a trained workdir: --mode=eval --config.eval.data_dir=DIR; re-render the report: --mode=report
A prior's parameter: --config.prior_params.K=0.1 (unset fields keep the prior's defaults)

Arguments: backbone (unet, resunet, u2net, resu2net, dncnn, tnrd, coord_mlp: zero-shot only), prior (heat, perona_malik,
mpmc, zg, tensor, tv, none), noise (awgn, poisson_gaussian, speckle, speckle_amplitude), protocol (heldout, oracle,
zeroshot, selfsup), small.
Zero-shot stopping rule: --config.zeroshot.stop=sure (default) or discrepancy; SURE-trained network on noisy training
images only: protocol=selfsup (--config.selfsup.loss=noise2self needs no sigma).
"""

import ml_collections

from configs import common
from configs.denoise import default as denoise_default
from vision_jax.config_utils import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, backbone="resu2net", prior="zg", noise="speckle", protocol="heldout", small=False)
  small = a["small"]
  c = denoise_default.base_config(a["backbone"], a["noise"], small)
  c.project = "pinn_denoise"
  c.protocol = a["protocol"]
  c.prior = a["prior"]
  c.prior_params = common.prior_param_fields()  # e.g. --config.prior_params.K=0.05; None = the prior's default
  c.loss = ml_collections.ConfigDict({
      # Algorithm 1 weights (seed Eq. 10/16), the one source of loss weights; set one to 0 to ablate that term.
      "weights": {"data": 1.0, "pde": 1.0, "perc": 0.1, "ic": 0.03, "bc": 0.02},
      "pde_form": "implicit_step",  # or "steady"; see vision_jax/losses/pinn.py
      "tau": 0.5,  # diffusion time of the implicit step, pixel^2 units
      "bc_kind": "neumann",  # or "dirichlet" (Algorithm 1: g = 0)
      "bc_value": 0.0,
      "deep_supervision": not small,  # side outputs of (Res)U2Net in the data term; off for the short CPU demo
  })
  if a["backbone"] == "coord_mlp":  # the coordinate PINN balances IC, PDE and BC itself (no data term exists)
    c.loss.weights = {"data": 0.0, "pde": 1.0, "perc": 0.0, "ic": 1.0, "bc": 0.1}
  c.oracle = ml_collections.ConfigDict({"steps": 150 if small else 500})  # Algorithm 1: 500 epochs
  # Zero-shot: stop = "sure" (stabilised input, K and tau by SURE, SURE data term, SURE-chosen snapshot) or
  # "discrepancy" (raw input, configured K and tau, discrepancy-principle snapshot); probes: SURE probes of the
  # training loss / of each snapshot's SURE; prior_rows: also report the prior itself tuned by SURE and by an oracle.
  c.zeroshot = ml_collections.ConfigDict({"steps": 150 if small else 500, "snapshot_every": 10, "stop": "sure",
                                          "probes": 1, "stop_probes": 4, "prior_rows": True})
  # SURE tuning of a prior on one noisy image (zeroshot.py): `grid_size` geometric values of its swept parameter x
  # every step 0..steps, dt = dt_fraction x its stability limit, pde.sure_best_setting(z, max_rel_stderr).
  c.sure_tuning = ml_collections.ConfigDict({"steps": 300, "grid_size": 8, "probes": 4, "z": 2.0, "max_rel_stderr": 0.1,
                                             "dt_fraction": 0.9, "seed": 0})
  # protocol=selfsup: the loss on noisy training images ("sure" or "noise2self"), its probes / mask period, and
  # the seed of the one fixed noisy draw per training image.
  c.selfsup = ml_collections.ConfigDict({"loss": "sure", "probes": 1, "period": 4, "noise_seed": 4321})
  # The coordinate PINN u(x, y, t) (backbone=coord_mlp, protocol=zeroshot); its loss is config.loss.
  c.coord = ml_collections.ConfigDict({"time": 1.0, "points": 512, "steps": 300 if small else 3000})
  if a["backbone"] == "coord_mlp":  # no SURE path: its IC term is the only tie to the noisy image
    c.zeroshot.stop = "discrepancy"
  return c
