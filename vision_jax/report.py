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


def image_grid_figure(path: str, panels: list[tuple[str, np.ndarray]], ncols: int = 4,
                      title: str | None = None) -> None:
  """Saves a grid of grayscale panels [(caption, (H, W) or (H, W, 1) array in [0,1])] as a PNG."""
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
