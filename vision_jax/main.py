"""Entry point: python -m vision_jax.main --config=configs/<task>.py[:args] --workdir=DIR [--mode=...].

The config's `task` field names a module in vision_jax.tasks; the mode names a function of it
(train, eval, report, explain). Errors caused by bad input print one line and exit with status 1.
"""

from __future__ import annotations

import importlib
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to a config file, e.g. configs/pinn_denoise.py:small.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
flags.DEFINE_enum("mode", "train", ["train", "eval", "report", "explain"],
                  "train (then evaluate and report), eval (on a checkpoint), report, explain.")
flags.mark_flags_as_required(["config", "workdir"])

USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, ImportError, KeyError)


def run(config, workdir: str, mode: str):
  """Dispatches to vision_jax.tasks.<config.task>.<mode>(config, workdir)."""
  try:
    task = importlib.import_module(f"vision_jax.tasks.{config.task}")
  except ModuleNotFoundError:
    raise ValueError(f"unknown task {config.task!r} in config; expected a module of vision_jax/tasks") from None
  fn = getattr(task, mode, None)
  if fn is None:
    raise ValueError(f"task {config.task!r} has no mode {mode!r}")
  return fn(config, workdir)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  cache = os.environ.get("VISION_JAX_XLA_CACHE", os.path.expanduser("~/.cache/vision_jax/xla"))
  if cache:  # reruns and per-image fits reuse compiled programs; VISION_JAX_XLA_CACHE="" turns it off
    import jax
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  from vision_jax.train import parallel
  parallel.maybe_initialize_distributed(bool(FLAGS.config.get("distributed", False)))
  try:
    run(FLAGS.config, FLAGS.workdir, FLAGS.mode)
  except USER_ERRORS as e:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
