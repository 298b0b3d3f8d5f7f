"""Grayscale image sources for denoising: bundled scikit-image pictures or a folder of image files.

Every image is returned as float32 in [0, 1] with shape (H, W, 1). Nothing here downloads anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

# scikit-image pictures that ship inside the wheel (no download). Colour ones are converted to gray.
BUNDLED_IMAGES = (
    "camera", "astronaut", "coins", "moon", "brick", "grass", "gravel", "text", "page", "chelsea",
    "coffee", "clock", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "cell",
)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm")


@dataclass(frozen=True)
class NamedImage:
  """A grayscale image (H, W, 1) float32 in [0, 1] with the name it was loaded under."""
  name: str
  pixels: np.ndarray


def to_gray_float(image: np.ndarray) -> np.ndarray:
  """Any uint8/uint16/float image (H, W) or (H, W, C) -> float32 (H, W, 1) in [0, 1]."""
  from skimage import color, util
  img = np.asarray(image)
  if img.ndim == 3 and img.shape[-1] == 4:
    img = color.rgba2rgb(img)
  if img.ndim == 3 and img.shape[-1] == 3:
    img = color.rgb2gray(img)
  elif img.ndim == 3 and img.shape[-1] == 1:
    img = img[..., 0]
  if img.ndim != 2:
    raise ValueError(f"image has shape {img.shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")
  img = util.img_as_float32(img)
  return np.clip(img, 0.0, 1.0)[..., None].astype(np.float32)


def load_bundled(name: str, max_size: int | None = None) -> NamedImage:
  """One scikit-image picture by name, optionally downscaled so max(H, W) <= max_size."""
  from skimage import data
  if name not in BUNDLED_IMAGES:
    raise ValueError(f"unknown bundled image {name!r}; valid: {', '.join(BUNDLED_IMAGES)}")
  pixels = to_gray_float(getattr(data, name)())
  return NamedImage(name, _limit_size(pixels, max_size))


def load_folder(path: str, max_size: int | None = None) -> list[NamedImage]:
  """All readable images in a folder (sorted by file name) as grayscale (H, W, 1) float32."""
  from skimage import io
  if not os.path.isdir(path):
    raise FileNotFoundError(f"data folder {path!r} does not exist; expected a folder of image files")
  names = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
  images = []
  for fname in names:
    try:
      raw = io.imread(os.path.join(path, fname))
    except Exception as e:  # noqa: BLE001 (any decoder error): a dataset must not lose images silently
      reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
      raise ValueError(f"image file {os.path.join(path, fname)!r} could not be read ({reason}); expected a valid "
                       "image: remove or replace it") from None
    images.append(NamedImage(os.path.splitext(fname)[0], _limit_size(to_gray_float(raw), max_size)))
  if not images:
    raise ValueError(f"data folder {path!r} has no readable images; expected files ending in "
                     f"{', '.join(IMAGE_EXTENSIONS)}")
  return images


def load_images(source, max_size: int | None = None) -> list[NamedImage]:
  """Images from a source: a folder path, 'bundled' (all), 'bundled:camera,coins', or a list of names."""
  if isinstance(source, (list, tuple)):
    return [load_bundled(n, max_size) for n in source]
  source = str(source)
  if source == "bundled":
    return [load_bundled(n, max_size) for n in BUNDLED_IMAGES]
  if source.startswith("bundled:"):
    return [load_bundled(n.strip(), max_size) for n in source[len("bundled:"):].split(",") if n.strip()]
  return load_folder(source, max_size)


def _limit_size(pixels: np.ndarray, max_size: int | None) -> np.ndarray:
  """Downscale (anti-aliased) so that max(H, W) <= max_size; None or 0 keeps the image."""
  if max_size is not None and max_size < 0:
    raise ValueError(f"max_size={max_size} is invalid; expected a positive size, or 0 / None to keep full size")
  if not max_size or max(pixels.shape[:2]) <= max_size:
    return pixels
  from skimage.transform import resize
  scale = max_size / max(pixels.shape[:2])
  shape = (max(1, round(pixels.shape[0] * scale)), max(1, round(pixels.shape[1] * scale)), 1)
  return resize(pixels, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)


def crop_to_multiple(pixels: np.ndarray, multiple: int) -> np.ndarray:
  """Centre-crops (H, W, C) so H and W are multiples of `multiple` (what pooling backbones need)."""
  h, w = pixels.shape[:2]
  nh, nw = h - h % multiple, w - w % multiple
  if nh == 0 or nw == 0:
    raise ValueError(f"image of size {h}x{w} is smaller than the required multiple {multiple}")
  top, left = (h - nh) // 2, (w - nw) // 2
  return pixels[top:top + nh, left:left + nw]


def sample_patches(images: list[np.ndarray], batch_size: int, patch_size: int, seed: int, step: int,
                   augment: bool = True) -> np.ndarray:
  """A batch of random patches (B, p, p, C), a pure function of (seed, step) so resumed runs match.

  Patches are drawn from images chosen uniformly; with `augment`, each gets one of the 8 dihedral
  transforms (flips and 90-degree rotations).
  """
  smallest = min(min(im.shape[:2]) for im in images)
  if patch_size > smallest:
    raise ValueError(f"patch_size={patch_size} is larger than the smallest training image "
                     f"({smallest} px); expected patch_size <= {smallest}")
  rng = np.random.default_rng([seed, step])
  out = np.empty((batch_size, patch_size, patch_size, images[0].shape[-1]), np.float32)
  for b in range(batch_size):
    im = images[rng.integers(len(images))]
    top = rng.integers(im.shape[0] - patch_size + 1)
    left = rng.integers(im.shape[1] - patch_size + 1)
    patch = im[top:top + patch_size, left:left + patch_size]
    if augment:
      patch = np.rot90(patch, k=int(rng.integers(4)))
      if rng.integers(2):
        patch = patch[:, ::-1]
    out[b] = patch
  return out


def pad_to_multiple(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
  """Pads (H, W, C) at the bottom/right so H and W are multiples of `multiple`; returns (padded, (H, W)).

  Reflection padding (edge repetition when the image is smaller than the pad); crop the result of a
  model back with [:H, :W].
  """
  h, w = x.shape[:2]
  ph, pw = (-h) % multiple, (-w) % multiple
  mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
  return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode=mode), (h, w)
