"""Markdown reports of explanation quality (faithfulness, localisation, sanity) with verdicts.

`judged_rows` scores heatmaps that are already computed (per image: deletion and insertion AUC,
energy in a mask, rho after randomization), adds the random-map baseline row and the pass/fail
columns of vision_jax.explain.verdict; `explanation_report` computes the maps and the cascade too.
Numbers are means over the images with their sample sd in the `<column>_sd` field; the markdown
shows them as "mean ± sd".
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from vision_jax.explain import _core, verdict as verdict_lib
from vision_jax.explain.checks import deletion_insertion_auc, energy_in_mask, randomization_sanity

__all__ = ["markdown_table", "explanation_report", "judged_rows", "display_rows", "RANDOM_ROW"]

RANDOM_ROW = "random (baseline)"


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


def display_rows(rows: Sequence[dict], floatfmt: str = ".3f") -> list[dict]:
  """Rows for display: each `<c>` with a `<c>_sd` becomes the string "mean ± sd" (the _sd key dropped)."""
  out = []
  for r in rows:
    d = {}
    for k, v in r.items():
      if k.endswith("_sd") and k[:-3] in r:
        continue
      sd = r.get(k + "_sd")
      if sd is not None and isinstance(v, (float, np.floating)):
        d[k] = f"{_fmt(v, floatfmt)} ± {_fmt(sd, floatfmt)}"
      else:
        d[k] = v
    out.append(d)
  return out


def _put(row: dict, name: str, values) -> None:
  row[name], row[name + "_sd"] = verdict_lib.mean_sd(values)


def judged_rows(model_fn, x, maps: dict, target, steps: int = 16, *, mask=None, rho_all: dict | None = None,
                random_maps=None, seed: int = 0, rho_threshold: float = verdict_lib.RHO_THRESHOLD,
                min_margin: float = verdict_lib.MIN_MARGIN, deletion_baseline: float | str = 0.0,
                batch_size: int | None = None) -> tuple[list[dict], dict]:
  """Scores (N, H, W) heatmaps {method: maps} and judges them against a random-map baseline.

  model_fn: `x -> logits` (or (logits, aux)); target: (N,) class ids the maps explain;
  mask: optional (N, H, W) ground truth (energy_in_mask columns plus the mask's area fraction,
  which a uniform map scores); rho_all: optional {method: (N,) Spearman rho after every layer is
  randomized}; random_maps: (N, H, W) baseline maps (default uniform noise from `seed`);
  deletion_baseline: what deleted pixels become (see checks.deletion_insertion_auc).
  Returns (rows, per_image): rows are dicts with mean and `_sd` columns, the verdict columns of
  `verdict.judge` (the random row reads "reference"), in `maps` order then the random row;
  per_image {method: {"deletion", "insertion", ...: (N,) arrays}}.
  """
  x = _core.check_images(x, "judged_rows")
  n = x.shape[0]
  if random_maps is None:
    random_maps = np.random.default_rng(seed).random(x.shape[:3])
  rho_all = rho_all or {}
  per_image = {}
  for name, heat in [*maps.items(), (RANDOM_ROW, random_maps)]:
    curves = deletion_insertion_auc(model_fn, x, heat, target, steps, baseline=deletion_baseline,
                                    batch_size=batch_size)
    per_image[name] = {"deletion": curves["deletion"], "insertion": curves["insertion"],
                       "deletion_range": np.abs(curves["deletion_curve"][:, -1] - curves["deletion_curve"][:, 0]),
                       "insertion_range": np.abs(curves["insertion_curve"][:, -1] - curves["insertion_curve"][:, 0])}
    if mask is not None:
      per_image[name]["energy_in_mask"] = energy_in_mask(np.asarray(heat), mask)
    if name in rho_all:
      per_image[name]["rho_all_randomized"] = np.asarray(rho_all[name], np.float64).reshape(n)
  base = per_image[RANDOM_ROW]
  spans = {k: base[k] for k in ("deletion_range", "insertion_range")}  # per image; the same for every map
  area = None if mask is None else float(np.asarray(mask, np.float64).mean())
  rows = []
  for name, vals in per_image.items():
    row = {"method": name}
    _put(row, "deletion_auc", vals["deletion"])
    _put(row, "insertion_auc", vals["insertion"])
    _put(row, "insertion_minus_deletion", vals["insertion"] - vals["deletion"])
    if mask is not None:
      _put(row, "energy_in_mask", vals["energy_in_mask"])
      row["mask_area_fraction"] = area
    if "rho_all_randomized" in vals:
      _put(row, "rho_all_randomized", vals["rho_all_randomized"])
    if name == RANDOM_ROW:
      row.update({c: "reference" for c in verdict_lib.VERDICT_COLUMNS})
      for k, v in spans.items():
        _put(row, k, v)
        row[k.replace("_range", "_informative_images")] = int(np.sum(v >= verdict_lib.MIN_RANGE))
    else:
      v = verdict_lib.judge(vals["deletion"], vals["insertion"], base["deletion"], base["insertion"],
                            vals.get("rho_all_randomized"), rho_threshold, min_margin, **spans)
      row.update({k: v[k] for k in verdict_lib.VERDICT_COLUMNS})
      row.update({k: v[k] for k in v if "_margin" in k or k.endswith("_images")})
      row["failed"] = v["failed"]
    rows.append(row)
  return rows, per_image


def verdict_notes(rho_threshold: float = verdict_lib.RHO_THRESHOLD, randomized: bool = True,
                  min_margin: float = verdict_lib.MIN_MARGIN) -> list[str]:
  """Markdown bullet lines that state the pass/fail rules."""
  lines = ["- deletion_vs_random / insertion_vs_random: per image, the margin over the random-map row "
           "(random - method for deletion AUC, method - random for insertion AUC); pass when the one-sided 95% "
           f"lower bound of its mean (paired t over the images) exceeds {min_margin:g}, i.e. the margin beats its "
           "spread over the images and is not practically nil. Cells: mean ± sd of the margin, [lower bound]."]
  if randomized:
    lines.append(f"- randomization: pass when the mean Spearman rho between the map and the map after every "
                 f"layer is re-initialised is below {rho_threshold:g} (Adebayo et al. 2018; near 1 means the map "
                 "does not depend on the learned weights).")
  lines.append(f"- an image whose curve moves the target probability by less than {verdict_lib.MIN_RANGE:g} between "
               "its ends cannot tell maps apart and is left out of that check (e.g. insertion when the blurred "
               f"image is already recognised); n/a: fewer than {verdict_lib.MIN_IMAGES} informative images.")
  lines.append("- a faithfulness check fails when the upper 95% bound of the margin is below that value (the map does "
               "not beat random maps), and is inconclusive in between.")
  lines.append("- verdict: fail when a check fails (or no faithfulness check is informative), pass when besides one "
               "faithfulness check passes, else inconclusive. Values are mean ± sd over the images.")
  return lines


def trust_line(rows: Sequence[dict], model: str, randomized: bool = True) -> str:
  """verdict.trust_summary of the judged rows (the random row left out)."""
  verdicts = {r["method"]: r for r in rows if r["method"] != RANDOM_ROW}
  checked = ("randomization", "deletion", "insertion") if randomized else ("deletion", "insertion")
  return verdict_lib.trust_summary(verdicts, model, checked)


def explanation_report(model, variables, x, target=None, methods: Sequence[str] = ("grad_cam", "saliency"),
                       *, mask=None, steps: int = 16, randomize: bool = False, layer_order=None,
                       key=None, title: str | None = "Explanation quality", method_kwargs: dict | None = None,
                       rho_threshold: float = verdict_lib.RHO_THRESHOLD, seed: int = 0,
                       deletion_baseline: float | str = 0.0):
  """Evaluates METHODS on a batch and returns (markdown, rows) with verdicts.

  Columns per method (mean and sd over the images): deletion and insertion AUC of the
  target-class probability (`steps` steps; lower / higher is better), their gap, energy_in_mask
  when a ground-truth `mask` (N, H, W) is given, and with randomize=True the Spearman rho between
  the original map and the map with all layers randomized (cascading, top layer first in the
  model's definition order unless `layer_order` is given); then the pass/fail columns of
  vision_jax.explain.verdict against a random-map row (uniform noise from `seed`), which the
  table includes. method_kwargs: {method name: options} passed to that method.
  """
  from vision_jax.explain import METHODS

  x = _core.check_images(x, "explanation_report")
  target = _core.resolve_target(model, variables, x, target)
  fn = _core.as_apply_fn(model)
  base = _core.strip_perturbations(variables)
  model_fn = jax.jit(lambda xx: fn(base, xx)[0])
  method_kwargs = method_kwargs or {}
  maps, rho_all, order = {}, {}, None
  for name in methods:
    if name not in METHODS:
      raise ValueError(f"unknown method {name!r}; valid: {', '.join(sorted(METHODS))}")
    kw = method_kwargs.get(name, {})
    maps[name] = np.asarray(METHODS[name](model, variables, x, target, **kw))
    if randomize:
      cascade = randomization_sanity(model, variables, x, target, name, layer_order, key=key, per_image=True, **kw)
      rho_all[name] = cascade[-1][1]
      order = [layer for layer, _ in cascade[1:]]
  rows, _ = judged_rows(model_fn, x, maps, target, steps, mask=mask, rho_all=rho_all, seed=seed,
                        rho_threshold=rho_threshold, deletion_baseline=deletion_baseline)
  name = _core.model_name(model)
  columns = [c for c in dict.fromkeys(k for r in display_rows(rows) for k in r)
             if c != "failed" and not c.endswith(("_margin_low", "_images"))]
  text = markdown_table(display_rows(rows), columns)
  notes = verdict_notes(rho_threshold, randomize)
  if order:
    notes.append(f"- randomization order (top layer first): {' -> '.join(order)}.")
  text += "\n" + "\n".join(notes) + "\n\n" + trust_line(rows, name, randomize) + "\n"
  if title:
    text = f"## {title}\n\n{x.shape[0]} images, model {name}.\n\n" + text
  return text, rows
