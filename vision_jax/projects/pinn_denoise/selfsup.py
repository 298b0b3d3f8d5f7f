"""Networks trained without clean images (protocol selfsup) and the self-supervised loss of the
zero-shot SURE fit: SURE or Noise2Self (vision_jax.tasks.denoise.self_supervised) plus the clean-free
terms of the composite PINN loss (PDE residual and boundary term, with the protocol's weights).

The training pool is one fixed noisy draw of each training image (seed config.selfsup.noise_seed);
for SURE on non-AWGN noise it is variance-stabilised first and the trained method maps its output
back (generalized Anscombe / exact unbiased inverse; unbiased log / exp).
"""

from __future__ import annotations

from vision_jax import report as report_lib
from vision_jax.losses import pinn as pinn_loss
from vision_jax.projects.pinn_denoise import loss as loss_lib
from vision_jax.tasks.denoise import model as model_lib, self_supervised
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib


def make_loss_fn(model, config, weights: dict, sigma: float | None, *, probes: int = 1, kind: str = "sure",
                 traced_pde: bool = False):
  """loss_fn = config.loss.weights.data x SURE / Noise2Self + the PDE / boundary terms of `weights`.

  weights: the protocol's weights (data, perc and ic are replaced or impossible without a clean
  image: only pde and bc are used here). traced_pde: read the prior's swept parameter and tau from
  the batch (the zero-shot fit's per-image SURE choice), so one compiled step serves every image.
  """
  lcfg = config.loss
  params_pde = loss_lib.prior_params(config)
  extra_w = {**{k: 0.0 for k in pinn_loss.TERMS}, "pde": float(weights["pde"]), "bc": float(weights["bc"])}
  data_w = float(config.loss.weights.data)  # the unbiased estimate takes the data term's place

  def extra(x_hat, batch):
    pp, tau = params_pde, float(lcfg.tau)
    if traced_pde:
      pp = {**params_pde, **{k: batch[k] for k in params_pde if k in batch}}
      tau = batch.get("tau", tau)
    terms = pinn_loss.pinn_loss_terms(x_hat, batch["noisy"], None, prior=config.prior, prior_params=pp,
                                      pde_form=lcfg.pde_form, tau=tau, bc_kind=lcfg.bc_kind,
                                      bc_value=float(lcfg.bc_value), weights=extra_w)
    return pinn_loss.total_loss(terms, extra_w), {"pde": terms["pde"], "bc": terms["bc"]}

  return self_supervised.make_loss(model, sigma, kind=kind, probes=probes, period=int(config.selfsup.period),
                                   weight=data_w, extra_terms=extra)


def check_config(config) -> None:
  s = config.selfsup
  self_supervised.check_loss(str(s.loss), config.noise.kind)
  if isinstance(s.probes, bool) or int(s.probes) < 1:
    raise ValueError(f"selfsup.probes={s.probes!r} is invalid; expected an int >= 1")
  if int(s.period) < 2:
    raise ValueError(f"selfsup.period={s.period!r} is invalid; expected an int >= 2")


def fit(config, workdir: str, h, protocol, desc: str):
  """Trains on the noisy pool of h.train_images; returns (method on noisy test images, info)."""
  kind = str(config.selfsup.loss)
  noisys = self_supervised.noisy_pool([im.pixels for im in h.train_images], config.noise, int(config.selfsup.noise_seed))
  inputs, sigma = self_supervised.training_inputs(noisys, config.noise, kind)
  loss_fn = make_loss_fn(h.model, config, protocol.loss_weights(config), sigma, probes=int(config.selfsup.probes),
                         kind=kind)
  problem = self_supervised.make_problem(h.model, inputs, loss_fn, batch_size=int(config.data.batch_size),
                                         patch_size=int(config.data.patch_size), seed=int(config.seed))
  workdir_lib.prepare(config, workdir)
  res = loop.fit(problem, config, workdir, desc=desc)
  report_lib.training_curves(workdir, title=desc)
  stabilized = self_supervised.uses_stabilization(kind, config.noise.kind)
  info = {"train_seconds": res.seconds, "train_cpu_seconds": getattr(res, "cpu_seconds", None),
          "train_steps": int(config.train.steps), "train_images": len(h.train_images), "clean_images_used": 0,
          "selfsup_loss": kind, "stabilized": "yes" if stabilized else "no",
          "parameters": state_lib.count_params(res.state["params"])}
  method = model_lib.denoise_method(h.model, res.state, h.multiple)
  return self_supervised.stabilized_method(method, config.noise, stabilized), info
