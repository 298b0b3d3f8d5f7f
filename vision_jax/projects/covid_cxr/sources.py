"""The project's data sources, registered with vision_jax.data.classification.register_source:

    covid_phantoms:default      synthetic PA radiographs (vision_jax.data.chest_xray), exact lung masks
    covid_radiography:ROOT      the COVID-19 Radiography Database folder layout (ROOT/<class>/{images,masks})

Both give the binary COVID-vs-rest task (class_names ("non_covid", "covid")), a stratified 70/15/15
split of the pool (stratified on the four source classes when each has >= 10 images, else on the binary label), the corner
marker shortcut on the splits named by `marker_splits` (default train and val: a confounded source; the
test split stays clean) and the preprocessing of pipeline.py. Options (config.data.options): the Pipeline
fields (isolate, channels, clahe_clip, ...), marker, marker_rates "p_pos,p_neg", marker_splits; phantoms
also num_images and prevalence; the folder resize_masks (False: a mask of another size is refused).

ClassificationData: images (N, H, W, C) float32 in [0, 1] (the selected channels), labels (N,) int32 (1 =
COVID), masks (N, H, W) bool (the dataset's / exact lung masks), aux {"raw": (N, H, W) radiographs before
preprocessing (with the marker when painted), "otsu_masks": safe_lung_mask of raw (N, H, W),
"otsu_fallback": (N,) bool, "source_class": (N,) int32, "marker": (N,) bool, "index": (N,) pool indices,
"lesion_masks" (phantoms only)}. Over-sampling of the positives happens in the training batches
(training.oversample_indices), so no split holds duplicated images.
"""

from __future__ import annotations

import functools

import numpy as np

from vision_jax.data import chest_xray as cx
from vision_jax.data import classification as data_lib
from vision_jax.projects.covid_cxr import pipeline as pl

CLASS_NAMES = ("non_covid", "covid")
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)
MARKER_STREAM = 99  # SeedSequence entropy [seed, MARKER_STREAM]: marker draws independent of the images


def _size(image_size) -> int:
  if image_size is None:
    return 128
  if not np.isscalar(image_size) or int(image_size) != image_size or int(image_size) < 32:
    raise ValueError(f"image_size={image_size!r} is invalid for the chest sources; expected one int >= 32")
  return int(image_size)


def _marker_options(marker, marker_rates, marker_splits) -> tuple[bool, tuple[float, float], tuple[str, ...]]:
  rates = tuple(float(r) for r in pl._names(marker_rates)) if isinstance(marker_rates, str) else tuple(marker_rates)
  if len(rates) != 2 or not all(0.0 <= r <= 1.0 for r in rates):
    raise ValueError(f"marker_rates={marker_rates!r} is invalid; expected 'p_pos,p_neg', two probabilities")
  splits = pl._names(marker_splits)
  bad = [s for s in splits if s not in data_lib.SPLITS]
  if bad:
    raise ValueError(f"marker_splits={marker_splits!r} names {bad[0]!r}; expected a comma list of train, val, test")
  return bool(marker), rates, splits


def check_both_classes(labels, where: str) -> None:
  """ValueError unless labels (N,) hold both classes (MCC, AUC and the threshold sweep need them)."""
  present = np.unique(np.asarray(labels))
  if present.size < 2:
    only = CLASS_NAMES[int(present[0])] if present.size else "nothing"
    raise ValueError(f"{where} holds only {only!r} ({len(labels)} images); expected both covid and non_covid "
                     "examples (more images or another split seed)")


MIN_PER_CLASS = 10  # stratify by the four source classes when each has this many images, else by the label


def _split_index(source_class: np.ndarray, labels: np.ndarray, split: str, seed: int) -> np.ndarray:
  """Indices of `split` in the stratified 70/15/15 partition: by source class when every class has at
  least MIN_PER_CLASS images (so each split keeps the class mix), else by the binary label."""
  counts = np.bincount(source_class)
  strata = source_class if counts[counts > 0].min() >= MIN_PER_CLASS else labels
  try:
    return data_lib.stratified_split(strata, split, seed, SPLIT_FRACTIONS)
  except ValueError as e:  # too few images of a class for a stratified 70/15/15 split
    raise ValueError(f"cannot split {len(labels)} images 70/15/15 stratified by class (counts "
                     f"{np.bincount(strata).tolist()}): {e}") from None


def _assemble(raw, labels, lungs, source_class, index, marker, p: pl.Pipeline, stack, extra_aux) -> data_lib.ClassificationData:
  otsu, fallback, reasons = pl.otsu_masks(raw)
  aux = {"raw": raw, "otsu_masks": otsu, "otsu_fallback": fallback,
         "otsu_reason": np.asarray(reasons, dtype=str), "source_class": source_class.astype(np.int32),
         "marker": marker, "index": index, **extra_aux}
  return data_lib.ClassificationData(np.ascontiguousarray(stack[..., p.channel_index()]), labels.astype(np.int32),
                                     CLASS_NAMES, lungs.astype(bool), aux)


# ----------------------------------------------------------------------------- phantoms
@functools.lru_cache(maxsize=2)
def _phantom_pool(seed: int, num_images: int, size: int, prevalence: float):
  rng = np.random.default_rng([seed, 0])
  return cx.make_chest_phantoms(rng, num_images, size, prevalence)


@functools.lru_cache(maxsize=24)  # the study's variants (isolation x marker x split) all stay cached
def _phantom_split(seed, num_images, size, prevalence, split, marker_on, rates, p_stack: pl.Pipeline):
  images, labels, lungs, aux = _phantom_pool(seed, num_images, size, prevalence)
  idx = _split_index(aux["finding"], labels, split, seed)
  marker = np.zeros(idx.size, bool)
  if marker_on:
    draws = np.random.default_rng([seed, MARKER_STREAM]).random(num_images)
    marker = (draws < np.where(labels == 1, rates[0], rates[1]))[idx]
  if not marker.any():
    return images[idx], pl.preprocess(images[idx], lungs[idx], p_stack, desc=f"phantoms {split}"), idx, marker
  clean_raw, clean_stack, _, _ = _phantom_split(seed, num_images, size, prevalence, split, False, rates, p_stack)
  raw, stack = _paint_markers(clean_raw, clean_stack, lungs[idx], marker, p_stack)
  return raw, stack, idx, marker


def _paint_markers(raw, stack, lungs, marker, p_stack: pl.Pipeline):
  """Copies of a split's radiographs and channel stack with the marker painted into the images flagged by
  `marker`; only those are preprocessed again (the others are bit-identical to the clean split)."""
  raw, stack = raw.copy(), stack.copy()
  for i in np.flatnonzero(marker):
    raw[i] = cx.add_corner_marker(raw[i])
    stack[i] = pl.channel_stack(raw[i], lungs[i], p_stack)
  return raw, stack


def load_phantoms(name: str, split: str, *, image_size=None, seed: int = 0, num_images: int = 800,
                  prevalence: float = 0.17, marker: bool = False, marker_rates="0.9,0.1",
                  marker_splits="train,val", **options) -> data_lib.ClassificationData:
  """Loader of "covid_phantoms:default" (see the module docstring)."""
  if name != "default":
    raise ValueError(f"unknown covid_phantoms dataset {name!r}; valid: default")
  p, rest = pl.pipeline_from_options(options)
  if rest:
    raise ValueError(f"covid_phantoms does not take option(s) {', '.join(sorted(rest))}; valid: num_images, "
                     "prevalence, marker, marker_rates, marker_splits and the pipeline fields")
  size = _size(image_size)
  if int(num_images) != num_images or num_images < 20:
    raise ValueError(f"num_images={num_images!r} is invalid; expected an integer >= 20 (a 70/15/15 split)")
  if not 0.0 <= float(prevalence) <= 1.0:
    raise ValueError(f"prevalence={prevalence!r} is invalid; expected a fraction in [0, 1]")
  marker_on, rates, splits = _marker_options(marker, marker_rates, marker_splits)
  images, labels, lungs, aux = _phantom_pool(int(seed), int(num_images), size, float(prevalence))
  raw, stack, idx, mark = _phantom_split(int(seed), int(num_images), size, float(prevalence), split,
                                         marker_on and split in splits, rates, p.stack_key)
  extra = {"lesion_masks": aux["lesion_masks"][idx], "severity": aux["severity"][idx]}
  return _assemble(raw, labels[idx], lungs[idx], aux["finding"][idx], idx, mark, p, stack, extra)


# ----------------------------------------------------------------------------- the database folder
@functools.lru_cache(maxsize=1)
def _folder_listing(root: str):
  return cx.list_radiography_folder(root)


def _read_pair(image_path, mask_path, size, resize_masks):
  from skimage.transform import resize
  img = cx.read_radiograph(image_path)
  mask = cx.read_mask(mask_path, img.shape, resize=resize_masks)
  if img.shape != (size, size):
    img = np.clip(resize(img, (size, size), order=1, anti_aliasing=img.shape[0] > size), 0, 1).astype(np.float32)
    mask = resize(mask, (size, size), order=0, anti_aliasing=False, preserve_range=True).astype(bool)
  return img, mask


@functools.lru_cache(maxsize=3)
def _folder_split(root, size, seed, split, resize_masks, marker_on, rates, p_stack: pl.Pipeline):
  images, masks, ids = _folder_listing(root)
  labels = (ids == cx.RADIOGRAPHY_CLASSES.index("COVID")).astype(np.int32)
  idx = _split_index(ids, labels, split, seed)
  pairs = [_read_pair(images[i], masks[i], size, resize_masks) for i in idx]
  raw = np.stack([a for a, _ in pairs]).astype(np.float32)
  lungs = np.stack([b for _, b in pairs])
  marker = np.zeros(idx.size, bool)
  if marker_on:
    draws = np.random.default_rng([seed, MARKER_STREAM]).random(len(ids))
    marker = (draws < np.where(labels == 1, rates[0], rates[1]))[idx]
  if not marker.any():
    stack = pl.preprocess(raw, lungs, p_stack, desc=f"radiography {split}")
    return raw, lungs, stack, idx, labels[idx], ids[idx], marker
  clean = _folder_split(root, size, seed, split, resize_masks, False, rates, p_stack)
  raw, stack = _paint_markers(clean[0], clean[2], lungs, marker, p_stack)
  return raw, lungs, stack, idx, labels[idx], ids[idx], marker


def load_radiography(root: str, split: str, *, image_size=None, seed: int = 0, resize_masks: bool = False,
                     marker: bool = False, marker_rates="0.9,0.1", marker_splits="train,val",
                     **options) -> data_lib.ClassificationData:
  """Loader of "covid_radiography:ROOT" (see the module docstring); images and masks are resized to
  image_size (bilinear / nearest), default 128."""
  p, rest = pl.pipeline_from_options(options)
  if rest:
    raise ValueError(f"covid_radiography does not take option(s) {', '.join(sorted(rest))}; valid: resize_masks, "
                     "marker, marker_rates, marker_splits and the pipeline fields")
  size = _size(image_size)
  marker_on, rates, splits = _marker_options(marker, marker_rates, marker_splits)
  raw, lungs, stack, idx, labels, ids, mark = _folder_split(str(root), size, int(seed), split, bool(resize_masks),
                                                            marker_on and split in splits, rates, p.stack_key)
  return _assemble(raw, labels, lungs, ids, idx, mark, p, stack, {})


def register() -> None:
  """Registers both schemes (idempotent)."""
  data_lib.register_source("covid_phantoms", load_phantoms)
  data_lib.register_source("covid_radiography", load_radiography)
