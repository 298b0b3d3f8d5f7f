"""Workdirs that are only reused by the config that made them.

The first run in a workdir records `config.json`: the resolved config (every field, flattened to
dotted keys) and its fingerprint, a SHA-256 of the fields that change results. A later run whose
fields differ stops with one line naming the differing keys, before anything in the workdir is
touched; `--config.resume=fresh` wipes the workdir and starts again (train mode only).

Fields left out of the fingerprint:
- display-only fields (DISPLAY_FIELDS: progress bars, logging and checkpoint cadence, TensorBoard,
  the device mesh and the multi-process switch: results do not depend on them beyond float
  reduction order, so a run may resume on another number of devices);
- in eval / report / explain modes, the evaluation fields (EVAL_PREFIXES: `eval.*`, `explain.*`):
  those modes read a trained state and write their own files (eval_results.*, explain/), each of
  which records the config that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import jax

CONFIG_FILE = "config.json"
DISPLAY_FIELDS = ("train.progress", "train.log_every", "train.checkpoint_every", "train.eval_every",
                  "train.keep_checkpoints", "tensorboard", "resume", "mesh", "distributed")
EVAL_PREFIXES = ("eval.", "explain.")
RESUME_CHOICES = ("auto", "fresh")


def _jsonable(value):
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  return str(value)


def flatten(config, prefix: str = "") -> dict:
  """{dotted key: JSON value} of every leaf of an ml_collections config (or nested dict)."""
  items = config.items() if hasattr(config, "items") else []
  out = {}
  for key, value in items:
    name = f"{prefix}{key}"
    if hasattr(value, "items"):
      sub = flatten(value, name + ".")
      out.update(sub if sub else {name: {}})
    else:
      out[name] = _jsonable(value)
  return out


def _skipped(key: str, ignore) -> bool:
  return any(key == p or (p.endswith(".") and key.startswith(p)) for p in ignore)


def result_fields(config, ignore=()) -> dict:
  """The flattened fields that enter the fingerprint (display-only fields and `ignore` removed)."""
  skip = tuple(DISPLAY_FIELDS) + tuple(ignore)
  return {k: v for k, v in flatten(config).items() if not _skipped(k, skip)}


def fingerprint(config, ignore=()) -> str:
  """SHA-256 (hex) of the result-changing fields of a config: equal configs, equal fingerprints."""
  text = json.dumps(result_fields(config, ignore), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()


def differing_keys(recorded: dict, current: dict, ignore=()) -> list[str]:
  """Sorted dotted keys whose values differ (or exist in only one), display fields and `ignore` aside."""
  skip = tuple(DISPLAY_FIELDS) + tuple(ignore)
  keys = (set(recorded) | set(current))
  return sorted(k for k in keys if not _skipped(k, skip) and recorded.get(k, "<absent>") != current.get(k, "<absent>"))


def read_record(workdir: str) -> dict | None:
  """The parsed config.json of a workdir, or None if it has none; ValueError if it is unreadable."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      record = json.load(f)
    record["config"], record["fingerprint"]  # noqa: B018 (both keys must exist)
  except (OSError, ValueError, KeyError, TypeError):
    raise ValueError(f"{path} is unreadable or not a vision_jax config record; use a new --workdir") from None
  return record


def _resume(config) -> str:
  value = str(config.get("resume", "auto"))
  if value not in RESUME_CHOICES:
    raise ValueError(f"resume={value!r} is invalid; expected one of {', '.join(RESUME_CHOICES)}")
  return value


def _describe(keys: list[str], recorded: dict, current: dict) -> str:
  shown = ", ".join(f"{k} ({recorded.get(k, '<absent>')!r} -> {current.get(k, '<absent>')!r})" for k in keys[:4])
  return shown + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


def check(config, workdir: str, mode: str = "train", ignore=()) -> None:
  """Refuses, before anything is written, a workdir that another config made (read-only).

  train: an absent or empty workdir is new; a workdir with files but no config.json is refused
  (unknown origin); a recorded config must match in every result-changing field, unless
  resume=fresh (then `prepare` wipes it). Other modes need a recorded run, and may change the
  evaluation fields (EVAL_PREFIXES).
  """
  resume = _resume(config)
  if resume == "fresh" and mode != "train":
    raise ValueError(f"resume='fresh' wipes the workdir and only applies to --mode=train, not --mode={mode}")
  record = read_record(workdir) if os.path.isdir(workdir) else None
  if mode != "train":
    if record is None:
      raise FileNotFoundError(f"workdir {workdir!r} holds no trained run ({CONFIG_FILE} missing); "
                              "run --mode=train first or pass the workdir it wrote")
  elif resume == "fresh" or not os.path.isdir(workdir) or not os.listdir(workdir):
    return
  elif record is None:
    raise ValueError(f"workdir {workdir!r} holds files but no {CONFIG_FILE}, so the config that made them is "
                     "unknown; use a new --workdir (or delete it)")
  current = flatten(config)
  keys = differing_keys(record["config"], current, tuple(ignore) + (EVAL_PREFIXES if mode != "train" else ()))
  if keys:
    raise ValueError(f"workdir {workdir!r} was made by another config: {_describe(keys, record['config'], current)}; "
                     "use a new --workdir, or --config.resume=fresh to wipe it")


def _wipe(workdir: str) -> None:
  """Deletes a workdir that a vision_jax run wrote (config.json or checkpoints/ in it); refuses others."""
  if not os.path.isdir(workdir) or not os.listdir(workdir):
    return
  if not any(os.path.exists(os.path.join(workdir, f)) for f in (CONFIG_FILE, "checkpoints")):
    raise ValueError(f"resume='fresh' refuses to delete {workdir!r}: it does not look like a vision_jax workdir "
                     f"(no {CONFIG_FILE} or checkpoints/)")
  shutil.rmtree(workdir)


def prepare(config, workdir: str, ignore=()) -> str:
  """Creates (or, with resume=fresh, re-creates) a workdir for training and records its config.

  Call after the config and data have been validated, so bad input never leaves a workdir behind.
  Checks the workdir as `check(config, workdir, "train")` does. Returns the fingerprint.
  """
  check(config, workdir, "train", ignore)
  if _resume(config) == "fresh":
    _wipe(workdir)
  os.makedirs(workdir, exist_ok=True)
  fp = fingerprint(config, ignore)
  if read_record(workdir) is None and jax.process_index() == 0:
    tmp = os.path.join(workdir, CONFIG_FILE + ".tmp")
    with open(tmp, "w") as f:
      json.dump({"fingerprint": fp, "ignored": sorted(set(DISPLAY_FIELDS) | set(ignore)),
                 "config": flatten(config)}, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, CONFIG_FILE))
  return fp
