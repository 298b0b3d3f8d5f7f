"""Orbax checkpointing of the plain-pytree train state, with automatic resume."""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


def make_manager(workdir: str, max_to_keep: int = 3) -> ocp.CheckpointManager:
  """A CheckpointManager writing to workdir/checkpoints (created if missing)."""
  directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(directory, options=options)


def save(manager: ocp.CheckpointManager, step: int, state, wait: bool = False) -> None:
  """Saves state at `step` (asynchronously unless wait=True)."""
  manager.save(int(step), args=ocp.args.StandardSave(state))
  if wait:
    manager.wait_until_finished()


def restore_latest(manager: ocp.CheckpointManager, abstract_state):
  """Restores the newest checkpoint into the structure/shardings of `abstract_state`.

  abstract_state: a pytree of jax.ShapeDtypeStruct (from jax.eval_shape, with .sharding set).
  Returns (state, step) or (None, None) when there is no checkpoint. A checkpoint written by a
  different architecture raises ValueError naming the mismatch instead of an orbax traceback.
  """
  step = manager.latest_step()
  if step is None:
    return None, None
  try:
    state = manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
  except (ValueError, KeyError, TypeError) as e:
    first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
    raise ValueError(f"checkpoint at step {step} in {manager.directory} does not match this model/config "
                     f"({first}); use a fresh --workdir or the config that wrote it") from None
  _check_shapes(abstract_state, state, step, manager.directory)
  return state, step


def _check_shapes(abstract_state, state, step, directory) -> None:
  expected = jax.tree.map(lambda a: tuple(a.shape), abstract_state)
  got = jax.tree.map(lambda a: tuple(a.shape), state)
  if expected != got:
    raise ValueError(f"checkpoint at step {step} in {directory} has parameter shapes that differ from "
                     "this model/config; use a fresh --workdir or the config that wrote it")
