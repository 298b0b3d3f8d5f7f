"""Greedy-then-joint training of staged denoisers (TNRD, Chen and Pock, TPAMI 2017, Sec. 4.2).

With config.train.greedy_steps = G > 0 a T-stage model is trained in T + 1 phases, each one run
of the generic loop (`train.loop.fit`, its own checkpoints, so every phase resumes):

  greedy t = 1..T: the t-stage model, its stages 1..t-1 taken from phase t-1 (stage t freshly
    initialised: a near-identity step, so the loss starts at phase t-1's), the loss on u_t; with
    train.greedy_freeze (default) the earlier stages get no gradient (stop_gradient on their
    parameters: Adam then leaves them exactly as they are) -- the paper's greedy training.
    G steps, learning rate train.greedy_lr (0: optim.lr), the configured schedule over G steps.
  joint: all T stages from greedy T, config.train.steps steps with config.optim (the paper's joint
    training, which it starts from the greedy solution).

Phase t lives in <workdir>/greedy<t>/ (inside the run's workdir, whose config.json fingerprints
every phase); the joint phase is the workdir itself, so --mode=eval restores the final model.
"""

from __future__ import annotations

import os
import re

import jax

from vision_jax import report as report_lib
from vision_jax.config_utils import with_overrides
from vision_jax.tasks.denoise import model as model_lib, supervised
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib

_STAGE = re.compile(r"_(\d+)$")


def greedy_steps(config) -> int:
  return int(config.train.get("greedy_steps", 0) or 0)


def stage_of(name: str) -> int | None:
  """The stage index of a parameter named '<field>_<t>' (TNRD's filters_t, rbf_weights_t, lambda_t)."""
  m = _STAGE.search(name)
  return int(m.group(1)) if m else None


def check_staged(config, model) -> int:
  """T, the model's number of stages; ValueError unless the backbone is staged (has `stages`)."""
  stages = getattr(model, "stages", None)
  if not isinstance(stages, int) or stages < 1:
    raise ValueError(f"train.greedy_steps={greedy_steps(config)} needs a staged backbone (tnrd, tnrd_blind), "
                     f"not {config.backbone!r}; set train.greedy_steps=0")
  return stages


def freeze_stages(params: dict, n: int) -> dict:
  """params with stop_gradient on every parameter of stages 0..n-1 (names '<field>_<t>', t < n)."""
  return {k: (jax.lax.stop_gradient(v) if (stage_of(k) is not None and stage_of(k) < n) else v)
          for k, v in params.items()}


def copy_from(previous: dict):
  """init_transform: fresh variables with every parameter that `previous` has replaced by its value."""

  def transform(variables):
    params = dict(variables["params"])
    for k, v in previous.items():
      if k not in params or params[k].shape != v.shape:
        raise ValueError(f"cannot carry parameter {k!r} of shape {getattr(v, 'shape', None)} into the next phase")
      params[k] = v
    return {**variables, "params": params}

  return transform


def phase_config(config, t: int):
  """The config of greedy phase t: the backbone with t stages, greedy_steps steps, greedy_lr."""
  lr = float(config.train.get("greedy_lr", 0.0) or 0.0) or float(config.optim.lr)
  return with_overrides(config, **{f"model.{config.backbone}.stages": t, "train.steps": greedy_steps(config),
                                   "optim.lr": lr})


def _freezing_loss(loss_fn, n: int):
  if n <= 0:
    return loss_fn
  return lambda params, batch_stats, batch, rng: loss_fn(freeze_stages(params, n), batch_stats, batch, rng)


def fit_stagewise(config, workdir: str, h, make_loss, desc: str, ignore=()) -> tuple:
  """Greedy phases then the joint phase (see the module docstring); returns (state, info)."""
  total_stages = check_staged(config, h.model)
  pixels = [im.pixels for im in h.train_images]
  workdir_lib.prepare(config, workdir, ignore)
  freeze = bool(config.train.get("greedy_freeze", True))
  previous, phases = None, []
  for t in range(1, total_stages + 1):
    cfg = phase_config(config, t)
    model, multiple = model_lib.build_model(cfg, model_lib.TASK_BACKBONES)
    loss = _freezing_loss(make_loss(model, cfg), t - 1 if freeze else 0)
    problem = supervised.heldout_problem(cfg, model, multiple, pixels, h.val, loss)
    if previous is not None:
      problem.init_transform = copy_from(previous)
    res = loop.fit(problem, cfg, os.path.join(workdir, f"greedy{t}"), desc=f"{desc} greedy {t}/{total_stages}")
    previous = res.state["params"]
    phases.append(_phase_info(f"greedy{t}", cfg, res))
  problem = supervised.heldout_problem(config, h.model, h.multiple, pixels, h.val, make_loss(h.model, config))
  problem.init_transform = copy_from(previous)
  res = loop.fit(problem, config, workdir, desc=f"{desc} joint")
  phases.append(_phase_info("joint", config, res))
  report_lib.training_curves(workdir, title=f"{desc} (joint phase)")
  info = {"train_seconds": sum(p["seconds"] for p in phases),
          "train_cpu_seconds": sum(p["cpu_seconds"] for p in phases),
          "train_steps": sum(p["steps"] for p in phases), "train_images": len(h.train_images),
          "parameters": state_lib.count_params(res.state["params"]),
          "phases": "; ".join(f"{p['name']} {p['steps']} steps {p['seconds']:.0f} s ({p['cpu_seconds']:.0f} CPU s)"
                              for p in phases)}
  return res.state, info


def _phase_info(name: str, cfg, res) -> dict:
  return {"name": name, "steps": int(cfg.train.steps), "seconds": float(res.seconds),
          "cpu_seconds": float(getattr(res, "cpu_seconds", 0.0))}
