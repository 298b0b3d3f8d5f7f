"""Single-object localization data: a class and a box per image, as ClassificationData with boxes in aux.

Sources (registered as classification source schemes, so the classify task and any project can load them):
- "localization:digits": scikit-learn's bundled digits (1,797 8x8 images, 10 classes) upsampled to a
  random size and aspect and pasted at a random position on a textured, tinted, noisy canvas. The
  1,797 digit images are first split 70/15/15 (stratified), so the val / test canvases show digit
  instances the training canvases never contain. Exact labels, boxes and object masks.
- "voc:ROOT": an ImageNet-style folder with Pascal VOC XML boxes (the ILSVRC CLS-LOC layout):
  ROOT/Data/<split>/<class>/<image>.(jpeg|jpg|png) with ROOT/Annotations/<split>/<class>/<image>.xml.

Boxes: aux["boxes"] (N, 4) float64 xyxy in pixels of the returned image, pixel (i, j) covering
[j, j + 1) x [i, i + 1) (so a box spanning whole pixels has integer corners); aux["all_boxes"] (M, 4)
and aux["box_image"] (M,) list every annotated box (an ILSVRC image may have several of its class);
aux["boxes"] is each image's largest. VOC's 1-based inclusive pixel corners (xmin..xmax) become
[xmin - 1, xmax).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np

from vision_jax.data import classification as cls_data
from vision_jax.data import synthetic

__all__ = ["make_digit_canvases", "load_digits_localization", "load_voc_folder", "parse_voc_xml", "SPLIT_SIZES"]

SPLIT_SIZES = {"train": 700, "val": 300, "test": 200}  # canvases per split when num_images is not given
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")


def _digit_pool(split: str, seed: int):
  from sklearn.datasets import load_digits
  d = load_digits()
  idx = cls_data.stratified_split(d.target, split, seed)
  return d.images[idx] / 16.0, d.target[idx].astype(np.int32)


def _resize(img: np.ndarray, hw) -> np.ndarray:
  from skimage.transform import resize
  return resize(img, hw, order=1, mode="edge", anti_aliasing=False)


def make_digit_canvases(rng: np.random.Generator, digits: np.ndarray, digit_labels: np.ndarray, n: int,
                        size: int = 64, scale=(0.25, 0.7), aspect=(0.8, 1.25), noise_std: float = 0.04,
                        threshold: float = 0.1):
  """n canvases (n, size, size, 3) float32 in [0, 1] with one digit each.

  Per canvas: a digit drawn from (digits (K, 8, 8) in [0, 1], digit_labels (K,)); side s = U(scale) *
  size, width s * a and height s / a with a ~ U(aspect); bilinear upsampling; position uniform with
  the digit inside the canvas; colour random in [0.55, 1]^3, alpha = the upsampled intensity; the
  background is synthetic.textured_background tinted per channel; Gaussian noise of noise_std.
  The box is the tight box of the pixels with alpha > threshold (the visible stroke), the mask
  those pixels. Returns images, labels (n,) int32, boxes (n, 4) xyxy, masks (n, size, size) bool.
  """
  if size < 16:
    raise ValueError(f"size={size} is too small; expected >= 16")
  if not 0 < scale[0] <= scale[1] <= 1:
    raise ValueError(f"scale={scale!r} is invalid; expected 0 < lo <= hi <= 1 (fractions of the side)")
  images = np.empty((n, size, size, 3), np.float32)
  labels = np.empty(n, np.int32)
  boxes = np.empty((n, 4))
  masks = np.zeros((n, size, size), bool)
  for i in range(n):
    k = rng.integers(len(digits))
    labels[i] = digit_labels[k]
    s = rng.uniform(*scale) * size
    a = rng.uniform(*aspect)
    h, w = int(np.clip(round(s / a), 8, size)), int(np.clip(round(s * a), 8, size))
    alpha = np.clip(_resize(digits[k], (h, w)), 0, 1)
    y0, x0 = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
    tint = rng.uniform(0.5, 1.3, 3)
    canvas = np.clip(synthetic.textured_background(rng, size)[..., None] * tint, 0, 1)
    colour = rng.uniform(0.55, 1.0, 3)
    region = canvas[y0:y0 + h, x0:x0 + w]
    canvas[y0:y0 + h, x0:x0 + w] = (1 - alpha[..., None]) * region + alpha[..., None] * colour
    on = np.zeros((size, size), bool)
    on[y0:y0 + h, x0:x0 + w] = alpha > threshold
    rows, cols = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
    boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    masks[i] = on
    images[i] = np.clip(canvas + noise_std * rng.standard_normal(canvas.shape), 0, 1)
  return images, labels, boxes, masks


def load_digits_localization(name: str, split: str, *, image_size=None, seed: int = 0, num_train: int = 0,
                             num_val: int = 0, num_test: int = 0, scale=(0.25, 0.7),
                             noise_std: float = 0.04) -> cls_data.ClassificationData:
  """Source "localization:digits" (see module doc); num_<split> canvases per split (0: SPLIT_SIZES)."""
  if name != "digits":
    raise ValueError(f"unknown localization dataset {name!r}; valid: digits")
  if image_size is not None and not np.isscalar(image_size):
    raise ValueError(f"image_size={image_size!r} is invalid for localization:digits; expected one int")
  size = 64 if image_size is None else int(image_size)
  sizes = {"train": num_train, "val": num_val, "test": num_test}
  if min(sizes.values()) < 0:
    raise ValueError(f"num_train/num_val/num_test = {tuple(sizes.values())}; expected counts >= 0 (0: default)")
  n = int(sizes[split]) or SPLIT_SIZES[split]
  digits, dlabels = _digit_pool(split, seed)
  rng = np.random.default_rng([seed, cls_data.SPLITS.index(split), 7])
  images, labels, boxes, masks = make_digit_canvases(rng, digits, dlabels, n, size, tuple(scale), noise_std=noise_std)
  aux = {"boxes": boxes, "all_boxes": boxes.copy(), "box_image": np.arange(n)}
  return cls_data.ClassificationData(images, labels, tuple(str(c) for c in range(10)), masks, aux)


def parse_voc_xml(path: str) -> tuple[tuple[int, int], list[tuple[str, np.ndarray]]]:
  """((height, width), [(class name, xyxy box in pixels [xmin - 1, ymin - 1, xmax, ymax]), ...]) of a VOC XML."""
  try:
    root = ET.parse(path).getroot()
    size = root.find("size")
    hw = (int(size.findtext("height")), int(size.findtext("width")))
    objects = []
    for obj in root.iter("object"):
      bb = obj.find("bndbox")
      xmin, ymin, xmax, ymax = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
      objects.append((obj.findtext("name").strip(), np.array([xmin - 1, ymin - 1, xmax, ymax])))
  except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
    raise ValueError(f"{path!r} is not a Pascal VOC annotation with size and object/bndbox fields ({e})") from None
  if not objects:
    raise ValueError(f"{path!r} has no <object> with a <bndbox>; expected at least one box")
  return hw, objects


def load_voc_folder(root: str, split: str, *, image_size=None, seed: int = 0, class_names=None
                    ) -> cls_data.ClassificationData:
  """Source "voc:ROOT": the ILSVRC CLS-LOC-style layout of the module doc; images resized to image_size
  (default 64) with their boxes scaled alike. Class names: the sorted class folders of the train split
  (or `class_names`), so every split uses the same label ids; only boxes of the image's class count."""
  del seed
  from skimage import io
  data_dir = os.path.join(root, "Data", split)
  ann_dir = os.path.join(root, "Annotations", split)
  if not os.path.isdir(data_dir):
    raise FileNotFoundError(f"no folder {data_dir!r}; expected ROOT/Data/<split>/<class>/<image> "
                            "with ROOT/Annotations/<split>/<class>/<image>.xml")
  if class_names is None:
    train_dir = os.path.join(root, "Data", "train")
    class_names = sorted(d for d in os.listdir(train_dir if os.path.isdir(train_dir) else data_dir)
                         if not d.startswith("."))
  class_names = tuple(class_names)
  hw = (64, 64) if image_size is None else ((int(image_size),) * 2 if np.isscalar(image_size) else tuple(image_size))
  images, labels, boxes, all_boxes, box_image = [], [], [], [], []
  for label, cname in enumerate(class_names):
    folder = os.path.join(data_dir, cname)
    if not os.path.isdir(folder):
      continue
    for fname in sorted(os.listdir(folder)):
      stem, ext = os.path.splitext(fname)
      if ext.lower() not in IMAGE_EXTENSIONS:
        continue
      xml = os.path.join(ann_dir, cname, stem + ".xml")
      if not os.path.isfile(xml):
        raise FileNotFoundError(f"image {os.path.join(folder, fname)!r} has no annotation {xml!r}")
      (ah, aw), objects = parse_voc_xml(xml)
      try:
        img = io.imread(os.path.join(folder, fname))
      except (OSError, ValueError) as e:
        raise ValueError(f"cannot read image {os.path.join(folder, fname)!r} ({e})") from None
      img = np.asarray(img, np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
      img = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img[..., :3]
      if img.shape[:2] != (ah, aw):
        raise ValueError(f"{xml!r} says {ah}x{aw} but the image is {img.shape[0]}x{img.shape[1]}")
      own = [b for n, b in objects if n == cname] or [b for _, b in objects]
      scale = np.array([hw[1] / aw, hw[0] / ah, hw[1] / aw, hw[0] / ah])
      scaled = [b * scale for b in own]
      areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in scaled]
      i = len(images)
      images.append(np.clip(_resize(img, (*hw, 3)), 0, 1).astype(np.float32))
      labels.append(label)
      boxes.append(scaled[int(np.argmax(areas))])
      all_boxes += scaled
      box_image += [i] * len(scaled)
  if not images:
    raise FileNotFoundError(f"no images with annotations under {data_dir!r} for classes {', '.join(class_names)}")
  n = len(images)
  masks = np.zeros((n, *hw), bool)
  cy, cx = np.arange(hw[0]) + 0.5, np.arange(hw[1]) + 0.5
  for i, b in enumerate(boxes):
    masks[i] = ((cy >= b[1]) & (cy < b[3]))[:, None] & ((cx >= b[0]) & (cx < b[2]))[None, :]
  aux = {"boxes": np.asarray(boxes), "all_boxes": np.asarray(all_boxes), "box_image": np.asarray(box_image)}
  return cls_data.ClassificationData(np.stack(images), np.asarray(labels, np.int32), class_names, masks, aux)


def _voc_source(name, split, *, image_size=None, seed=0, **kw):
  return load_voc_folder(name, split, image_size=image_size, seed=seed, **kw)


for _scheme, _loader in (("localization", load_digits_localization), ("voc", _voc_source)):
  cls_data.register_source(_scheme, _loader)
