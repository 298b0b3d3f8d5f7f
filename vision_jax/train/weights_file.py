"""The exported-weights file: a model's flat parameters and a JSON record in one .npz.

Each parameter is `param/<name>` (float32); `meta` is a JSON string (a 0-d unicode array), so
np.load(..., allow_pickle=False) reads the whole file. `meta["format"]` must equal FORMAT.
Written by tasks/denoise/export.py (--mode=export), read by vision_jax.denoise.
"""

from __future__ import annotations

import json
import os

import numpy as np

FORMAT = 1


def flat_params(params: dict) -> dict:
  """{name: float32 array} of a model's parameters (TNRD-family parameters are one level deep)."""
  out = {}
  for name, value in params.items():
    if isinstance(value, dict):
      raise ValueError(f"parameter group {name!r} is nested; export handles flat parameter dicts (TNRD family)")
    out[name] = np.asarray(value, np.float32)
  return out


def write_npz(path: str, params: dict, meta: dict) -> str:
  """Writes params (as param/<name>) and meta (JSON) atomically; returns path."""
  arrays = {f"param/{k}": v for k, v in flat_params(params).items()}
  arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
  tmp = path + ".tmp.npz"
  np.savez(tmp, **arrays)
  os.replace(tmp, path)
  return path


def read_npz(path: str) -> tuple[dict, dict]:
  """(params, meta) of an exported file, read with allow_pickle=False."""
  with np.load(path, allow_pickle=False) as f:
    params = {k[len("param/"):]: np.asarray(f[k]) for k in f.files if k.startswith("param/")}
    meta = json.loads(str(f["meta"]))
  if meta.get("format") != FORMAT:
    raise ValueError(f"{path} has weights format {meta.get('format')!r}; expected {FORMAT}")
  return params, meta
