"""Config pieces every experiment shares (big_vision's configs/common.py idea)."""

import ml_collections
from ml_collections.config_dict import placeholder


def add_run_fields(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Device mesh, multi-process switch, TensorBoard and the workdir policy (none changes results).

  resume: "auto" resumes a workdir made by this same config (any other config is refused);
  "fresh" wipes the workdir first (train mode only).
  """
  c.mesh = [("data", -1)]
  c.distributed = False
  c.tensorboard = False
  c.resume = "auto"
  return c


def prior_param_fields() -> ml_collections.ConfigDict:
  """Every parameter name of every PDE prior as a typed, unset field (None = the prior's default),
  so `--config.prior_params.K=0.1` works for whichever prior is selected; a set field that the
  selected prior does not take is refused when the run starts."""
  from vision_jax.pde import priors
  fields = {}
  for prior in priors.PRIORS.values():
    for name, default in prior.defaults.items():
      fields.setdefault(name, placeholder(str if isinstance(default, str) else float))
  return ml_collections.ConfigDict(fields)
