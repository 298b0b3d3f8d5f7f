"""The generic training loop every task reuses: jit + NamedSharding, orbax resume, JSONL + progress bar.

A task describes its problem with a `TrainProblem` and calls `fit`. The loss function sees one global
batch; under jit with a data-sharded batch, means over the batch are global means, so the result is
the same on 1 or many devices (up to float reduction order).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable

import jax
import numpy as np
import optax

from vision_jax.progress import progress_bar
from vision_jax.train import checkpoint, parallel, state as state_lib, writer as writer_lib


@dataclasses.dataclass
class TrainProblem:
  """What `fit` needs from a task.

  model: a Flax Linen module, apply(variables, x, train=...) -> (output, aux).
  example_input: host array (N, ...) used to initialise parameters.
  loss_fn: (params, batch_stats, batch, rng) -> (loss, (metrics: dict, new_batch_stats)); pure, jittable.
  batch_fn: step -> host batch (a dict of arrays with a leading batch axis); a pure function of the
    step, so a resumed run sees exactly the batches an uninterrupted one would.
  eval_fn: optional (state, step) -> dict of scalars, run every config.train.eval_every steps; with
    config.train.select_metric set, the best state by that scalar is kept in workdir/best.
  extra_init: optional () -> pytree of extra state the loss reads and may update (a teacher's
    parameters, adaptive loss weights), kept in state["extra"] and checkpointed; no gradient flows
    into it. With it, loss_fn is (params, batch_stats, batch, rng, extra) ->
    (loss, (metrics, new_batch_stats, new_extra)).
  init_transform: optional variables -> variables applied to the freshly initialised variables
    (e.g. load a pretrained backbone: fine-tuning starts from it); a resumed run restores its
    checkpoint instead.
  """
  model: Any
  example_input: Any
  loss_fn: Callable
  batch_fn: Callable[[int], dict]
  eval_fn: Callable | None = None
  extra_init: Callable | None = None
  init_transform: Callable | None = None


@dataclasses.dataclass
class TrainResult:
  """state: final train state; metrics: last logged metrics; start_step: step resumed from;
  seconds: training wall time summed over every run of this workdir (workdir/train_seconds.json);
  best: {"step", "metric", "value", "stopped_early"} when config.train.select_metric is set;
  cpu_seconds: this process's CPU time (all threads, time.process_time) while training, summed the
  same way (on a shared machine it measures the work done, where wall time also counts waiting)."""
  state: dict
  metrics: dict
  start_step: int
  seconds: float
  best: dict | None = None
  cpu_seconds: float = 0.0


SECONDS_FILE = "train_seconds.json"


def _previous_seconds(workdir: str, start: int, key: str = "seconds") -> float:
  """Training seconds (key "seconds": wall, "cpu_seconds": CPU) recorded by earlier runs up to the
  checkpoint resumed from (0 for a fresh run)."""
  path = os.path.join(workdir, SECONDS_FILE)
  if not start or not os.path.exists(path):
    return 0.0
  with open(path) as f:
    return float(json.load(f).get(key, 0.0))


def _record_seconds(workdir: str, step: int, seconds: float, cpu_seconds: float | None = None) -> None:
  if jax.process_index() == 0:
    tmp = os.path.join(workdir, SECONDS_FILE + ".tmp")
    record = {"step": step, "seconds": seconds}
    if cpu_seconds is not None:
      record["cpu_seconds"] = cpu_seconds
    with open(tmp, "w") as f:
      json.dump(record, f)
    os.replace(tmp, os.path.join(workdir, SECONDS_FILE))


def compile_init(init: Callable, rng, out_shardings=None):
  """A parameter initializer compiled without XLA backend optimizations (call it with rng).

  Random initializers of big Linen models compile slowly on CPU (minutes for a U2Net); the init runs
  once, so optimization level 0 costs nothing at run time and compiles several times faster.
  """
  jitted = jax.jit(init, out_shardings=out_shardings) if out_shardings is not None else jax.jit(init)
  return jitted.lower(rng).compile(compiler_options={"xla_backend_optimization_level": 0})


def init_on_mesh(init: Callable, rng, out_shardings=None):
  """Runs a parameter initializer once, compiled by `compile_init`."""
  return compile_init(init, rng, out_shardings)(rng)


def make_train_step(loss_fn, tx):
  """The un-jitted update: grads of loss_fn, optax update, step += 1. RNG is folded with the step.

  A state with an "extra" entry (TrainProblem.extra_init) passes it to loss_fn and stores the
  loss's new_extra; gradients are taken with respect to the parameters only.
  """

  def train_step(state, batch, base_rng):
    rng = jax.random.fold_in(base_rng, state["step"])
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    new_state = {}
    if "extra" in state:
      (loss, (metrics, new_batch_stats, new_state["extra"])), grads = grad_fn(
          state["params"], state["batch_stats"], batch, rng, state["extra"])
    else:
      (loss, (metrics, new_batch_stats)), grads = grad_fn(state["params"], state["batch_stats"], batch, rng)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    new_state.update({
        "params": optax.apply_updates(state["params"], updates),
        "opt_state": opt_state,
        "step": state["step"] + 1,
        "batch_stats": new_batch_stats,
    })
    return new_state, {**metrics, "loss": loss, "grad_norm": optax.global_norm(grads)}

  return train_step


def _init_fn(problem: TrainProblem, tx):
  extra = problem.extra_init
  return lambda r: state_lib.init_state(problem.model, tx, r, problem.example_input,
                                        extra=None if extra is None else extra(),
                                        transform=problem.init_transform)


BEST_FILE = "best.json"
SELECT_MODES = ("max", "min")


class BestTracker:
  """Keeps the best state by config.train.select_metric (an eval_fn scalar) in workdir/best and
  stops early after train.patience evaluations without improvement (0: never). Its record
  (workdir/best.json) survives resumes."""

  def __init__(self, tcfg, workdir: str, eval_fn):
    self.metric = str(tcfg.get("select_metric", "") or "")
    self.mode = str(tcfg.get("select_mode", "max"))
    self.patience = int(tcfg.get("patience", 0))
    if self.metric and eval_fn is None:
      raise ValueError(f"train.select_metric={self.metric!r} needs an evaluation during training; this task "
                       "has no eval_fn (set train.select_metric='')")
    if self.mode not in SELECT_MODES:
      raise ValueError(f"train.select_mode={self.mode!r} is invalid; expected one of {', '.join(SELECT_MODES)}")
    if self.metric and int(tcfg.get("eval_every", 0)) < 1:
      raise ValueError(f"train.select_metric={self.metric!r} needs train.eval_every >= 1")
    self.path = os.path.join(workdir, BEST_FILE)
    self.record = {"metric": self.metric, "mode": self.mode, "step": None, "value": None, "evals_since": 0,
                   "stopped_early": False}
    if self.metric and os.path.exists(self.path):
      with open(self.path) as f:
        self.record.update(json.load(f))
    self.manager = checkpoint.make_manager(workdir, max_to_keep=1, folder="best") if self.metric else None

  @property
  def enabled(self) -> bool:
    return bool(self.metric)

  def update(self, step: int, scalars: dict, state) -> bool:
    """Records one evaluation; saves the state if it is the best so far. Returns True to stop."""
    if not self.enabled:
      return False
    if self.metric not in scalars:
      raise ValueError(f"train.select_metric={self.metric!r} is not among the evaluation metrics "
                       f"{sorted(scalars)}")
    value, best = float(scalars[self.metric]), self.record["value"]
    if best is None or (value > best if self.mode == "max" else value < best):
      checkpoint.save(self.manager, step, state)
      self.record.update(step=step, value=value, evals_since=0)
    else:
      self.record["evals_since"] += 1
    self.record["stopped_early"] = bool(self.patience and self.record["evals_since"] >= self.patience)
    if jax.process_index() == 0:
      tmp = self.path + ".tmp"
      with open(tmp, "w") as f:
        json.dump(self.record, f)
      os.replace(tmp, self.path)
    return self.record["stopped_early"]

  def close(self):
    if self.manager is not None:
      self.manager.wait_until_finished()


def fit(problem: TrainProblem, config, workdir: str, *, mesh=None, desc: str = "train") -> TrainResult:
  """Trains for config.train.steps steps (resuming from workdir/checkpoints if present).

  Config fields: seed, train.{steps, log_every, checkpoint_every, eval_every, progress},
  optim.{name, lr, schedule, ...}, mesh, tensorboard. Raises FloatingPointError on a NaN/Inf loss,
  leaving the last good checkpoint in place.
  """
  tcfg = config.train
  total = int(tcfg.steps)
  mesh = mesh or parallel.make_mesh(config.get("mesh", [("data", -1)]))
  tx = state_lib.make_optimizer(config.optim, total)
  rng = jax.random.PRNGKey(int(config.seed))
  init_rng, step_rng = jax.random.split(rng)
  repl = parallel.replicated(mesh)

  init = _init_fn(problem, tx)
  abstract = jax.eval_shape(init, init_rng)
  state_sharding = jax.tree.map(lambda _: repl, abstract)
  abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, state_sharding)

  manager = checkpoint.make_manager(workdir, max_to_keep=int(tcfg.get("keep_checkpoints", 2)))
  state, start = checkpoint.restore_latest(manager, abstract)
  if state is None:
    state = init_on_mesh(init, init_rng, state_sharding)
    start = 0

  step_fn = jax.jit(make_train_step(problem.loss_fn, tx), donate_argnums=(0,),
                    out_shardings=(state_sharding, repl))
  log_every = max(int(tcfg.get("log_every", 50)), 1)
  ckpt_every = max(int(tcfg.get("checkpoint_every", 500)), 1)
  eval_every = int(tcfg.get("eval_every", 0))
  tracker = BestTracker(tcfg, workdir, problem.eval_fn)
  if tracker.record["stopped_early"]:
    total = start  # an earlier run stopped early here; resuming trains no further
  writer = writer_lib.make_writer(workdir, bool(config.get("tensorboard", False)), jax.process_index() == 0)
  last_saved = start if start else None
  metrics_host: dict = {}
  earlier = seconds = _previous_seconds(workdir, start)
  earlier_cpu = cpu_seconds = _previous_seconds(workdir, start, "cpu_seconds")
  t0, c0 = time.time(), time.process_time()
  bar = progress_bar(total=total, initial=start, desc=desc, unit="step",
                     disable=not bool(tcfg.get("progress", True)))
  try:
    in_flight = None
    for step in range(start, total):
      batch = parallel.shard_batch(problem.batch_fn(step), mesh)
      state, metrics = step_fn(state, batch, step_rng)
      # At most one step queued behind the running one: the next batch is still prepared while the
      # device computes, and the progress bar and ETA follow computed steps, not dispatched ones.
      if in_flight is not None:
        jax.block_until_ready(in_flight)
      in_flight = metrics
      done = step + 1
      if done % log_every == 0 or done % ckpt_every == 0 or done == total:
        metrics_host = {k: float(v) for k, v in jax.device_get(metrics).items()}
        _check_finite_loss(metrics_host, done, last_saved, manager.directory)
        writer.write(done, {f"train/{k}": v for k, v in metrics_host.items()})
        bar.set_postfix(loss=f"{metrics_host['loss']:.4g}")
      stop = False
      if problem.eval_fn is not None and eval_every and done % eval_every == 0:
        scalars = problem.eval_fn(state, done)
        writer.write(done, {f"eval/{k}": v for k, v in scalars.items()})
        stop = tracker.update(done, scalars, state)
      if done % ckpt_every == 0 or done == total or stop:
        checkpoint.save(manager, done, state)
        last_saved = done
        seconds = earlier + time.time() - t0
        cpu_seconds = earlier_cpu + time.process_time() - c0
        _record_seconds(workdir, done, seconds, cpu_seconds)
      bar.update(1)
      if stop:
        break
  finally:
    bar.close()
    manager.wait_until_finished()
    tracker.close()
    writer.close()
  return TrainResult(state=state, metrics=metrics_host, start_step=start, seconds=seconds,
                     best=dict(tracker.record) if tracker.enabled else None, cpu_seconds=cpu_seconds)


def _check_finite_loss(metrics: dict, step: int, last_saved, directory) -> None:
  loss = metrics.get("loss", 0.0)
  if not np.isfinite(loss):
    kept = f"last good checkpoint (step {last_saved}) kept in {directory}" if last_saved else \
        "no checkpoint had been written yet"
    raise FloatingPointError(f"training loss became {loss} at step {step}; stopping; {kept}. "
                             "Lower optim.lr or check the data.")


def restore_state(problem: TrainProblem, config, workdir: str, mesh=None, which: str = "latest") -> tuple[dict, int]:
  """Loads the newest checkpoint of workdir ("latest") or the best one by train.select_metric ("best")
  for evaluation; errors clearly if there is none."""
  if which not in ("latest", "best"):
    raise ValueError(f"which={which!r} is invalid; expected 'latest' or 'best'")
  mesh = mesh or parallel.make_mesh(config.get("mesh", [("data", -1)]))
  tx = state_lib.make_optimizer(config.optim, int(config.train.steps))
  abstract = jax.eval_shape(_init_fn(problem, tx), jax.random.PRNGKey(0))
  repl = parallel.replicated(mesh)
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl), abstract)
  folder = "checkpoints" if which == "latest" else "best"
  if not os.path.isdir(os.path.join(workdir, folder)):
    raise FileNotFoundError(f"no checkpoint in {workdir}/{folder}; train first (--mode=train)")
  state, step = checkpoint.restore_latest(checkpoint.make_manager(workdir, folder=folder), abstract)
  if state is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/{folder}; train first (--mode=train)")
  return state, step


def fit_in_memory(problem: TrainProblem, config, steps: int, *, snapshot_every: int = 0,
                  snapshot_fn: Callable | None = None, seed: int | None = None, desc: str = "fit",
                  cache: dict | None = None):
  """Short fits kept in memory (no checkpoints): the per-image oracle and zero-shot protocols.

  Uses the same train step as `fit`. snapshot_fn(state, step) -> value is called every
  snapshot_every steps (and at step 0 and the end); returns (state, [(step, value), ...], metrics).
  cache: a dict shared by consecutive fits with the same model, loss_fn, config and steps; the
  optimizer, compiled init (per input shape) and jitted step are built once and reused from it.
  """
  cache = {} if cache is None else cache
  if "tx" not in cache:
    cache["tx"] = state_lib.make_optimizer(config.optim, steps)
    cache["step_fn"] = jax.jit(make_train_step(problem.loss_fn, cache["tx"]), donate_argnums=(0,))
  tx, step_fn = cache["tx"], cache["step_fn"]
  rng = jax.random.PRNGKey(int(config.seed if seed is None else seed))
  init_rng, step_rng = jax.random.split(rng)
  init_key = ("init", tuple(np.shape(problem.example_input)))
  if init_key not in cache:
    cache[init_key] = compile_init(_init_fn(problem, tx), init_rng)
  state = cache[init_key](init_rng)
  snapshots, metrics = [], {}
  if snapshot_fn is not None:
    snapshots.append((0, snapshot_fn(state, 0)))
  for step in progress_bar(range(steps), desc=desc, unit="step", leave=False,
                           disable=not bool(config.train.get("progress", True))):
    state, metrics = step_fn(state, problem.batch_fn(step), step_rng)
    done = step + 1
    if snapshot_fn is not None and ((snapshot_every and done % snapshot_every == 0) or done == steps):
      snapshots.append((done, snapshot_fn(state, done)))
  metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
  if metrics and not np.isfinite(metrics["loss"]):
    raise FloatingPointError(f"loss became {metrics['loss']} in a per-image fit; lower optim.lr")
  return state, snapshots, metrics


def seconds_per_step(problem: TrainProblem, config, n: int = 5, clock: Callable[[], float] = time.perf_counter) -> float:
  """Seconds of one jitted train step by `clock` (compilation excluded), on the configured mesh.

  clock: time.perf_counter (wall seconds, the default) or time.process_time (CPU seconds of this
  process, every thread). Used to turn a time budget into a step count, so schedules (cosine) still
  complete.
  """
  mesh = parallel.make_mesh(config.get("mesh", [("data", -1)]))
  tx = state_lib.make_optimizer(config.optim, 1000)
  state = init_on_mesh(_init_fn(problem, tx), jax.random.PRNGKey(0))
  step_fn = jax.jit(make_train_step(problem.loss_fn, tx), donate_argnums=(0,))
  rng = jax.random.PRNGKey(1)
  # two warm-up calls: the second sees the first's output shardings and recompiles (a DnCNN-17 step
  # on one core: 4.5 CPU s for each of the two calls, then 1.8 s per step)
  for s in (0, 1):
    state, m = step_fn(state, parallel.shard_batch(problem.batch_fn(s), mesh), rng)
    jax.block_until_ready(m)
  t0 = clock()
  for s in range(2, n + 2):
    state, m = step_fn(state, parallel.shard_batch(problem.batch_fn(s), mesh), rng)
  jax.block_until_ready(m)
  return (clock() - t0) / n
