"""Orbax checkpointing of the plain-pytree train state, with automatic resume."""

from __future__ import annotations

import contextlib
import os

import jax
import orbax.checkpoint as ocp
from absl import logging


@contextlib.contextmanager
def quiet_orbax():
  """Silences orbax's own absl log lines (it logs a corrupt file as an ERROR and carries on); the
  caller raises one clear error instead."""
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.FATAL)
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


def make_manager(workdir: str, max_to_keep: int = 3, folder: str = "checkpoints") -> ocp.CheckpointManager:
  """A CheckpointManager writing to workdir/<folder> (created if missing)."""
  directory = os.path.abspath(os.path.join(workdir, folder))
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  with quiet_orbax():
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
  different architecture, or a truncated or corrupt one, raises ValueError (one line) instead of an
  orbax traceback.
  """
  step = manager.latest_step()
  if step is None:
    return None, None
  try:
    with quiet_orbax():
      state = manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
  except Exception as e:  # noqa: BLE001 (orbax / tensorstore raise many types for a bad checkpoint)
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise ValueError(f"checkpoint at step {step} in {manager.directory} could not be read as this model/config's "
                     f"state ({first}): it is truncated or corrupt, or another model wrote it; use a fresh --workdir "
                     "or --config.resume=fresh") from None
  _check_shapes(abstract_state, state, step, manager.directory)
  return state, step


def _check_shapes(abstract_state, state, step, directory) -> None:
  expected = jax.tree.map(lambda a: tuple(a.shape), abstract_state)
  got = jax.tree.map(lambda a: tuple(a.shape), state)
  if expected != got:
    raise ValueError(f"checkpoint at step {step} in {directory} has parameter shapes that differ from "
                     "this model/config; use a fresh --workdir or the config that wrote it")
