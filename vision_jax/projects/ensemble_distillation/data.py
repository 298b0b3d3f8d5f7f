"""Data of the EKD project: the Kermany pediatric chest X-ray folders and an offline stand-in.

kermany:ROOT  the published layout (Kermany et al. 2018, Mendeley "ChestXRay2017"): ROOT/NORMAL/ and
  ROOT/PNEUMONIA/ with image files, or ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/. The EKD paper pools
  every image (5,856) for its k-fold cross-validation: split "train" returns the pool (option
  pool=True, default), or with pool=False the named split's folder. Images are read as grayscale
  (scikit-image), resized to image_size (200 in the paper); labels NORMAL = 0, PNEUMONIA = 1.
cxr_synth:NAME  synthetic pediatric CXR-like images with exact labels: the library's chest phantoms
  (vision_jax.data.synthetic.xray_phantom: lungs, heart, spine, rib arcs) where "pneumonia" adds
  low-frequency opacities inside the lungs at a random fraction (opacity_min..opacity_max) of their
  full strength, plus extra noise, so some cases are subtle; prevalence 0.7296 pneumonia (the
  paper's 72.96 / 27.04 split). Options: num_images, prevalence, opacity_min, opacity_max, noise.
  The lung masks come along as `masks`. Every split draws from its own stream; the project uses "train"
  as the pool it folds.
Nothing downloads.
"""

from __future__ import annotations

import os

import numpy as np

from vision_jax.data import classification as data_lib
from vision_jax.data import synthetic

CLASSES = ("normal", "pneumonia")
FOLDERS = ("NORMAL", "PNEUMONIA")
EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff")
PREVALENCE = 0.7296


def _files(folder: str) -> list[str]:
  return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(EXTENSIONS))


def kermany_files(root: str, split: str = "train", pool: bool = True) -> list[tuple[str, int]]:
  """(path, label) of every image of the layout under root (see the module docstring)."""
  if not os.path.isdir(root):
    raise FileNotFoundError(f"Kermany folder not found: {root!r}")
  if all(os.path.isdir(os.path.join(root, c)) for c in FOLDERS):
    parents = [root]
    if not pool and split != "train":
      raise ValueError(f"{root!r} has NORMAL/ and PNEUMONIA/ directly (no {split}/ folder); use pool=True")
  else:
    splits = [s for s in ("train", "val", "test") if os.path.isdir(os.path.join(root, s))]
    if not splits:
      raise ValueError(f"{root!r} has neither NORMAL/ and PNEUMONIA/ nor train/ val/ test/ folders of them")
    parents = [os.path.join(root, s) for s in splits] if pool else [os.path.join(root, split)]
  out = []
  for parent in parents:
    for label, c in enumerate(FOLDERS):
      folder = os.path.join(parent, c)
      if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder!r} is missing; expected {', '.join(FOLDERS)} under {parent!r}")
      out += [(f, label) for f in _files(folder)]
  if not out:
    raise ValueError(f"no image files ({', '.join(EXTENSIONS)}) under {root!r}")
  return out


def load_kermany(name: str, split: str, *, image_size=None, seed: int = 0, pool: bool = True) -> data_lib.ClassificationData:
  """The Kermany images under `name` (a folder) as (N, S, S, 1) float32 in [0, 1] at image_size (200)."""
  from skimage import io
  from skimage.transform import resize
  del seed
  size = int(image_size or 200)
  files = kermany_files(name, split, bool(pool))
  images = np.empty((len(files), size, size, 1), np.float32)
  for i, (path, _) in enumerate(files):
    img = io.imread(path, as_gray=True).astype(np.float64)
    if img.max() > 1.0:
      img = img / 255.0
    images[i, ..., 0] = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True)
  labels = np.asarray([label for _, label in files], np.int32)
  return data_lib.ClassificationData(np.clip(images, 0, 1), labels, CLASSES)


def load_synthetic(name: str, split: str, *, image_size=None, seed: int = 0, num_images: int = 600,
                   prevalence: float = PREVALENCE, opacity_min: float = 0.3, opacity_max: float = 1.0,
                   noise: float = 0.03) -> data_lib.ClassificationData:
  """num_images CXR-like phantoms at image_size (64) with P(pneumonia) = prevalence (see module docstring)."""
  size = int(image_size or 64)
  if not 24 <= size <= 256:
    raise ValueError(f"image_size={size} is invalid for cxr_synth; expected 24..256")
  if not 0 < prevalence < 1 or not 0 <= opacity_min <= opacity_max:
    raise ValueError(f"prevalence={prevalence}, opacity {opacity_min}..{opacity_max} are invalid; expected "
                     "0 < prevalence < 1 and 0 <= opacity_min <= opacity_max")
  if int(num_images) < 4:
    raise ValueError(f"num_images={num_images} is invalid; expected >= 4")
  rng = np.random.default_rng([seed, data_lib.SPLITS.index(split), 8])
  n = int(num_images)
  n_pos = int(round(prevalence * n))
  labels = rng.permutation(np.r_[np.ones(n_pos), np.zeros(n - n_pos)]).astype(np.int32)
  images = np.empty((n, size, size, 1), np.float32)
  lungs = np.empty((n, size, size), bool)
  for i, y in enumerate(labels):
    img, lungs[i], field = synthetic.xray_phantom(rng, size, opacity=bool(y))
    img = img - field + rng.uniform(opacity_min, opacity_max) * field  # a weaker opacity (same shape)
    images[i, ..., 0] = np.clip(img + noise * rng.standard_normal((size, size)), 0, 1)
  return data_lib.ClassificationData(images, labels, CLASSES, masks=lungs)


def register() -> None:
  """Registers the kermany: and cxr_synth: source schemes (idempotent)."""
  data_lib.register_source("kermany", load_kermany)
  data_lib.register_source("cxr_synth", load_synthetic)
