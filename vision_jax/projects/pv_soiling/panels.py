"""Synthetic photovoltaic panel photographs, clean or dusty, with exact labels (numpy, from a seed).

A panel is drawn in its own plane (u, v in [0, 1]^2): an aluminium frame, a grid of cells
(monocrystalline: dark and uniform; polycrystalline: blue with a flake texture) separated by light
gaps, with busbars; then a specular glare blob. Dust (dusty panels) is a fractal value-noise
density d(u, v) in [0, 1] (octaves of bilinearly upsampled random grids, `texture` sets the coarsest
scale) times the panel's soiling level, with more dust towards the lower edge; the panel colour is
blended towards the dust colour by d, blurred and loses contrast in proportion to the level, and
gets a few opaque droppings. Clean panels carry a faint haze (level <= 0.04) so the classes touch.
The plane is warped into the photo by a random perspective transform over a sky / ground background,
then lit (gain, colour tint) and given sensor noise.

`STYLES` holds the two domains: "seen" (the development set) and "unseen" (other panel types and cell
counts, warmer or dimmer light, stronger perspective, greyer / redder dust at other scales) for the
domain-shift test.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import transform

STYLES = {
    "seen": {"mono_prob": 0.3, "cells": ((6, 10), (6, 12)), "gain": (0.85, 1.1), "tint": 0.04, "glare": (0.0, 0.5),
             "warp": 0.08, "dust_rgb": ((0.74, 0.64, 0.47), 0.05), "texture": (3, 6), "dusty_level": (0.1, 0.9),
             "sky_prob": 0.6},
    "unseen": {"mono_prob": 0.7, "cells": ((8, 12), (5, 8), (10, 16)), "gain": (0.6, 1.25), "tint": 0.12,
               "glare": (0.2, 0.9), "warp": 0.16, "dust_rgb": ((0.62, 0.55, 0.48), 0.07), "texture": (2, 10),
               "dusty_level": (0.06, 0.8), "sky_prob": 0.3},
}
CLASS_NAMES = ("clean", "dusty")


def interpolation_matrix(n: int, size: int) -> np.ndarray:
  """(size, n) weights of linear interpolation from n evenly spaced nodes onto size evenly spaced pixels
  (both spanning [0, 1]); A @ g @ A.T is the bilinear upsampling of an (n, n) grid g."""
  x = np.linspace(0.0, n - 1.0, size)
  lo = np.minimum(np.floor(x).astype(int), n - 2) if n > 1 else np.zeros(size, int)
  frac = x - lo
  a = np.zeros((size, n))
  a[np.arange(size), lo] = 1.0 - frac if n > 1 else 1.0
  if n > 1:
    a[np.arange(size), lo + 1] += frac
  return a


def value_noise(rng: np.random.Generator, size: int, cells: float, octaves: int = 4) -> np.ndarray:
  """(size, size) fractal value noise in [0, 1]: octaves of random (cells * 2^o + 1)^2 grids, bilinearly
  upsampled, with amplitude 2^-o (a Perlin-style density)."""
  out = np.zeros((size, size))
  for o in range(octaves):
    n = max(int(cells * 2 ** o), 1) + 1
    a = interpolation_matrix(n, size)
    out += 0.5 ** o * (a @ rng.random((n, n)) @ a.T)
  return (out - out.min()) / max(out.max() - out.min(), 1e-9)


def panel_plane(rng: np.random.Generator, size: int, style: dict) -> np.ndarray:
  """(size, size, 3) the clean panel in plane coordinates: frame, cells, gaps, busbars, glare."""
  v, u = np.mgrid[0:size, 0:size] / (size - 1.0)
  rows, cols = style["cells"][rng.integers(len(style["cells"]))]
  if rng.random() < 0.5:
    rows, cols = cols, rows
  mono = rng.random() < style["mono_prob"]
  base = np.array([0.05, 0.07, 0.12]) if mono else np.array([0.12, 0.22, 0.48])
  base = base * rng.uniform(0.8, 1.2, 3)
  img = np.ones((size, size, 3)) * base
  if not mono:  # polycrystalline flakes
    flakes = value_noise(rng, size, cols * 3, octaves=2)[..., None]
    img = img * (0.75 + 0.5 * flakes)
  frame = 0.03
  inner = (u > frame) & (u < 1 - frame) & (v > frame) & (v < 1 - frame)
  cu, cv = (u - frame) / (1 - 2 * frame) * cols, (v - frame) / (1 - 2 * frame) * rows
  gap = 0.04
  gaps = (np.abs(cu - np.round(cu)) < gap) | (np.abs(cv - np.round(cv)) < gap)
  img[gaps] = np.array([0.75, 0.77, 0.8]) * rng.uniform(0.8, 1.0)
  bars = np.abs((cu % 1.0) - np.array([[1 / 3], [2 / 3]])[:, None]).min(0) < 0.012
  img[bars & ~gaps] = 0.6
  img[~inner] = np.array([0.7, 0.71, 0.73]) * rng.uniform(0.8, 1.1)
  g = rng.uniform(*style["glare"])
  cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.15, 0.5)
  img = img + g * np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / (2 * r ** 2))[..., None]
  return np.clip(img, 0.0, 1.0)


def add_dust(rng: np.random.Generator, plane: np.ndarray, level: float, style: dict) -> tuple[np.ndarray, np.ndarray]:
  """(dusty plane, density (size, size) in [0, 1]) for soiling `level` in [0, 1]."""
  size = plane.shape[0]
  texture = rng.uniform(*style["texture"])
  v = np.linspace(0, 1, size)[:, None]
  density = np.clip(level * (0.4 + 1.2 * value_noise(rng, size, texture)) * (0.7 + 0.6 * v), 0.0, 1.0)
  mean_rgb, spread = style["dust_rgb"]
  colour = np.clip(np.asarray(mean_rgb) + rng.normal(0, spread, 3), 0, 1)
  out = plane * (1 - density[..., None]) + colour * density[..., None]
  blur = 2.0 * level * size / 224.0
  if blur > 0.3:
    out = ndimage.gaussian_filter(out, (blur, blur, 0))
  mu = out.mean(axis=(0, 1), keepdims=True)
  out = mu + (out - mu) * (1.0 - 0.5 * level)
  yg, xg = np.mgrid[0:size, 0:size]
  for _ in range(rng.poisson(6 * level)):  # droppings: small opaque blobs
    yy, xx = rng.uniform(0, size, 2)
    rad = rng.uniform(0.005, 0.02) * size
    out[(yg - yy) ** 2 + (xg - xx) ** 2 < rad ** 2] = rng.uniform(0.75, 0.95)
  return np.clip(out, 0, 1), density


def background(rng: np.random.Generator, size: int, style: dict) -> np.ndarray:
  """(size, size, 3) sky gradient or textured ground."""
  y = np.linspace(0, 1, size)[:, None, None]
  if rng.random() < style["sky_prob"]:
    top, bottom = np.array([0.45, 0.65, 0.9]), np.array([0.85, 0.9, 0.95])
    img = top * (1 - y) + bottom * y + np.zeros((1, size, 3))
  else:
    tone = np.array([0.35, 0.45, 0.25]) if rng.random() < 0.5 else np.array([0.55, 0.45, 0.35])
    img = tone * (0.7 + 0.6 * value_noise(rng, size, 8)[..., None])
  return np.clip(img * rng.uniform(0.8, 1.1), 0, 1)


def perspective(rng: np.random.Generator, size: int, jitter: float) -> transform.ProjectiveTransform:
  """Plane pixel -> photo pixel: the panel's corners moved by up to `jitter` x size around a centred quad."""
  m = 0.1 * size
  dst = np.array([[m, m], [size - m, m], [size - m, size - m], [m, size - m]])
  dst = dst + rng.uniform(-jitter, jitter, dst.shape) * size
  src = np.array([[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]], np.float64)
  return transform.ProjectiveTransform.from_estimate(src, dst)


def render_panel(rng: np.random.Generator, size: int, dusty: bool, style: dict) -> tuple[np.ndarray, float]:
  """(photo (size, size, 3) float32 in [0, 1], soiling level) of one clean or dusty panel."""
  plane = panel_plane(rng, size, style)
  level = rng.uniform(*style["dusty_level"]) if dusty else rng.uniform(0.0, 0.04)
  plane, _ = add_dust(rng, plane, level, style)
  tf = perspective(rng, size, style["warp"])
  warped = transform.warp(plane, tf.inverse, output_shape=(size, size), order=1, cval=-1.0)
  inside = warped[..., :1] >= 0
  img = np.where(inside, warped, background(rng, size, style))
  tint = 1.0 + rng.uniform(-style["tint"], style["tint"], 3)
  img = img * rng.uniform(*style["gain"]) * tint + rng.normal(0, 0.01, img.shape)
  return np.clip(img, 0, 1).astype(np.float32), float(level)


def make_panels(seed: int, num_clean: int, num_dusty: int, size: int = 224, domain: str = "seen",
                progress: bool = False) -> dict:
  """{"images": (N, size, size, 3) float32, "labels": (N,) int32 (0 clean, 1 dusty), "level": (N,)};
  image i uses np.random.default_rng([seed, domain index, i])."""
  from vision_jax.progress import progress_bar
  if domain not in STYLES:
    raise ValueError(f"unknown panel domain {domain!r}; valid: {', '.join(STYLES)}")
  if num_clean < 1 or num_dusty < 1:
    raise ValueError(f"num_clean={num_clean}, num_dusty={num_dusty}; expected both >= 1")
  labels = np.repeat(np.array([0, 1], np.int32), [num_clean, num_dusty])
  images, levels = np.zeros((labels.size, size, size, 3), np.float32), np.zeros(labels.size)
  d = list(STYLES).index(domain)
  for i in progress_bar(range(labels.size), desc=f"render {domain} panels", unit="img", disable=not progress):
    images[i], levels[i] = render_panel(np.random.default_rng([seed, d, i]), size, bool(labels[i]), STYLES[domain])
  return {"images": images, "labels": labels, "level": levels}
