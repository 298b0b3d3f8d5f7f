"""Metric writers: JSON lines in the workdir by default, TensorBoard (tensorboardX) optionally."""

from __future__ import annotations

import json
import os

import numpy as np


def _to_python(value):
  arr = np.asarray(value)
  return arr.item() if arr.ndim == 0 else arr.tolist()


class JsonlWriter:
  """Appends {"step": s, **scalars} lines to workdir/metrics.jsonl (only on process 0)."""

  def __init__(self, workdir: str, filename: str = "metrics.jsonl", enabled: bool = True):
    self.path = os.path.join(workdir, filename)
    self.enabled = enabled
    if enabled:
      os.makedirs(workdir, exist_ok=True)

  def write(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    row = {"step": int(step), **{k: _to_python(v) for k, v in scalars.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")

  def close(self) -> None:
    pass


class TensorBoardWriter:
  """Scalars to TensorBoard event files (needs the `tensorboard` extra: tensorboardX)."""

  def __init__(self, workdir: str):
    try:
      from tensorboardX import SummaryWriter
    except ImportError as e:
      raise ImportError("TensorBoard logging needs tensorboardX: pip install -e '.[tensorboard]'") from e
    self._w = SummaryWriter(os.path.join(workdir, "tb"))

  def write(self, step: int, scalars: dict) -> None:
    for k, v in scalars.items():
      self._w.add_scalar(k, float(np.asarray(v)), int(step))

  def close(self) -> None:
    self._w.close()


class MultiWriter:
  """Fans out to several writers."""

  def __init__(self, writers):
    self.writers = list(writers)

  def write(self, step: int, scalars: dict) -> None:
    for w in self.writers:
      w.write(step, scalars)

  def close(self) -> None:
    for w in self.writers:
      w.close()


def make_writer(workdir: str, tensorboard: bool = False, is_main_process: bool = True) -> MultiWriter:
  writers = [JsonlWriter(workdir, enabled=is_main_process)]
  if tensorboard and is_main_process:
    writers.append(TensorBoardWriter(workdir))
  return MultiWriter(writers)


def read_jsonl(path: str) -> list[dict]:
  """All rows of a metrics.jsonl file (empty list if it does not exist)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
