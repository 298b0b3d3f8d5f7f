"""Result files every task writes: markdown table, JSON, CSV and PNG figures in the workdir."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np


def format_value(v, digits: int = 2) -> str:
  if isinstance(v, (float, np.floating)):
    return "inf" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:.{digits}f}")
  return str(v)


def markdown_table(header: list[str], rows: list[list], digits: int = 2) -> str:
  """A GitHub markdown table; floats formatted with `digits` decimals."""
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
  for row in rows:
    lines.append("| " + " | ".join(format_value(v, digits) for v in row) + " |")
  return "\n".join(lines)


def write_csv(path: str, header: list[str], rows: list[list]) -> None:
  with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)


def _jsonable(obj):
  if isinstance(obj, dict):
    return {str(k): _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  if isinstance(obj, (np.floating, np.integer)):
    return obj.item()
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  if isinstance(obj, float) and not math.isfinite(obj):
    return str(obj)
  return obj


def write_json(path: str, obj) -> None:
  with open(path, "w") as f:
    json.dump(_jsonable(obj), f, indent=2)


def write_text_atomic(path: str, text: str) -> None:
  """Writes text via a temporary file and rename, so an interrupted run never leaves half a file."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def read_results(workdir: str) -> dict:
  """workdir/results.json of a finished run (what --mode=report re-renders); one-line error if missing."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist; run --mode=train first")
  with open(path) as f:
    return json.load(f)


def write_report(workdir: str, text: str, tables: dict) -> None:
  """workdir/results.md (text) and one <name>.csv per {name: (header, rows)}; prints the report."""
  write_text_atomic(os.path.join(workdir, "results.md"), text)
  for name, (header, rows) in tables.items():
    write_csv(os.path.join(workdir, f"{name}.csv"), header, rows)
  print(text)
  print(f"wrote {workdir}/results.md, results.json, {', '.join(f'{n}.csv' for n in tables)} and figures")


def image_grid_figure(path: str, panels: list[tuple[str, np.ndarray]], ncols: int = 4,
                      title: str | None = None) -> None:
  """Saves a grid of panels [(caption, (H, W), (H, W, 1) grayscale or (H, W, 3) RGB array in [0,1])] as a PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  n = len(panels)
  ncols = min(ncols, n)
  nrows = math.ceil(n / ncols)
  fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3.2 * nrows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, (caption, img) in zip(axes.ravel(), panels):
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 3:
      ax.imshow(np.clip(img, 0, 1))
    else:
      ax.imshow(img[..., 0] if img.ndim == 3 else img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(caption, fontsize=9)
  if title:
    fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def line_plot(path: str, x, series: dict, xlabel: str, ylabel: str, title: str = "", logx: bool = False,
              references: dict | None = None) -> None:
  """Saves a line plot of {label: y-values} against x as a PNG; references {label: y} are dashed lines."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for label, y in series.items():
    ax.plot(x, y, marker="o", label=label)
  for label, y in (references or {}).items():
    ax.axhline(y, color="gray", ls="--", lw=1, label=label)
  if logx:
    ax.set_xscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _curve_groups(rows: list[dict]) -> dict:
  """{panel: {series label: [(step, value)]}} from metrics.jsonl rows; "train/accuracy" and
  "eval/val_accuracy" share the panel "accuracy"; a step logged twice (a resumed run) keeps the last value."""
  groups: dict = {}
  for row in rows:
    step = row.get("step")
    for key, value in row.items():
      if key == "step" or not isinstance(value, (int, float)) or isinstance(value, bool):
        continue
      prefix, _, name = key.rpartition("/")
      panel = name[4:] if name.startswith("val_") else name
      label = f"{prefix or 'train'}: {name}"
      groups.setdefault(panel, {}).setdefault(label, {})[int(step)] = float(value)
  return {p: {label: sorted(points.items()) for label, points in series.items()} for p, series in groups.items()}


CURVE_PANELS = ("loss", "accuracy")  # drawn first, in this order; then the other logged metrics (psnr, mcc, ...)


def training_curves(workdir: str, path: str | None = None, title: str = "", max_panels: int = 4) -> str | None:
  """Writes the loss / accuracy (and other logged metric) curves of workdir/metrics.jsonl as a PNG
  (default workdir/training_curves.png): one panel per metric, training and validation series of the
  same metric in one panel, x = training step; the loss panel is log-scaled when all values are
  positive. Panels: CURVE_PANELS first, then the others alphabetically (grad_norm last), at most
  `max_panels`. Returns the path, or None when metrics.jsonl holds no scalar (or on a process other
  than 0 of a multi-process job).
  """
  from matplotlib.figure import Figure  # no pyplot: works headless and inside notebooks

  import jax

  from vision_jax.train.writer import read_jsonl
  if jax.process_index() != 0:  # metrics.jsonl is written by process 0 only
    return None
  groups = _curve_groups(read_jsonl(os.path.join(workdir, "metrics.jsonl")))
  if not groups:
    return None
  if int(max_panels) < 1:
    raise ValueError(f"max_panels={max_panels!r} is invalid; expected >= 1")
  rest = sorted(p for p in groups if p not in CURVE_PANELS and p != "grad_norm")
  panels = ([p for p in CURVE_PANELS if p in groups] + rest + (["grad_norm"] if "grad_norm" in groups else []))
  panels = panels[:int(max_panels)]
  fig = Figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
  axes = fig.subplots(1, len(panels), squeeze=False)[0]
  for ax, panel in zip(axes, panels):
    values = []
    for label, points in groups[panel].items():
      steps, ys = zip(*points)
      values += ys
      ax.plot(steps, ys, marker="o" if len(points) <= 30 else None, ms=3, label=label)
    if panel in ("loss", "grad_norm") and min(values) > 0:
      ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(panel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=10)
  path = path or os.path.join(workdir, "training_curves.png")
  fig.savefig(path, dpi=110)
  return path


def most_confident_mistakes(labels, probs, k: int = 16) -> np.ndarray:
  """Indices of up to k misclassified examples (argmax of probs (N, K) != labels (N,)), highest
  predicted-class probability first (ties: lower index first)."""
  probs = np.asarray(probs)
  pred = probs.argmax(-1)
  wrong = np.flatnonzero(pred != np.asarray(labels))
  return wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:max(int(k), 0)]


def mistakes_grid(path: str, images, labels, probs, class_names, k: int = 16, title: str = "") -> int:
  """PNG of the k most confident mistakes: misclassified images sorted by the predicted class's
  probability (highest first), captioned "true / pred p". images (N, H, W, C) in [0, 1], labels (N,),
  probs (N, K). Writes nothing and returns 0 when there is no mistake; else the number shown."""
  probs = np.asarray(probs)
  pred = probs.argmax(-1)
  order = most_confident_mistakes(labels, probs, k)
  if order.size == 0:
    return 0
  name = lambda c: str(class_names[c]) if c < len(class_names) else str(c)  # noqa: E731
  panels = [(f"true {name(int(labels[i]))}\npred {name(int(pred[i]))} p={probs[i, pred[i]]:.2f}", images[i])
            for i in order]
  image_grid_figure(path, panels, ncols=min(8, len(panels)), title=title)
  return len(panels)
