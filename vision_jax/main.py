"""Entry point: python -m vision_jax.main --config=configs/<name>/default.py[:args] --workdir=DIR [--mode=...].

The config names what runs it: `config.project` (a module of vision_jax.projects) or else
`config.task` (a package of vision_jax.tasks); that module's MODES table maps each mode (train, eval,
report, explain, ...) to a function(config, workdir). Before dispatching, the workdir is checked
against the config that made it (vision_jax.train.workdir). Errors caused by bad input print one
line and exit with status 1.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to a config file, e.g. configs/pinn_denoise/default.py:small.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
flags.DEFINE_string("mode", "train", "One of the config's MODES: train (then evaluate and report), eval (on a "
                    "checkpoint), report (re-render results), explain, ...")

USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, ImportError, KeyError)


def runner(config):
  """The project or task module that runs `config` (it has a MODES table)."""
  project, task = config.get("project"), config.get("task")
  name = f"vision_jax.projects.{project}" if project else f"vision_jax.tasks.{task}"
  try:
    module = importlib.import_module(name)
  except ModuleNotFoundError as e:
    if e.name and name.startswith(e.name):
      raise ValueError(f"config names {'project' if project else 'task'} {project or task!r}, but {name} does not "
                       "exist; expected a folder of vision_jax/projects or vision_jax/tasks") from None
    raise
  if not hasattr(module, "MODES"):
    raise ValueError(f"{name} has no MODES table")
  return module


def run(config, workdir: str, mode: str):
  """Checks the workdir against the config, then runs MODES[mode](config, workdir)."""
  from vision_jax.train import workdir as workdir_lib
  module = runner(config)
  if mode not in module.MODES:
    raise ValueError(f"unknown mode {mode!r} for {module.__name__}; valid: {', '.join(module.MODES)}")
  if not workdir:
    raise ValueError("--workdir is empty; expected a directory for checkpoints and results")
  if getattr(module, "WORKDIR_POLICY", "config") == "config":
    workdir_lib.check(config, workdir, mode)
  return module.MODES[mode](config, workdir)


# ----------------------------------------------------------------------------- command line
def _config_argument(argv) -> str | None:
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg.split("=", 1)[1]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _config_root(config_arg: str | None) -> str | None:
  """The folder above the config file's package (the repository root for configs/<name>/x.py)."""
  if not config_arg:
    return None
  folder = os.path.dirname(os.path.abspath(config_arg.split(":", 1)[0]))
  while os.path.exists(os.path.join(folder, "__init__.py")):
    folder = os.path.dirname(folder)
  return folder


def _valid_keys(config_arg: str) -> list[str]:
  """Dotted keys of the config file named on the command line (empty if it cannot be loaded)."""
  from vision_jax.train.workdir import flatten
  path, _, arg = config_arg.partition(":")
  root = _config_root(config_arg)
  rel = os.path.relpath(os.path.abspath(path), root)
  try:
    module = importlib.import_module(rel[:-3].replace(os.sep, "."))
    config = module.get_config(arg or None)
  except Exception:  # noqa: BLE001 (only used to suggest a key)
    return []
  keys = set(flatten(config))
  for key in list(keys):
    parts = key.split(".")
    keys.update(".".join(parts[:i]) for i in range(1, len(parts)))
  return sorted(keys)


def _last_exception_line(text: str) -> str:
  """'ValueError: msg' -> 'msg' for the last exception line of a formatted traceback (else the first line)."""
  lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
  for line in reversed(lines):
    name, sep, msg = line.partition(": ")
    if sep and name.split(".")[-1].endswith(("Error", "Exception")) and " " not in name:
      return msg
  return lines[0] if lines else ""


def _override_error(argv, error: Exception) -> str:
  """A one-line description of a bad --config.* override or config argument."""
  text = _last_exception_line(str(error)) if "Traceback" in str(error) else (str(error).strip().splitlines() or [""])[0]
  text = text.replace("FATAL Flags parsing error: ", "") or type(error).__name__
  bad = [a.split("=", 1)[0][len("--config."):] for a in argv if a.startswith("--config.")]
  config_arg = _config_argument(argv)
  if isinstance(error, (AttributeError, KeyError)) and bad and config_arg:
    keys = _valid_keys(config_arg)
    unknown = [k for k in bad if k not in keys]
    if unknown and keys:
      close = difflib.get_close_matches(unknown[0], keys, n=1, cutoff=0.5)
      hint = f"; did you mean {close[0]!r}?" if close else f"; valid top-level fields: {', '.join(k for k in keys if '.' not in k)}"
      return f"unknown config field {unknown[0]!r}{hint}"
  return text


def parse_flags(argv):
  """absl flag parsing with one-line errors (exit status 1) for bad configs and overrides."""
  config_arg = _config_argument(argv)
  if config_arg and not os.path.isfile(config_arg.split(":", 1)[0]):
    print(f"error: config file {config_arg.split(':', 1)[0]!r} does not exist; expected e.g. "
          "configs/pinn_denoise/default.py[:args]", file=sys.stderr)
    sys.exit(1)
  root = _config_root(config_arg)
  if root and root not in sys.path:
    sys.path.insert(0, root)  # so configs can import each other (`from configs.denoise import default`)
  try:
    return FLAGS(argv)
  except Exception as e:  # noqa: BLE001 (flag parsing: report in one line, never a traceback)
    cause = e.__cause__ if isinstance(e, flags.Error) and e.__cause__ is not None else e
    print(f"error: {_override_error(argv, cause)}", file=sys.stderr)
    sys.exit(1)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  for name in ("config", "workdir"):
    if FLAGS[name].value is None:
      print(f"error: --{name} is required", file=sys.stderr)
      sys.exit(1)
  cache = os.environ.get("VISION_JAX_XLA_CACHE", os.path.expanduser("~/.cache/vision_jax/xla"))
  if cache:  # reruns and per-image fits reuse compiled programs; VISION_JAX_XLA_CACHE="" turns it off
    import jax
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  try:
    from vision_jax.train import parallel
    parallel.maybe_initialize_distributed(bool(FLAGS.config.get("distributed", False)))
    run(FLAGS.config, FLAGS.workdir, FLAGS.mode)
  except USER_ERRORS as e:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
