"""Data of the MedMNIST ensembles project: the real MedMNIST v2 files and an offline stand-in.

medmnist:FLAG (FLAG in pathmnist, organamnist, octmnist; option root = the folder holding FLAG.npz,
  the layout of the MedMNIST v2 release: {train,val,test}_images uint8 (N, 28, 28[, 3]) and
  {train,val,test}_labels (N, 1)). Loaded through the library's npz: loader, checked against the
  dataset's image shape and class count, with MedMNIST's class names. Option max_per_split keeps a
  deterministic stratified subset (0: all).
medmnist_synth:FLAG: a synthetic stand-in with exact labels at 28 x 28 (RGB for pathmnist, gray for
  organamnist / octmnist) and the same class counts (9 / 11 / 4). Each class is a prototype in a
  4-factor space (texture frequency, texture orientation, blob density, blob radius; plus a stain
  colour for the RGB set); each image draws its factors around its class prototype with a jitter of
  `difficulty` times the prototype spacing, so neighbouring classes overlap and no model is
  perfect. Class frequencies approximate each MedMNIST training split (OCT's test split is
  balanced, as in MedMNIST). Options: num_train, num_val, num_test, difficulty. The split streams
  are disjoint (seed, split index).
Nothing downloads.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from vision_jax.data import classification as data_lib


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """flag: MedMNIST file name; channels; class_names; train_prior: approximate class frequencies of
  the training split; balanced_test: the test split is balanced (OCTMNIST)."""
  flag: str
  channels: int
  class_names: tuple[str, ...]
  train_prior: tuple[float, ...]
  balanced_test: bool = False

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


DATASETS = {
    "pathmnist": DatasetSpec("pathmnist", 3, (
        "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
        "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
        (0.10, 0.11, 0.12, 0.12, 0.09, 0.14, 0.09, 0.10, 0.13)),
    "organamnist": DatasetSpec("organamnist", 1, (
        "bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
        "lung-right", "pancreas", "spleen"),
        (0.057, 0.040, 0.039, 0.043, 0.115, 0.110, 0.178, 0.113, 0.114, 0.088, 0.103)),
    "octmnist": DatasetSpec("octmnist", 1, (
        "choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
        (0.34, 0.10, 0.08, 0.48), balanced_test=True),
}
ALIASES = {"path": "pathmnist", "organa": "organamnist", "oct": "octmnist"}
SIZE = 28


def dataset_spec(name: str) -> DatasetSpec:
  """The DatasetSpec of a flag or alias (path, organa, oct); ValueError listing the valid ones."""
  flag = ALIASES.get(name, name)
  if flag not in DATASETS:
    raise ValueError(f"unknown MedMNIST dataset {name!r}; valid: {', '.join(list(DATASETS) + list(ALIASES))}")
  return DATASETS[flag]


# ----------------------------------------------------------------------------- real files
def _subset(data: data_lib.ClassificationData, n: int, seed: int) -> data_lib.ClassificationData:
  if not n or n >= len(data):
    return data
  from sklearn.model_selection import train_test_split
  counts = np.bincount(data.labels)
  strat = data.labels if counts[counts > 0].min() >= 2 else None
  idx, _ = train_test_split(np.arange(len(data)), train_size=n, stratify=strat, random_state=seed)
  idx = np.sort(idx)
  return dataclasses.replace(data, images=data.images[idx], labels=data.labels[idx])


def load_medmnist(name: str, split: str, *, image_size=None, seed: int = 0, root: str = "",
                  max_per_split: int = 0) -> data_lib.ClassificationData:
  """One split of ROOT/FLAG.npz in the MedMNIST v2 layout, checked against the dataset's shape."""
  spec = dataset_spec(name)
  if not root:
    raise ValueError(f"source medmnist:{name} needs data.options.root, the folder holding {spec.flag}.npz")
  path = os.path.join(str(root), f"{spec.flag}.npz")
  data = data_lib.load_classification(f"npz:{path}", split, class_names=spec.class_names)
  want = (SIZE, SIZE, spec.channels)
  if tuple(data.images.shape[1:]) != want:
    raise ValueError(f"{path} {split}_images have shape {data.images.shape[1:]}; expected {want} for {spec.flag}")
  data = _subset(data, int(max_per_split), seed)
  if image_size is not None:
    data = dataclasses.replace(data, images=data_lib.resize_images(data.images, image_size))
  return data


# ----------------------------------------------------------------------------- synthetic stand-in
def _prototypes(spec: DatasetSpec) -> dict:
  """Fixed class prototypes (one permutation of evenly spaced levels per factor)."""
  rng = np.random.default_rng([2024, spec.num_classes, spec.channels])
  k = spec.num_classes
  level = lambda lo, hi: rng.permutation(np.linspace(lo, hi, k))
  return {"freq": level(1.5, 6.0), "angle": rng.permutation(np.arange(k) * np.pi / k),
          "density": level(1.0, 9.0), "radius": level(1.2, 3.6), "hue": level(0.0, 1.0),
          "spacing": {"freq": 4.5 / max(k - 1, 1), "angle": np.pi / k, "density": 8.0 / max(k - 1, 1),
                      "radius": 2.4 / max(k - 1, 1), "hue": 1.0 / max(k - 1, 1)}}


def render(rng: np.random.Generator, labels: np.ndarray, spec: DatasetSpec, difficulty: float = 0.4,
           size: int = SIZE) -> np.ndarray:
  """Images (N, size, size, C) float32 in [0, 1] for `labels` (N,)."""
  proto = _prototypes(spec)
  sp = proto["spacing"]
  n = len(labels)
  jitter = lambda key: proto[key][labels] + difficulty * sp[key] * rng.standard_normal(n)
  freq, angle = np.clip(jitter("freq"), 0.8, None), jitter("angle")
  density, radius = np.clip(jitter("density"), 0.3, None), np.clip(jitter("radius"), 0.8, None)
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
  phase = rng.uniform(0, 2 * np.pi, n)
  coord = xx[None] * np.cos(angle)[:, None, None] + yy[None] * np.sin(angle)[:, None, None]
  texture = 0.5 + 0.5 * np.sin(2 * np.pi * freq[:, None, None] * coord + phase[:, None, None])
  max_blobs = 16
  counts = np.minimum(rng.poisson(density), max_blobs)
  blobs = np.zeros((n, size, size), np.float32)
  for b in range(max_blobs):
    on = counts > b
    if not on.any():
      break
    cy, cx = rng.uniform(0, size, (2, n))
    r = radius * rng.uniform(0.8, 1.25, n)
    d2 = (np.arange(size)[None, :, None] - cy[:, None, None]) ** 2 + (np.arange(size)[None, None, :] - cx[:, None, None]) ** 2
    blobs += on[:, None, None] * np.exp(-d2 / (2 * r[:, None, None] ** 2))
  blobs = np.clip(blobs, 0, 1)
  noise = lambda: 0.08 * rng.standard_normal((n, size, size))
  if spec.channels == 1:
    img = 0.35 * texture + 0.55 * blobs + 0.1 + noise()
    return np.clip(img, 0, 1)[..., None].astype(np.float32)
  hue = np.clip(jitter("hue"), 0, 1)
  stain = np.stack([0.85 - 0.25 * hue, 0.45 + 0.1 * hue, 0.65 + 0.25 * hue], -1)  # pink .. purple
  nuclei = np.array([0.35, 0.2, 0.55])
  base = 0.92 - 0.5 * texture[..., None] * (1 - stain[:, None, None, :])
  img = base * (1 - 0.8 * blobs[..., None]) + 0.8 * blobs[..., None] * nuclei
  img = img + np.stack([noise() for _ in range(3)], -1)
  return np.clip(img, 0, 1).astype(np.float32)


def synthetic_labels(rng: np.random.Generator, spec: DatasetSpec, split: str, n: int) -> np.ndarray:
  """n labels: balanced for OCT's test split, else drawn with the dataset's training prior."""
  if split == "test" and spec.balanced_test:
    return rng.permutation(np.arange(n) % spec.num_classes).astype(np.int32)
  prior = np.asarray(spec.train_prior) / np.sum(spec.train_prior)
  return rng.choice(spec.num_classes, size=n, p=prior).astype(np.int32)


def load_synthetic(name: str, split: str, *, image_size=None, seed: int = 0, num_train: int = 2000,
                   num_val: int = 500, num_test: int = 1000, difficulty: float = 0.4) -> data_lib.ClassificationData:
  """One split of the synthetic stand-in of dataset `name` (see the module docstring)."""
  spec = dataset_spec(name)
  sizes = {"train": int(num_train), "val": int(num_val), "test": int(num_test)}
  if min(sizes.values()) < spec.num_classes:
    raise ValueError(f"medmnist_synth:{name} split sizes {sizes} are invalid; expected >= {spec.num_classes} each")
  if not 0 <= float(difficulty) <= 5:
    raise ValueError(f"difficulty={difficulty!r} is invalid; expected 0..5 (prototype spacings)")
  rng = np.random.default_rng([seed, data_lib.SPLITS.index(split), spec.num_classes])
  labels = synthetic_labels(rng, spec, split, sizes[split])
  images = render(rng, labels, spec, float(difficulty))
  if image_size is not None and int(np.atleast_1d(image_size)[0]) != SIZE:
    images = data_lib.resize_images(images, image_size)
  return data_lib.ClassificationData(images, labels, spec.class_names)


def register() -> None:
  """Registers the medmnist: and medmnist_synth: source schemes (idempotent)."""
  data_lib.register_source("medmnist", load_medmnist)
  data_lib.register_source("medmnist_synth", load_synthetic)
