"""Markdown reports of explanation quality (faithfulness, localisation, sanity)."""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from vision_jax.explain import _core
from vision_jax.explain.checks import deletion_insertion_auc, energy_in_mask, randomization_sanity

__all__ = ["markdown_table", "explanation_report"]


def _fmt(value, floatfmt):
  if value is None:
    return "-"
  if isinstance(value, (float, np.floating)):
    return "nan" if np.isnan(value) else format(float(value), floatfmt)
  return str(value)


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None, floatfmt: str = ".3f") -> str:
  """A GitHub markdown table of `rows` (dicts); columns default to the keys in first-seen order;
  missing entries print as "-"."""
  rows = list(rows)
  if columns is None:
    columns = []
    for r in rows:
      columns += [k for k in r if k not in columns]
  lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
  for r in rows:
    lines.append("| " + " | ".join(_fmt(r.get(c), floatfmt) for c in columns) + " |")
  return "\n".join(lines) + "\n"


def explanation_report(model, variables, x, target=None, methods: Sequence[str] = ("grad_cam", "saliency"),
                       *, mask=None, steps: int = 16, randomize: bool = False, layer_order=None,
                       key=None, title: str | None = "Explanation quality", method_kwargs: dict | None = None):
  """Evaluates METHODS on a batch and returns (markdown, rows).

  Columns per method (batch means): deletion and insertion AUC of the target-class
  probability (`steps` steps; lower / higher is better), their gap, energy_in_mask when a
  ground-truth `mask` (N, H, W) is given, and with randomize=True the Spearman rho between the
  original map and the map with all layers randomized (near 0 passes the sanity check).
  method_kwargs: {method name: options} passed to that method.
  """
  from vision_jax.explain import METHODS

  x = _core.check_images(x, "explanation_report")
  target = _core.resolve_target(model, variables, x, target)
  fn = _core.as_apply_fn(model)
  base = _core.strip_perturbations(variables)
  model_fn = jax.jit(lambda xx: fn(base, xx)[0])
  method_kwargs = method_kwargs or {}
  rows = []
  for name in methods:
    if name not in METHODS:
      raise ValueError(f"unknown method {name!r}; valid: {', '.join(sorted(METHODS))}")
    kw = method_kwargs.get(name, {})
    heat = METHODS[name](model, variables, x, target, **kw)
    curves = deletion_insertion_auc(model_fn, x, heat, target, steps)
    row = {"method": name, "deletion_auc": float(curves["deletion"].mean()),
           "insertion_auc": float(curves["insertion"].mean())}
    row["insertion_minus_deletion"] = row["insertion_auc"] - row["deletion_auc"]
    if mask is not None:
      row["energy_in_mask"] = float(energy_in_mask(heat, mask).mean())
    if randomize:
      sanity = randomization_sanity(model, variables, x, target, name, layer_order, key=key, **kw)
      row["rho_all_randomized"] = sanity[-1][1]
    rows.append(row)
  text = markdown_table(rows)
  if title:
    text = f"## {title}\n\n{x.shape[0]} images, model {_core.model_name(model)}.\n\n" + text
  return text, rows
