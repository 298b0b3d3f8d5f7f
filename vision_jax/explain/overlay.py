"""Heatmap-over-image pictures: single PNGs (matplotlib.image.imsave) and labelled grids with a
colorbar (matplotlib.figure.Figure); no pyplot, so no GUI backend is needed or switched."""

from __future__ import annotations

import math
import os
import textwrap
from typing import Sequence

import matplotlib
import matplotlib.image
import numpy as np

__all__ = ["overlay_image", "save_overlay", "overlay_grid", "PER_IMAGE_NOTE"]

PER_IMAGE_NOTE = "each map is divided by its own maximum (normalised per image): 1 = that image's strongest evidence"


def overlay_image(image, heatmap, alpha: float = 0.5, cmap: str = "viridis", vmin: float | None = None,
                  vmax: float | None = None) -> np.ndarray:
  """Blend a colour-mapped heatmap over an image: (1 - alpha) * image + alpha * cmap(heatmap).

  image: (H, W), (H, W, 1) or (H, W, 3) floats in [0, 1]; heatmap: (H, W). Colours: with vmin
  and vmax None the map is min-max scaled to [0, 1] here (any signed map can be shown; a constant
  map maps to 0); otherwise (heatmap - vmin) / (vmax - vmin) clipped to [0, 1], so colours match a
  fixed colorbar (vmin=0, vmax=1 for the per-image normalised METHODS maps).
  Returns (H, W, 3) float32 RGB in [0, 1].
  """
  img = np.asarray(image, np.float32)
  if img.ndim == 2:
    img = img[..., None]
  if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
    raise ValueError(f"image has shape {img.shape}; expected (H, W), (H, W, 1) or (H, W, 3)")
  img = np.repeat(img[..., :1], 3, axis=-1) if img.shape[-1] == 1 else img[..., :3]
  hm = np.asarray(heatmap, np.float64)
  if hm.shape != img.shape[:2]:
    raise ValueError(f"heatmap has shape {hm.shape}; expected {img.shape[:2]} (the image size)")
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f"alpha={alpha!r} is invalid; expected 0 <= alpha <= 1")
  if cmap not in matplotlib.colormaps:
    raise ValueError(f"unknown cmap {cmap!r}; expected a matplotlib colormap name such as viridis, jet, magma")
  if vmin is None and vmax is None:
    span = np.ptp(hm)
    hm = (hm - hm.min()) / span if span > 0 else np.zeros_like(hm)
  else:
    lo, hi = (0.0 if vmin is None else float(vmin)), (1.0 if vmax is None else float(vmax))
    if not hi > lo:
      raise ValueError(f"vmin={vmin!r}, vmax={vmax!r} are invalid; expected vmin < vmax")
    hm = np.clip((hm - lo) / (hi - lo), 0.0, 1.0)
  colored = matplotlib.colormaps[cmap](hm)[..., :3]
  return np.clip((1.0 - alpha) * np.clip(img, 0, 1) + alpha * colored, 0.0, 1.0).astype(np.float32)


def save_overlay(image, heatmap, path, alpha: float = 0.5, cmap: str = "viridis", vmin: float | None = None,
                 vmax: float | None = None) -> str:
  """Writes overlay_image(image, heatmap, alpha, cmap, vmin, vmax) as a PNG of exactly H x W pixels; returns path."""
  rgb = overlay_image(image, heatmap, alpha, cmap, vmin, vmax)
  path = os.fspath(path)
  parent = os.path.dirname(path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  matplotlib.image.imsave(path, rgb, format="png")
  return path


def _tile(rgb, color, pad: int) -> np.ndarray:
  """(H, W, 3) -> (H + 2 pad, W + 2 pad, 3) with a frame of `color` (RGB)."""
  h, w, _ = rgb.shape
  out = np.empty((h + 2 * pad, w + 2 * pad, 3), np.float32)
  out[...] = color
  out[pad:pad + h, pad:pad + w] = rgb
  return out


def overlay_grid(path: str, images, rows: Sequence[tuple], captions: Sequence[str], title: str, *,
                 wrong=None, alpha: float = 0.5, cmap: str = "viridis", max_cols: int = 8,
                 note: str = PER_IMAGE_NOTE) -> str:
  """PNG grid: per block of up to `max_cols` images, the images, then one overlay row per entry
  of `rows`, with a colorbar of the map scale (0..1) and `note` under the title.

  images: (N, H, W, C) in [0, 1]; rows: (label, maps (N, H, W) in [0, 1]) or
  (label, maps, shown (N,) bool) where unshown cells are grey and read "same as predicted" (e.g. a
  true-class row filled only for misclassified images); captions: N strings; wrong: (N,) bool,
  misclassified images get a red frame and a red caption ("WRONG"). The grid is one mosaic image
  (one matplotlib axes, so large grids stay fast to draw). Returns path.
  """
  from matplotlib import cm, colors
  from matplotlib.figure import Figure  # no pyplot: no backend switch, works headless and in notebooks

  images = np.asarray(images, np.float32)
  if images.ndim != 4:
    raise ValueError(f"images has shape {images.shape}; expected (N, H, W, C)")
  n, h, w, _ = images.shape
  if len(captions) != n:
    raise ValueError(f"{len(captions)} captions for {n} images; expected one per image")
  wrong = np.zeros(n, bool) if wrong is None else np.asarray(wrong, bool)
  pad = max(1, h // 16)  # frame width (red for misclassified) and, again, the white gutter around it
  cols = min(n, max_cols)
  blocks = math.ceil(n / cols)
  per_block = 1 + len(rows)
  th, tw = h + 4 * pad, w + 4 * pad
  cap = int(round(0.55 * th))  # caption band above each block
  bh = cap + per_block * th
  mosaic = np.ones((blocks * bh, cols * tw, 3), np.float32)
  red, white, grey = (0.85, 0.0, 0.0), (1.0, 1.0, 1.0), (0.85, 0.85, 0.85)
  blanks = []
  for i in range(n):
    b, c = divmod(i, cols)
    frame = red if wrong[i] else white
    img = images[i]
    rgb = np.repeat(img[..., :1], 3, -1) if img.shape[-1] == 1 else img[..., :3]
    cells = [np.clip(rgb, 0, 1)]
    for row in rows:
      shown = True if len(row) < 3 or row[2] is None else bool(np.asarray(row[2])[i])
      cells.append(overlay_image(img, row[1][i], alpha, cmap, vmin=0.0, vmax=1.0) if shown
                   else np.full((h, w, 3), grey, np.float32))
      if not shown:
        blanks.append((b * bh + cap + (len(cells) - 1) * th, c))
    for r, cell in enumerate(cells):
      y0 = b * bh + cap + r * th
      mosaic[y0:y0 + th, c * tw:(c + 1) * tw] = _tile(_tile(cell, frame, pad), white, pad)
  cell_in, left, right = 1.25, 1.5, 0.9
  width_in, height_in = cell_in * cols, cell_in * blocks * bh / tw
  fw = max(width_in + left + right, 6.0)
  left = fw - width_in - right
  heading = "\n".join(textwrap.wrap(title, int(fw * 14)) + textwrap.wrap(note, int(fw * 14)))
  top = 0.25 + 0.14 * (heading.count("\n") + 1)
  fh = height_in + top
  fig = Figure(figsize=(fw, fh))
  ax = fig.add_axes((left / fw, 0.0, width_in / fw, height_in / fh))
  ax.imshow(mosaic, interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([])
  for spine in ax.spines.values():
    spine.set_visible(False)
  for i in range(n):
    b, c = divmod(i, cols)
    ax.text((c + 0.5) * tw, b * bh + cap - pad, ("WRONG\n" if wrong[i] else "") + captions[i].replace(" / ", "\n"),
            ha="center", va="bottom", fontsize=6, color="red" if wrong[i] else "black",
            fontweight="bold" if wrong[i] else "normal")
  for b in range(blocks):
    for r, row in enumerate(rows):
      ax.text(-pad, b * bh + cap + (r + 1.5) * th, str(row[0]).replace(": ", ":\n"), ha="right", va="center",
              fontsize=6)
  for y0, c in blanks:
    ax.text((c + 0.5) * tw, y0 + 0.5 * th, "correct:\nsame as\npredicted", ha="center", va="center", fontsize=5,
            color="dimgray")
  cax = fig.add_axes(((left + width_in + 0.15) / fw, 0.15 * height_in / fh, 0.12 / fw, 0.6 * height_in / fh))
  bar = fig.colorbar(cm.ScalarMappable(colors.Normalize(0.0, 1.0), matplotlib.colormaps[cmap]), cax=cax)
  bar.set_label("map value (per image)", fontsize=7)
  bar.ax.tick_params(labelsize=6)
  fig.text(0.5, 1.0 - 0.08 / fh, heading, ha="center", va="top", fontsize=7.5)
  path = os.fspath(path)
  if os.path.dirname(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=110)
  return path
