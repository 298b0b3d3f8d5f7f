"""Train state as a plain pytree, and the optax optimizer built from the config."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("adam", "adamw", "sgd", "lamb")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "onecycle", "linear", "sine")


def make_schedule(optim_cfg, total_steps: int) -> optax.Schedule:
  """Learning-rate schedule (step -> lr) from config.optim: constant / cosine / warmup_cosine / onecycle /
  linear (lr -> lr * final_lr_fraction) / sine (lr (1 - sin(pi t / 2T)), a warm-restart decay)."""
  lr = float(optim_cfg.lr)
  name = optim_cfg.get("schedule", "constant")
  warmup = int(optim_cfg.get("warmup_steps", 0))
  total = max(int(total_steps), 1)
  if name == "constant":
    return optax.constant_schedule(lr)
  if name == "cosine":
    return optax.cosine_decay_schedule(lr, total, alpha=float(optim_cfg.get("final_lr_fraction", 0.0)))
  if name == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, min(warmup, total - 1) if total > 1 else 0, total,
                                              end_value=lr * float(optim_cfg.get("final_lr_fraction", 0.0)))
  if name == "onecycle":  # optional fields: div_factor (25), final_div_factor (1e4), pct_start (0.3), optax's defaults
    return optax.cosine_onecycle_schedule(total, lr, pct_start=float(optim_cfg.get("pct_start", 0.3)),
                                          div_factor=float(optim_cfg.get("div_factor", 25.0)),
                                          final_div_factor=float(optim_cfg.get("final_div_factor", 1e4)))
  if name == "linear":
    return optax.linear_schedule(lr, lr * float(optim_cfg.get("final_lr_fraction", 0.0)), total)
  if name == "sine":
    return lambda step: lr * (1.0 - jnp.sin(jnp.pi * jnp.minimum(step, total) / (2.0 * total)))
  raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")


def make_optimizer(optim_cfg, total_steps: int) -> optax.GradientTransformation:
  """optax optimizer from config.optim (name, lr, schedule, weight_decay, grad_clip, momentum)."""
  name = optim_cfg.get("name", "adam")
  schedule = make_schedule(optim_cfg, total_steps)
  wd = float(optim_cfg.get("weight_decay", 0.0))
  if name == "adam":
    tx = optax.adam(schedule)
  elif name == "adamw":
    tx = optax.adamw(schedule, weight_decay=wd)
  elif name == "sgd":
    tx = optax.sgd(schedule, momentum=float(optim_cfg.get("momentum", 0.9)), nesterov=True)
  elif name == "lamb":  # optional fields b1 (0.9), b2 (0.999): optax's defaults
    tx = optax.lamb(schedule, b1=float(optim_cfg.get("b1", 0.9)), b2=float(optim_cfg.get("b2", 0.999)),
                    weight_decay=wd)
  else:
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
  clip = float(optim_cfg.get("grad_clip", 0.0))
  return optax.chain(optax.clip_by_global_norm(clip), tx) if clip > 0 else tx


def init_state(model, tx, rng, example_input, extra=None, transform=None) -> dict:
  """Train state {params, opt_state, step, batch_stats[, extra]} for `model` on an example input (N, ...).

  extra: a pytree the problem declares (a teacher's parameters, adaptive weights), stored as is.
  transform: optional variables -> variables applied to model.init's output before the optimizer
    state is built (e.g. copy a pretrained backbone's parameters and batch statistics in).
  """
  variables = model.init(rng, example_input, train=False)
  if transform is not None:
    variables = transform(variables)
  params = variables["params"]
  state = {
      "params": params,
      "opt_state": tx.init(params),
      "step": jnp.zeros((), jnp.int32),
      "batch_stats": variables.get("batch_stats", {}),
  }
  if extra is not None:
    state["extra"] = extra
  return state


def model_variables(state: dict) -> dict:
  """The variables dict that model.apply expects, from a train state."""
  variables = {"params": state["params"]}
  if jax.tree.leaves(state.get("batch_stats", {})):
    variables["batch_stats"] = state["batch_stats"]
  return variables


def count_params(tree) -> int:
  """Number of scalars in a pytree of arrays (or ShapeDtypeStructs)."""
  return int(sum(x.size for x in jax.tree.leaves(tree)))


def apply_model(model, params, batch_stats, x, train: bool, rngs=None):
  """(output, aux, new_batch_stats) of a Linen model that returns (output, aux).

  BatchNorm statistics (the `batch_stats` collection) are updated only when training; `rngs`
  (e.g. {"dropout": key}) is passed to model.apply.
  """
  variables = {"params": params}
  kw = {} if rngs is None else {"rngs": rngs}
  if jax.tree.leaves(batch_stats):
    variables["batch_stats"] = batch_stats
    if train:
      (y, aux), updates = model.apply(variables, x, train=True, mutable=["batch_stats"], **kw)
      return y, aux, updates["batch_stats"]
  y, aux = model.apply(variables, x, train=train, **kw)
  return y, aux, batch_stats
