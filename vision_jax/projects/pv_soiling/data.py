"""PV panel image sets: the synthetic seen / unseen sets and the Kaggle folder layout, as classify sources.

    load_panels("synthetic:seen", num_clean=193, num_dusty=190, render_size=224, generator_seed=0)
    load_panels("folder:/data/solar-panel-images")   # Clean/ and Dusty/ sub-folders of images

return {"images": (N, S, S, 3) float32 in [0, 1] at render_size, "labels": (N,) int32 (0 clean,
1 dusty), "level": (N,) soiling level (synthetic only, else NaN)}; results are cached per process.

Registered classify sources (importing this module registers them): "pv_synthetic:seen",
"pv_synthetic:unseen" and "pv_folder:PATH"; a split is the deterministic stratified 70/15/15
partition of vision_jax.data.classification.stratified_split with the run's data.seed, resized to
data.image_size. data.options carries num_clean, num_dusty, render_size and generator_seed.
"""

from __future__ import annotations

import os

import numpy as np

from vision_jax.data import classification as data_lib
from vision_jax.projects.pv_soiling import panels

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_CACHE: dict = {}


def _read_rgb(path: str, size: int) -> np.ndarray:
  from skimage import io
  from skimage.transform import resize
  try:
    img = io.imread(path)
  except Exception as e:  # noqa: BLE001 (any decoder error: one line naming the file)
    raise ValueError(f"cannot read image {path!r} ({type(e).__name__}: {e})") from None
  img = img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else (65535.0 if img.dtype == np.uint16 else 1.0))
  if img.ndim == 2:
    img = np.repeat(img[..., None], 3, axis=-1)
  elif img.shape[-1] == 4:
    img = img[..., :3]
  elif img.shape[-1] == 1:
    img = np.repeat(img, 3, axis=-1)
  return np.clip(resize(img, (size, size, 3), order=1, anti_aliasing=True), 0, 1).astype(np.float32)


def load_folder(path: str, render_size: int = 224) -> dict:
  """The Kaggle "solar-panel-images" layout: path/Clean/* and path/Dusty/* (folder names matched
  case-insensitively), every image resized to render_size x render_size RGB."""
  if not os.path.isdir(path):
    raise FileNotFoundError(f"panel image folder not found: {path!r}")
  subdirs = {d.lower(): os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))}
  missing = [c for c in panels.CLASS_NAMES if c not in subdirs]
  if missing:
    raise ValueError(f"{path!r} has no {'/'.join(m.capitalize() for m in missing)} sub-folder; expected Clean/ and Dusty/")
  images, labels = [], []
  for label, name in enumerate(panels.CLASS_NAMES):
    files = sorted(f for f in os.listdir(subdirs[name]) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
      raise ValueError(f"{subdirs[name]!r} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    images += [_read_rgb(os.path.join(subdirs[name], f), render_size) for f in files]
    labels += [label] * len(files)
  return {"images": np.stack(images), "labels": np.asarray(labels, np.int32), "level": np.full(len(labels), np.nan)}


def load_panels(source: str, *, num_clean: int = 193, num_dusty: int = 190, render_size: int = 224,
                generator_seed: int = 0, progress: bool = False) -> dict:
  """A whole panel set (see the module docstring); cached by its arguments."""
  scheme, sep, name = str(source).partition(":")
  if not sep or scheme not in ("synthetic", "folder"):
    raise ValueError(f"panel source {source!r}; expected synthetic:seen, synthetic:unseen or folder:PATH")
  key = (source, num_clean, num_dusty, render_size, generator_seed) if scheme == "synthetic" else (source, render_size)
  if key not in _CACHE:
    if scheme == "synthetic":
      _CACHE[key] = panels.make_panels(generator_seed, num_clean, num_dusty, render_size, name, progress)
    else:
      _CACHE[key] = load_folder(name, render_size)
  return _CACHE[key]


def _split_source(prefix: str):
  def loader(name, split, *, image_size=None, seed=0, num_clean=193, num_dusty=190, render_size=224,
             generator_seed=0):
    src = f"{prefix}:{name}"
    d = load_panels(src, num_clean=num_clean, num_dusty=num_dusty, render_size=render_size,
                    generator_seed=generator_seed)
    idx = data_lib.stratified_split(d["labels"], split, seed)
    images = d["images"][idx]
    if image_size is not None:
      images = data_lib.resize_images(images, image_size)
    return data_lib.ClassificationData(images, d["labels"][idx], panels.CLASS_NAMES, aux={"index": idx})
  return loader


SYNTHETIC_LOADER = _split_source("synthetic")
FOLDER_LOADER = _split_source("folder")
data_lib.register_source("pv_synthetic", SYNTHETIC_LOADER)
data_lib.register_source("pv_folder", FOLDER_LOADER)


def panel_source(classify_source: str) -> str:
  """"pv_synthetic:seen" -> "synthetic:seen", "pv_folder:PATH" -> "folder:PATH" (load_panels names)."""
  scheme, _, name = str(classify_source).partition(":")
  mapping = {"pv_synthetic": "synthetic", "pv_folder": "folder"}
  if scheme not in mapping:
    raise ValueError(f"data source {classify_source!r}; expected pv_synthetic:seen|unseen or pv_folder:PATH")
  return f"{mapping[scheme]}:{name}"
