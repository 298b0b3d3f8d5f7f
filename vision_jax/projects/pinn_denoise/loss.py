"""The composite PINN loss (seed Eq. 10/16) as a trainer loss_fn, with the prior's parameters from
the config. The weights come from one place: the protocol's `loss_weights(config)` (config.loss.weights
with the terms a protocol cannot use set to 0); vision_jax.losses.pinn sums the terms once."""

from __future__ import annotations

from vision_jax import noise as noise_lib
from vision_jax.losses import pinn as pinn_loss
from vision_jax.pde import priors as priors_lib
from vision_jax.train.state import apply_model


def prior_params(config) -> dict:
  """The prior's defaults overridden by the fields of config.prior_params that are set (not None).

  config.prior_params holds every parameter name of every prior (None = the prior's default); a
  set field the selected prior does not take is refused with the valid names.
  """
  if config.prior == "none":
    return {}
  prior = priors_lib.get_prior(config.prior)
  given = {k: v for k, v in dict(config.get("prior_params", {}) or {}).items() if v is not None}
  unknown = sorted(set(given) - set(prior.defaults))
  if unknown:
    raise ValueError(f"prior {config.prior!r} has no parameter {', '.join(unknown)} (set in prior_params); "
                     f"valid: {', '.join(sorted(prior.defaults)) or '(none)'}")
  return prior.resolve_params(given)


def check_loss_config(config, weights: dict) -> None:
  """One-line errors for the loss fields before anything is traced."""
  lcfg = config.loss
  if lcfg.pde_form not in pinn_loss.PDE_FORMS:
    raise ValueError(f"unknown loss.pde_form {lcfg.pde_form!r}; valid: {', '.join(pinn_loss.PDE_FORMS)}")
  if lcfg.bc_kind not in pinn_loss.BC_KINDS:
    raise ValueError(f"unknown loss.bc_kind {lcfg.bc_kind!r}; valid: {', '.join(pinn_loss.BC_KINDS)}")
  pinn_loss.check_weights(weights)
  if weights["pde"] > 0 and lcfg.pde_form == "implicit_step" and not float(lcfg.tau) > 0:
    raise ValueError(f"loss.tau={lcfg.tau!r} is invalid; expected > 0 (the diffusion time of the implicit "
                     "step, pixel^2 units)")


def make_loss_fn(model, config, weights: dict):
  """Trainer loss_fn(params, batch_stats, batch, rng) for the composite PINN loss.

  batch: {'clean'} (noise drawn on device, fresh every step), {'noisy', 'clean'} (fixed pair) or
  {'noisy'} (zero-shot: no clean image exists, and the data/perc weights must be 0).
  """
  kind, kw = config.noise.kind, noise_lib.noise_kwargs(config.noise)
  params_pde = prior_params(config)
  lcfg = config.loss

  def loss_fn(params, batch_stats, batch, rng):
    clean = batch.get("clean")
    noisy = batch["noisy"] if "noisy" in batch else noise_lib.add_noise(rng, clean, kind, **kw)
    x_hat, aux, new_bs = apply_model(model, params, batch_stats, noisy, train=True)
    side = tuple(aux.get("side_outputs", ())) if lcfg.deep_supervision else ()
    terms = pinn_loss.pinn_loss_terms(
        x_hat, noisy, clean, prior=config.prior, prior_params=params_pde, pde_form=lcfg.pde_form,
        tau=float(lcfg.tau), bc_kind=lcfg.bc_kind, bc_value=float(lcfg.bc_value), weights=weights,
        side_outputs=side)
    return pinn_loss.total_loss(terms, weights), (terms, new_bs)

  return loss_fn
