"""Heatmap-over-image PNGs with matplotlib (matplotlib.image.imsave: no pyplot, no GUI backend)."""

from __future__ import annotations

import os

import matplotlib
import matplotlib.image
import numpy as np

__all__ = ["overlay_image", "save_overlay"]


def overlay_image(image, heatmap, alpha: float = 0.5, cmap: str = "viridis") -> np.ndarray:
  """Blend a colour-mapped heatmap over an image: (1 - alpha) * image + alpha * cmap(heatmap).

  image: (H, W), (H, W, 1) or (H, W, 3) floats in [0, 1]; heatmap: (H, W) (min-max scaled to
  [0, 1] here, so any signed map can be shown; a constant map maps to 0). Returns (H, W, 3) float32 RGB in [0, 1].
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
  span = np.ptp(hm)
  hm = (hm - hm.min()) / span if span > 0 else np.zeros_like(hm)
  colored = matplotlib.colormaps[cmap](hm)[..., :3]
  return np.clip((1.0 - alpha) * np.clip(img, 0, 1) + alpha * colored, 0.0, 1.0).astype(np.float32)


def save_overlay(image, heatmap, path, alpha: float = 0.5, cmap: str = "viridis") -> str:
  """Writes overlay_image(image, heatmap, alpha, cmap) as a PNG of exactly H x W pixels; returns path."""
  rgb = overlay_image(image, heatmap, alpha, cmap)
  path = os.fspath(path)
  parent = os.path.dirname(path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  matplotlib.image.imsave(path, rgb, format="png")
  return path
