"""Random affine augmentation in JAX (rotation, shift, zoom, horizontal flip), inside jit.

Keras' ImageDataGenerator(rotation_range=20, width_shift_range=0.2, height_shift_range=0.2,
zoom_range=0.2, horizontal_flip=True, fill_mode="nearest") as pure functions of a PRNG key:

- per image: angle ~ U(-rotation, rotation) degrees, shifts ~ U(-shift, shift) * side, zoom factors
  zy, zx ~ U(zoom_lo, zoom_hi) independently (as Keras draws them), flip with probability 1/2;
- output pixel p = (row, col) samples the input at q = M (p - c) + c - s, with c the image centre
  ((H - 1) / 2, (W - 1) / 2), M = R(angle) diag(zy, zx) F (F mirrors the columns when flipped) and s
  the shift in pixels; zoom > 1 shows a larger field of view (the galaxy looks smaller), as in Keras;
- sampled by `jax.scipy.ndimage.map_coordinates(order=1, mode="nearest")`: bilinear, edges repeated.

`affine_matrices` gives the (matrix, offset) pairs in scipy.ndimage.affine_transform's convention
(input coordinate = matrix @ output coordinate + offset), so tests/test_augment.py compares
`apply_affine` with scipy channel by channel (jax's "nearest" / "mirror" / "reflect" are scipy's
modes of the same name; jax's "constant" / "wrap" are scipy's "grid-constant" / "grid-wrap").

`dihedral_self_ensemble` is the test-time counterpart: the mean of a method over the 8 flips and
90-degree rotations of its input (NumPy, outside jit).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["sample_affine_params", "affine_matrices", "apply_affine", "random_affine", "dihedral_self_ensemble"]

_MODES = ("nearest", "constant", "reflect", "wrap", "mirror")


def _check_ranges(rotation_deg, shift, zoom):
  if rotation_deg < 0 or not 0 <= shift < 1:
    raise ValueError(f"rotation_deg={rotation_deg!r}, shift={shift!r}; expected rotation >= 0 and 0 <= shift < 1")
  lo, hi = zoom
  if not 0 < lo <= hi:
    raise ValueError(f"zoom={zoom!r} is invalid; expected (lo, hi) with 0 < lo <= hi")


def sample_affine_params(key, n: int, *, rotation_deg: float = 20.0, shift: float = 0.2, zoom=(0.8, 1.2),
                         hflip: bool = True) -> dict:
  """Random parameters for n images: {"angle" (radians), "shift_y", "shift_x" (fractions of the side),
  "zoom_y", "zoom_x", "flip" (bool)}, each (n,)."""
  _check_ranges(rotation_deg, shift, zoom)
  ka, ky, kx, kz, kf = jax.random.split(key, 5)
  u = lambda k, lo, hi, shape=(n,): jax.random.uniform(k, shape, jnp.float32, lo, hi)
  zooms = u(kz, zoom[0], zoom[1], (2, n))
  return {"angle": jnp.deg2rad(u(ka, -rotation_deg, rotation_deg)), "shift_y": u(ky, -shift, shift),
          "shift_x": u(kx, -shift, shift), "zoom_y": zooms[0], "zoom_x": zooms[1],
          "flip": (jax.random.uniform(kf, (n,)) < 0.5) & hflip}


def affine_matrices(params: dict, hw) -> tuple[jax.Array, jax.Array]:
  """(matrix (n, 2, 2), offset (n, 2)) mapping output (row, col) to input coordinates:
  input = matrix @ output + offset (scipy.ndimage.affine_transform's convention)."""
  h, w = int(hw[0]), int(hw[1])
  c = jnp.array([(h - 1) / 2.0, (w - 1) / 2.0], jnp.float32)
  cos, sin = jnp.cos(params["angle"]), jnp.sin(params["angle"])
  rot = jnp.stack([jnp.stack([cos, -sin], -1), jnp.stack([sin, cos], -1)], -2)  # (n, 2, 2) on (row, col)
  fx = jnp.where(params["flip"], -1.0, 1.0)
  scale = jnp.stack([params["zoom_y"], params["zoom_x"] * fx], -1)  # diag(zy, zx) F
  m = rot * scale[:, None, :]
  s = jnp.stack([params["shift_y"] * h, params["shift_x"] * w], -1)
  offset = c[None] - jnp.einsum("nij,j->ni", m, c) - s
  return m, offset


@functools.partial(jax.jit, static_argnames=("order", "mode"))
def apply_affine(images, matrix, offset, order: int = 1, mode: str = "nearest", cval: float = 0.0) -> jax.Array:
  """Resamples images (N, H, W, C) at input = matrix[i] @ (row, col) + offset[i], every channel alike."""
  if mode not in _MODES:
    raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(_MODES)}")
  if order not in (0, 1):
    raise ValueError(f"order={order!r} is invalid; jax map_coordinates supports 0 and 1")
  images = jnp.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"images has shape {images.shape}; expected (N, H, W, C)")
  _, h, w, _ = images.shape
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                                indexing="ij"), 0).reshape(2, -1)  # (2, HW) output coordinates

  def one(img, m, o):
    coords = m @ grid + o[:, None]
    sample = lambda ch: jax.scipy.ndimage.map_coordinates(ch, list(coords), order=order, mode=mode, cval=cval)
    return jax.vmap(sample, in_axes=-1, out_axes=-1)(img).reshape(h, w, img.shape[-1])

  return jax.vmap(one)(images, matrix, offset)


def random_affine(key, images, *, rotation_deg: float = 20.0, shift: float = 0.2, zoom=(0.8, 1.2),
                  hflip: bool = True, mode: str = "nearest") -> jax.Array:
  """Keras-style random affine augmentation of a batch (N, H, W, C) (jittable; key is a PRNG key)."""
  images = jnp.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"images has shape {images.shape}; expected (N, H, W, C)")
  params = sample_affine_params(key, images.shape[0], rotation_deg=rotation_deg, shift=shift, zoom=zoom,
                                hflip=hflip)
  m, o = affine_matrices(params, images.shape[1:3])
  return apply_affine(images, m, o, order=1, mode=mode)


def numpy_params(params: dict) -> dict:
  """The parameter dict as numpy arrays (for logging and tests)."""
  return {k: np.asarray(v) for k, v in params.items()}


DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))  # the 8 symmetries of the square


def dihedral_self_ensemble(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
  """Geometric self-ensemble (Timofte et al., CVPR 2016): the mean of T^-1 fn(T y) over the 8 flips
  and 90-degree rotations T of the noisy image y (H, W, C). Uses only y, so it is a held-out method;
  it costs 8 calls of fn and equals fn for methods that commute with every T.
  """

  def ensemble(noisy):
    y = np.asarray(noisy, np.float32)
    total = np.zeros_like(y)
    for k, flip in DIHEDRAL:
      t = np.rot90(y[:, ::-1] if flip else y, k)
      out = np.rot90(np.asarray(fn(np.ascontiguousarray(t)), np.float32).reshape(t.shape), -k)
      total += out[:, ::-1] if flip else out
    return total / len(DIHEDRAL)

  return ensemble
