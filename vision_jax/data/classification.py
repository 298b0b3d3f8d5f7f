"""Offline classification data sources selected by a source string, as numpy arrays.

    data = load_classification("bundled:digits", "train", image_size=32)
    data.images  # (N, H, W, C) float32 in [0, 1]
    data.labels  # (N,) int32, in [0, len(data.class_names))

Sources: "bundled:digits", "bundled:lfw_subset", "synthetic:shapes", "synthetic:xray",
"npz:PATH" (MedMNIST layout) and "tfds:NAME" (needs the `tfds` extra; no download unless
download=True). Splits: "train", "val" (alias "validation"), "test".
More schemes are added with `register_source(scheme, loader)` (a project registers its generator or
the loader of its real dataset's folder layout when it is imported).
Nothing here touches the network by default.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from vision_jax.data import synthetic

SPLITS = ("train", "val", "test")
SCHEMES = ("bundled", "synthetic", "npz", "tfds")
BUNDLED = ("digits", "lfw_subset")
SYNTHETIC = ("shapes", "xray")


@dataclasses.dataclass(frozen=True, eq=False)
class ClassificationData:
  """One split of a classification dataset.

  images: (N, H, W, C) float32 in [0, 1]; labels: (N,) int32 in [0, len(class_names));
  class_names: tuple of str; masks: optional (N, H, W) bool region of interest (the shape
  for synthetic:shapes, the lungs for synthetic:xray) for mask-energy XAI checks;
  aux: extra per-example arrays (e.g. "lesion_masks", "index").
  """

  images: np.ndarray
  labels: np.ndarray
  class_names: tuple[str, ...]
  masks: np.ndarray | None = None
  aux: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    im, lb = self.images, self.labels
    if im.ndim != 4 or im.dtype != np.float32:
      raise ValueError(f"images have shape {im.shape} dtype {im.dtype}; expected (N, H, W, C) float32")
    if lb.shape != (im.shape[0],) or lb.dtype != np.int32:
      raise ValueError(f"labels have shape {lb.shape} dtype {lb.dtype}; expected ({im.shape[0]},) int32")
    if lb.size and (lb.min() < 0 or lb.max() >= len(self.class_names)):
      raise ValueError(f"labels span [{lb.min()}, {lb.max()}]; expected [0, {len(self.class_names) - 1}] "
                       f"for {len(self.class_names)} class names")
    if self.masks is not None and (self.masks.shape != im.shape[:3] or self.masks.dtype != bool):
      raise ValueError(f"masks have shape {self.masks.shape} dtype {self.masks.dtype}; "
                       f"expected {im.shape[:3]} bool")

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def __len__(self) -> int:
    return int(self.images.shape[0])


def _split_name(split: str) -> str:
  split = "val" if split == "validation" else split
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; valid: train, val (or validation), test")
  return split


def _size_hw(image_size) -> tuple[int, int]:
  hw = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
  if len(hw) != 2 or min(hw) < 1:
    raise ValueError(f"image_size={image_size!r} is invalid; expected an int or (height, width) > 0")
  return int(hw[0]), int(hw[1])


def resize_images(images: np.ndarray, image_size) -> np.ndarray:
  """Bilinear resize (N, H, W, C) -> (N, h, w, C) float32 in [0, 1] (skimage, anti-aliased)."""
  from skimage.transform import resize
  h, w = _size_hw(image_size)
  if images.shape[1:3] == (h, w):
    return images
  out = resize(images, (images.shape[0], h, w, images.shape[3]), order=1, preserve_range=True,
               anti_aliasing=h < images.shape[1] or w < images.shape[2])
  return np.clip(out, 0.0, 1.0).astype(np.float32)


def _resize_masks(masks, image_size):
  if masks is None or image_size is None:
    return masks
  from skimage.transform import resize
  h, w = _size_hw(image_size)
  return resize(masks, (masks.shape[0], h, w), order=0, anti_aliasing=False).astype(bool)


def stratified_split(labels: np.ndarray, split: str, seed: int, fractions=(0.7, 0.15, 0.15)) -> np.ndarray:
  """Indices (n,) of `split` in a deterministic stratified train/val/test partition of labels (N,)."""
  from sklearn.model_selection import train_test_split
  idx = np.arange(len(labels))
  rest = fractions[1] + fractions[2]
  train, hold = train_test_split(idx, test_size=rest, stratify=labels, random_state=seed)
  val, test = train_test_split(hold, test_size=fractions[2] / rest, stratify=labels[hold],
                               random_state=seed)
  return np.sort({"train": train, "val": val, "test": test}[split])


def _load_bundled(name: str, split: str, seed: int) -> ClassificationData:
  if name == "digits":
    from sklearn.datasets import load_digits
    d = load_digits()
    images, labels = d.images / 16.0, d.target
    class_names = tuple(str(c) for c in d.target_names)
  elif name == "lfw_subset":  # 100 faces then 100 non-faces, 25x25 in [0, 1]
    from skimage.data import lfw_subset
    images = lfw_subset()
    labels = np.repeat([0, 1], 100)
    class_names = ("face", "non_face")
  else:
    raise ValueError(f"unknown bundled dataset {name!r}; valid: {', '.join(BUNDLED)}")
  idx = stratified_split(labels, split, seed)
  return ClassificationData(images[idx, ..., None].astype(np.float32), labels[idx].astype(np.int32),
                            class_names, aux={"index": idx})


def _load_synthetic(name: str, split: str, seed: int, image_size, kw) -> ClassificationData:
  # Disjoint random streams per split: SeedSequence entropy (seed, split index).
  rng = np.random.default_rng([seed, SPLITS.index(split)])
  num_per_class = kw.pop("num_per_class", 64)
  if image_size is not None and not (np.isscalar(image_size) and int(image_size) == image_size):
    raise ValueError(f"image_size={image_size!r} is invalid for synthetic:{name}; expected one int")
  if name == "shapes":
    size = 32 if image_size is None else int(image_size)
    classes = tuple(kw.pop("classes", synthetic.SHAPE_CLASSES))
    images, labels, masks, aux = synthetic.make_shapes(rng, num_per_class, size, classes, **kw)
  elif name == "xray":
    size = 64 if image_size is None else int(image_size)
    classes = synthetic.XRAY_CLASSES
    images, labels, masks, aux = synthetic.make_xray_phantoms(rng, num_per_class, size, **kw)
  else:
    raise ValueError(f"unknown synthetic dataset {name!r}; valid: {', '.join(SYNTHETIC)}")
  return ClassificationData(images[..., None], labels, classes, masks, aux)


def _to_float_images(images: np.ndarray, where: str) -> np.ndarray:
  """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, H, W, C) in [0, 1]."""
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4:
    raise ValueError(f"{where} has shape {images.shape}; expected (N, H, W) or (N, H, W, C)")
  if images.dtype == np.uint8:
    return images.astype(np.float32) / 255.0
  if np.issubdtype(images.dtype, np.floating) and images.size and 0 <= images.min() and images.max() <= 1:
    return images.astype(np.float32)
  raise ValueError(f"{where} has dtype {images.dtype}; expected uint8 or float in [0, 1]")


def _to_labels(labels: np.ndarray, n: int, where: str) -> np.ndarray:
  """(N,) or (N, 1) integer labels -> (N,) int32; (N, K>1) is multi-label and rejected."""
  if labels.ndim == 2 and labels.shape[1] > 1:
    raise ValueError(f"{where} has shape {labels.shape}: multi-label (N, K) data is not supported yet; "
                     "expected (N,) or (N, 1) class indices")
  labels = labels.reshape(labels.shape[0], -1)[:, 0] if labels.ndim == 2 else labels
  if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{where} has shape {labels.shape} dtype {labels.dtype}; expected ({n},) integers")
  return labels.astype(np.int32)


def _load_npz(path: str, split: str, class_names=None) -> ClassificationData:
  """MedMNIST layout: {split}_images uint8 (N, H, W[, 3]) and {split}_labels (N,) or (N, 1)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"npz file not found: {path!r}")
  with np.load(path, allow_pickle=False) as f:
    keys = sorted(f.files)
    try:
      for key in (f"{split}_images", f"{split}_labels"):
        if key not in keys:
          raise ValueError(f"{path!r} has no key {key!r}; keys present: {', '.join(keys)}")
      images, labels = f[f"{split}_images"], f[f"{split}_labels"]
      if class_names is None:  # same class count for every split: max over all label arrays
        label_sets = [labels] + [f[k] for k in keys if k.endswith("_labels") and k != f"{split}_labels"]
        top = max((int(a.max()) for a in label_sets if a.size and a.ndim <= 2
                   and (a.ndim == 1 or a.shape[1] == 1)), default=-1)
        class_names = tuple(str(c) for c in range(top + 1))
    except ValueError as e:
      if "allow_pickle" in str(e):
        raise ValueError(f"{path!r} holds object arrays, which are refused (allow_pickle=False); "
                         "expected plain numeric arrays") from e
      raise
  images = _to_float_images(images, f"{split}_images in {path!r}")
  labels = _to_labels(labels, images.shape[0], f"{split}_labels in {path!r}")
  return ClassificationData(images, labels, tuple(class_names))


TFDS_SPLITS = {"train": "train", "val": "validation", "test": "test"}


def _load_tfds(name: str, split: str, download: bool = False, tfds_split: str | None = None,
               data_dir: str | None = None) -> ClassificationData:
  """tfds.load(name, as_supervised=True); `tfds_split` overrides the TFDS split string."""
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise ImportError("source 'tfds:' needs tensorflow-datasets; install the `tfds` extra: "
                      "pip install 'vision_jax[tfds]'") from e
  ds, info = tfds.load(name, split=tfds_split or TFDS_SPLITS[split], as_supervised=True, batch_size=-1,
                       download=download, data_dir=data_dir, with_info=True)
  images, labels = tfds.as_numpy(ds)
  images = _to_float_images(np.asarray(images), f"tfds:{name} images")
  labels = _to_labels(np.asarray(labels), images.shape[0], f"tfds:{name} labels")
  label_key = info.supervised_keys[1] if info.supervised_keys else "label"
  names = getattr(info.features[label_key], "names", None)
  names = tuple(names) if names else tuple(str(c) for c in range(int(labels.max(initial=-1)) + 1))
  return ClassificationData(images, labels, names)


# scheme -> loader(name, split, *, image_size, seed, **options) -> ClassificationData (already at image_size).
REGISTERED_SOURCES: dict[str, Callable[..., "ClassificationData"]] = {}


def register_source(scheme: str, loader: Callable[..., "ClassificationData"]) -> None:
  """Adds the source scheme "scheme:NAME" (e.g. "covid_phantoms:default", "galaxy_folder:/path").

  loader(name, split, *, image_size, seed, **options) returns the split as ClassificationData, at
  image_size when it is not None. Re-registering a scheme with the same loader is a no-op.
  """
  if scheme in SCHEMES or (scheme in REGISTERED_SOURCES and REGISTERED_SOURCES[scheme] is not loader):
    raise ValueError(f"data source scheme {scheme!r} is already taken")
  REGISTERED_SOURCES[scheme] = loader


def load_classification(source: str, split: str, *, image_size=None, seed: int = 0,
                        **kw) -> ClassificationData:
  """Loads one split of the classification source `source` as numpy arrays.

  Args:
    source: "scheme:name", scheme one of SCHEMES (see module docstring).
    split: "train", "val" ("validation") or "test".
    image_size: int or (h, w) to resize to (bilinear); None keeps the native size
      (synthetic:shapes 32, synthetic:xray 64; synthetic sources render at that size).
    seed: split seed for bundled sources, generator seed for synthetic ones.
    **kw: per-source options: synthetic `num_per_class` (and `classes` for shapes);
      npz `class_names`; tfds `download` (False), `tfds_split`, `data_dir`.
  Returns:
    ClassificationData with images (N, H, W, C) float32 in [0, 1] and labels (N,) int32.
  """
  scheme, sep, name = str(source).partition(":")
  if sep and scheme in REGISTERED_SOURCES:
    return REGISTERED_SOURCES[scheme](name, _split_name(split), image_size=image_size, seed=seed, **kw)
  if not sep or scheme not in SCHEMES:
    extra = "".join(f", {s}:NAME" for s in sorted(REGISTERED_SOURCES))
    raise ValueError(f"unknown data source {source!r}; valid: bundled:{{{','.join(BUNDLED)}}}, "
                     f"synthetic:{{{','.join(SYNTHETIC)}}}, npz:PATH, tfds:NAME{extra}")
  split = _split_name(split)
  if scheme == "synthetic":
    return _load_synthetic(name, split, seed, image_size, dict(kw))
  if scheme == "bundled":
    if kw:
      raise ValueError(f"bundled sources take no extra options; got {', '.join(sorted(kw))}")
    data = _load_bundled(name, split, seed)
  elif scheme == "npz":
    data = _load_npz(name, split, **kw)
  else:
    data = _load_tfds(name, split, **kw)
  if image_size is not None:
    data = dataclasses.replace(data, images=resize_images(data.images, image_size),
                               masks=_resize_masks(data.masks, image_size))
  return data


def simple_augment(images: np.ndarray, rng: np.random.Generator, *, max_shift: int = 2,
                   hflip: bool = True, vflip: bool = False) -> np.ndarray:
  """Random flips and integer shifts (edge-padded) per image; (N, H, W, C) -> same shape/dtype."""
  n, h, w, _ = images.shape
  out = images.copy()
  if hflip:
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
  if vflip:
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, ::-1]
  if max_shift > 0:
    p = int(max_shift)
    padded = np.pad(out, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
    for i in range(n):
      out[i] = padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
  return out


def batch_iterator(data: ClassificationData, batch_size: int, *, seed: int, shuffle: bool = True,
                   drop_remainder: bool = True,
                   augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                   ) -> Iterator[dict[str, Any]]:
  """Endless iterator of {"image": (B, H, W, C) float32, "label": (B,) int32} batches.

  Epoch e visits every example once in the order np.random.default_rng(seed + e).permutation(N)
  (index order if shuffle=False); with drop_remainder the last partial batch of each epoch is
  dropped, otherwise yielded smaller. `augment(images, rng)` is applied per batch with an rng
  drawn from the epoch generator.
  """
  n = len(data)
  if batch_size < 1 or (drop_remainder and batch_size > n):
    raise ValueError(f"batch_size={batch_size} is invalid for {n} examples; expected 1..{n}"
                     + ("" if drop_remainder else " or more with drop_remainder=False"))
  epoch = 0
  while True:
    rng = np.random.default_rng(seed + epoch)
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_remainder else n
    for start in range(0, stop, batch_size):
      idx = order[start:start + batch_size]
      images = data.images[idx]
      if augment is not None:
        images = augment(images, rng)
      yield {"image": images, "label": data.labels[idx]}
    epoch += 1
