"""Synthetic image generators with exact labels and masks (numpy, deterministic from a seed).

- `make_shapes`: one filled shape (circle / square / triangle / cross) per image on a noisy
  textured background; the mask is the exact shape.
- `make_xray_phantoms`: chest X-ray phantoms (body ellipse, two lung fields, heart, spine,
  faint ribs); class "opacity" adds ground-glass blobs strictly inside the lungs.

Every generator takes a `np.random.Generator` and returns numpy arrays: images (N, H, W)
float32 in [0, 1], labels (N,) int32 and masks (N, H, W) bool, plus an `aux` dict.
Pixel (i, j) has its centre at (y, x) = (i, j) in pixel units.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SHAPE_CLASSES = ("circle", "square", "triangle", "cross")
XRAY_CLASSES = ("normal", "opacity")
CROSS_HALF_WIDTH = 0.25  # cross arm half-width as a fraction of the arm half-length


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
  """Pixel-centre coordinates (y, x), each (size, size) float64."""
  return np.mgrid[0:size, 0:size].astype(np.float64)


def shape_vertices(name: str, center, radius: float, angle: float) -> np.ndarray:
  """Polygon vertices (K, 2) as (y, x) of a square / triangle / cross with circumradius `radius`.

  `angle` is a rotation in radians about `center` (y, x). Circles have no vertices
  (raises ValueError). The cross has arms of half-length L and half-width L*CROSS_HALF_WIDTH
  with its outer corners on the circumcircle.
  """
  if name == "square":
    t = np.pi / 4 + np.arange(4) * np.pi / 2
    pts = np.stack([np.sin(t), np.cos(t)], axis=1) * radius
  elif name == "triangle":
    t = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
    pts = np.stack([np.sin(t), np.cos(t)], axis=1) * radius
  elif name == "cross":
    length = radius / np.sqrt(1.0 + CROSS_HALF_WIDTH**2)
    w = length * CROSS_HALF_WIDTH
    pts = np.array([(-length, -w), (-length, w), (-w, w), (-w, length), (w, length), (w, w),
                    (length, w), (length, -w), (w, -w), (w, -length), (-w, -length), (-w, -w)])
  else:
    raise ValueError(f"shape {name!r} has no polygon; expected one of square, triangle, cross")
  c, s = np.cos(angle), np.sin(angle)
  rot = np.array([[c, -s], [s, c]])  # acts on (y, x)
  return pts @ rot.T + np.asarray(center, dtype=np.float64)


def _in_convex(yy, xx, verts) -> np.ndarray:
  """Boolean mask of pixel centres inside a convex polygon `verts` (K, 2) (y, x), any winding."""
  sides = []
  for k in range(len(verts)):
    (y0, x0), (y1, x1) = verts[k], verts[(k + 1) % len(verts)]
    sides.append((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0))
  sides = np.stack(sides)
  return np.all(sides >= 0, axis=0) | np.all(sides <= 0, axis=0)


def shape_mask(name: str, size: int, center, radius: float, angle: float = 0.0) -> np.ndarray:
  """Exact (size, size) bool mask of a shape: pixel centres inside the continuous shape."""
  yy, xx = _grid(size)
  if name == "circle":
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2
  verts = shape_vertices(name, center, radius, angle)
  if name == "cross":  # union of the two (rotated) arms, each convex
    arm_a = _in_convex(yy, xx, verts[[0, 1, 6, 7]])
    arm_b = _in_convex(yy, xx, verts[[3, 4, 9, 10]])
    return arm_a | arm_b
  return _in_convex(yy, xx, verts)


def textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
  """Smooth random texture (size, size) float64 with values roughly in [0.1, 0.45]."""
  field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=size / 10, mode="wrap")
  field = (field - field.mean()) / (field.std() + 1e-12)
  return rng.uniform(0.2, 0.35) + 0.06 * field


def make_shapes(rng: np.random.Generator, num_per_class: int, image_size: int = 32,
                classes=SHAPE_CLASSES, noise_std: float = 0.04):
  """Balanced set of one-shape images, shuffled.

  Args:
    rng: numpy Generator (the only source of randomness).
    num_per_class: examples per class.
    image_size: side S in pixels (>= 12).
    classes: subset of SHAPE_CLASSES; label k means classes[k].
    noise_std: std of additive Gaussian pixel noise.
  Returns:
    images (N, S, S) float32 in [0, 1], labels (N,) int32, masks (N, S, S) bool (exact shape),
    aux dict with "center" (N, 2) (y, x), "radius" (N,) circumradius, "angle" (N,) radians,
    "intensity" (N,) shape grey level before noise. N = num_per_class * len(classes).
  """
  classes = tuple(classes)
  bad = [c for c in classes if c not in SHAPE_CLASSES]
  if bad or not classes:
    raise ValueError(f"unknown shape classes {bad}; valid: {', '.join(SHAPE_CLASSES)}")
  if image_size < 12:
    raise ValueError(f"image_size={image_size} is too small; expected >= 12")
  if num_per_class < 1:
    raise ValueError(f"num_per_class={num_per_class} is invalid; expected >= 1")
  labels = rng.permutation(np.repeat(np.arange(len(classes)), num_per_class)).astype(np.int32)
  n, s = len(labels), image_size
  images = np.empty((n, s, s), np.float32)
  masks = np.empty((n, s, s), bool)
  centers, radii = np.empty((n, 2)), np.empty(n)
  angles, levels = np.empty(n), np.empty(n)
  for i, label in enumerate(labels):
    radius = rng.uniform(0.18, 0.38) * s
    centers[i] = rng.uniform(radius + 1, s - 2 - radius, size=2)
    radii[i], angles[i] = radius, rng.uniform(0, 2 * np.pi)
    levels[i] = rng.uniform(0.6, 0.95)
    masks[i] = shape_mask(classes[label], s, centers[i], radius, angles[i])
    img = np.where(masks[i], levels[i], textured_background(rng, s))
    images[i] = np.clip(img + noise_std * rng.standard_normal((s, s)), 0.0, 1.0)
  aux = {"center": centers, "radius": radii, "angle": angles, "intensity": levels}
  return images, labels, masks, aux


def _ellipse(yy, xx, cy, cx, ay, ax, angle=0.0) -> np.ndarray:
  """Bool mask of a (rotated) ellipse with semi-axes ay (rows) and ax (cols)."""
  c, s = np.cos(angle), np.sin(angle)
  dy, dx = yy - cy, xx - cx
  u, v = c * dy + s * dx, -s * dy + c * dx
  return (u / ay) ** 2 + (v / ax) ** 2 <= 1.0


def xray_phantom(rng: np.random.Generator, size: int, opacity: bool, num_blobs=(2, 5)):
  """One chest X-ray phantom.

  Air is dark and tissue/bone bright, as on a radiograph: background ~0.05, body ~0.55,
  lungs ~0.2, heart/spine brighter, ribs as faint arcs over the lungs.
  Returns image (S, S) float32 in [0, 1], lung mask (S, S) bool, opacity field (S, S)
  float32 (the exact additive ground-glass signal, zero outside the lungs; all zero when
  `opacity` is False).
  """
  yy, xx = _grid(size)
  j = lambda scale: 1.0 + rng.uniform(-scale, scale)  # noqa: E731  (relative jitter)
  c = size / 2 - 0.5
  body = _ellipse(yy, xx, c + 0.02 * size, c, 0.47 * size * j(0.03), 0.44 * size * j(0.04))
  img = np.where(body, 0.55 * j(0.1), 0.05)
  lungs = np.zeros((size, size), bool)
  for side in (-1, 1):
    lung = _ellipse(yy, xx, c - 0.02 * size * j(0.5), c + side * 0.19 * size * j(0.06),
                    0.31 * size * j(0.06), 0.13 * size * j(0.08), side * -0.12 * j(0.3))
    lungs |= lung
  heart = _ellipse(yy, xx, c + 0.17 * size, c + 0.06 * size * j(0.3), 0.12 * size * j(0.1),
                   0.15 * size * j(0.1))
  lungs &= ~heart
  img = np.where(lungs, 0.2 * j(0.15), img)
  img = np.where(heart & body, 0.7, img)
  spine = (np.abs(xx - c) <= 0.045 * size) & body & ~lungs
  img = np.where(spine, 0.8, img)
  rib_dy = size / 11
  for k in range(6):  # faint arcs, brighter where they cross the lungs
    y0 = c - 0.28 * size + k * rib_dy + rng.uniform(-0.5, 0.5)
    arc = np.abs(yy - (y0 + 0.9 * ((xx - c) / size) ** 2 * size)) <= 0.6 + size / 128
    img = img + 0.07 * (arc & lungs)
  img = ndimage.gaussian_filter(img, sigma=max(size / 96, 0.5))
  field = np.zeros((size, size))
  if opacity:
    ys, xs = np.nonzero(lungs)
    for _ in range(rng.integers(num_blobs[0], num_blobs[1] + 1)):
      k = rng.integers(len(ys))
      sigma = rng.uniform(0.04, 0.09) * size
      blob = np.exp(-((yy - ys[k]) ** 2 + (xx - xs[k]) ** 2) / (2 * sigma**2))
      field += rng.uniform(0.15, 0.3) * blob
    field = np.minimum(field, 0.4) * lungs  # ground glass: bounded, strictly inside the lungs
  img = img + field + 0.02 * rng.standard_normal((size, size))
  return np.clip(img, 0.0, 1.0).astype(np.float32), lungs, field.astype(np.float32)


def make_xray_phantoms(rng: np.random.Generator, num_per_class: int, image_size: int = 64):
  """Balanced, shuffled set of chest X-ray phantoms, classes XRAY_CLASSES = (normal, opacity).

  Returns images (N, S, S) float32 in [0, 1], labels (N,) int32, lung masks (N, S, S) bool,
  aux {"opacity": (N, S, S) float32 additive ground-glass signal,
  "lesion_masks": (N, S, S) bool where that signal exceeds 0.05}. N = 2 * num_per_class.
  """
  if image_size < 24:
    raise ValueError(f"image_size={image_size} is too small for x-ray phantoms; expected >= 24")
  if num_per_class < 1:
    raise ValueError(f"num_per_class={num_per_class} is invalid; expected >= 1")
  labels = rng.permutation(np.repeat(np.arange(2), num_per_class)).astype(np.int32)
  n, s = len(labels), image_size
  images = np.empty((n, s, s), np.float32)
  lungs = np.empty((n, s, s), bool)
  fields = np.empty((n, s, s), np.float32)
  for i, label in enumerate(labels):
    images[i], lungs[i], fields[i] = xray_phantom(rng, s, opacity=bool(label))
  return images, labels, lungs, {"opacity": fields, "lesion_masks": fields > 0.05}
