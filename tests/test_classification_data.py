"""Offline classification sources: bundled, synthetic, npz (MedMNIST layout), tfds (mocked), batching."""

import hashlib

import numpy as np
import pytest
from skimage import draw
from sklearn.datasets import load_digits

from vision_jax.data import synthetic
from vision_jax.data.classification import (ClassificationData, batch_iterator, load_classification,
                                            simple_augment)


def _hashes(images):
  return {hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest() for x in images}


# ---------------------------------------------------------------- bundled
def test_digits_splits_are_stratified_disjoint_and_exact():
  splits = {s: load_classification("bundled:digits", s, seed=3) for s in ("train", "val", "test")}
  assert {s: len(d) for s, d in splits.items()} == {"train": 1257, "val": 270, "test": 270}
  ref = load_digits()
  totals = np.bincount(ref.target, minlength=10)
  for frac, d in zip((0.7, 0.15, 0.15), splits.values()):
    assert d.images.shape[1:] == (8, 8, 1) and d.images.dtype == np.float32 and d.labels.dtype == np.int32
    assert d.class_names == tuple(str(i) for i in range(10))
    np.testing.assert_allclose(d.images[..., 0], ref.images[d.aux["index"]] / 16.0)
    np.testing.assert_array_equal(d.labels, ref.target[d.aux["index"]])
    assert np.all(np.abs(np.bincount(d.labels, minlength=10) - frac * totals) <= 1.5)
  h = [_hashes(d.images) for d in splits.values()]
  assert not (h[0] & h[1]) and not (h[0] & h[2]) and not (h[1] & h[2])
  assert len(h[0] | h[1] | h[2]) == 1797
  again = load_classification("bundled:digits", "val", seed=3)
  np.testing.assert_array_equal(again.images, splits["val"].images)
  other = load_classification("bundled:digits", "val", seed=4)
  assert not np.array_equal(other.aux["index"], again.aux["index"])


def test_digits_resize_and_lfw_subset():
  d = load_classification("bundled:digits", "test", image_size=16)
  assert d.images.shape == (270, 16, 16, 1) and d.images.min() >= 0 and d.images.max() <= 1
  small = load_classification("bundled:digits", "test")
  np.testing.assert_allclose(d.images.mean(axis=(1, 2, 3)), small.images.mean(axis=(1, 2, 3)), atol=0.03)
  faces = load_classification("bundled:lfw_subset", "train")
  assert faces.images.shape == (140, 25, 25, 1) and faces.class_names == ("face", "non_face")
  assert np.bincount(faces.labels).tolist() == [70, 70]


# ---------------------------------------------------------------- synthetic:shapes
CROSS_Q = synthetic.CROSS_HALF_WIDTH
AREA_OVER_R2 = {"circle": np.pi, "square": 2.0, "triangle": 3 * np.sqrt(3) / 4,
                "cross": (8 * CROSS_Q - 4 * CROSS_Q**2) / (1 + CROSS_Q**2)}


def _skimage_raster(name, size, center, radius, angle):
  mask = np.zeros((size, size), bool)
  if name == "circle":
    rr, cc = draw.disk(center, radius, shape=mask.shape)
  else:
    v = synthetic.shape_vertices(name, center, radius, angle)
    rr, cc = draw.polygon(v[:, 0], v[:, 1], shape=mask.shape)
  mask[rr, cc] = True
  return mask


def test_shapes_labels_match_the_drawn_shape():
  size = 64
  d = load_classification("synthetic:shapes", "train", image_size=size, num_per_class=6, seed=1)
  assert d.class_names == synthetic.SHAPE_CLASSES and np.bincount(d.labels).tolist() == [6] * 4
  assert d.images.shape == (24, size, size, 1) and d.masks.shape == (24, size, size)
  assert 0 <= d.images.min() and d.images.max() <= 1
  aux = d.aux
  for i, label in enumerate(d.labels):
    name, mask = d.class_names[label], d.masks[i]
    r = aux["radius"][i]
    assert abs(mask.sum() / r**2 - AREA_OVER_R2[name]) < 0.12 * AREA_OVER_R2[name]
    ious = []
    for other in d.class_names:  # independent rasterisation by scikit-image
      ref = _skimage_raster(other, size, aux["center"][i], r, aux["angle"][i])
      ious.append((mask & ref).sum() / (mask | ref).sum())
    assert int(np.argmax(ious)) == label and ious[label] > 0.85
    # the shape is drawn at its intensity (before noise) and stands out from the background
    assert abs(d.images[i, mask, 0].mean() - aux["intensity"][i]) < 0.02
    assert d.images[i, mask, 0].mean() > d.images[i, ~mask, 0].mean() + 0.15


def test_shapes_deterministic_and_splits_disjoint():
  a = load_classification("synthetic:shapes", "train", num_per_class=5, seed=7)
  b = load_classification("synthetic:shapes", "train", num_per_class=5, seed=7)
  np.testing.assert_array_equal(a.images, b.images)
  np.testing.assert_array_equal(a.labels, b.labels)
  np.testing.assert_array_equal(a.masks, b.masks)
  h = [_hashes(load_classification("synthetic:shapes", s, num_per_class=5, seed=7).images)
       for s in ("train", "val", "test")]
  assert not (h[0] & h[1]) and not (h[0] & h[2]) and not (h[1] & h[2])
  c = load_classification("synthetic:shapes", "train", num_per_class=5, seed=8)
  assert not (_hashes(c.images) & h[0])
  sub = load_classification("synthetic:shapes", "test", num_per_class=2, classes=("circle", "cross"))
  assert sub.class_names == ("circle", "cross") and sub.images.shape == (4, 32, 32, 1)


# ---------------------------------------------------------------- synthetic:xray
def test_xray_opacities_lie_inside_the_lungs():
  d = load_classification("synthetic:xray", "train", num_per_class=6, seed=2)
  assert d.class_names == ("normal", "opacity") and d.images.shape == (12, 64, 64, 1)
  lungs, field, lesion = d.masks, d.aux["opacity"], d.aux["lesion_masks"]
  half = 32
  assert np.all(lungs[:, :, :half].sum((1, 2)) > 100) and np.all(lungs[:, :, half:].sum((1, 2)) > 100)
  assert np.all(field[~lungs] == 0) and not np.any(lesion & ~lungs)
  normal, sick = d.labels == 0, d.labels == 1
  assert np.all(field[normal] == 0) and np.all(lesion[sick].sum((1, 2)) > 0)
  # lungs are dark (air); ground glass raises their intensity where the lesion is
  img = d.images[..., 0]
  body_ring = ~lungs & (img > 0.3)
  assert img[normal][lungs[normal]].mean() < img[body_ring].mean() - 0.15
  assert img[sick][lesion[sick]].mean() > img[normal][lungs[normal]].mean() + 0.08
  # same seed, same phantoms; 128-pixel render keeps the masks consistent
  big = load_classification("synthetic:xray", "test", num_per_class=1, image_size=128)
  assert big.images.shape == (2, 128, 128, 1) and not np.any(big.aux["lesion_masks"] & ~big.masks)


# ---------------------------------------------------------------- npz
def _write_medmnist(path, rgb, rng, labels_shape="n1"):
  arrays = {}
  for split, n in (("train", 12), ("val", 4), ("test", 5)):
    shape = (n, 28, 28, 3) if rgb else (n, 28, 28)
    arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
    labels = rng.integers(0, 4, size=n)
    labels[0] = 2
    arrays[f"{split}_labels"] = labels[:, None] if labels_shape == "n1" else labels
  arrays["train_labels"][1] = 4  # the highest class only appears in train
  np.savez(path, **arrays)
  return arrays


@pytest.mark.parametrize("rgb,labels_shape", [(False, "n1"), (True, "n")])
def test_npz_medmnist_layout(tmp_path, rgb, labels_shape):
  path = tmp_path / "toy.npz"
  arrays = _write_medmnist(path, rgb, np.random.default_rng(0), labels_shape)
  d = load_classification(f"npz:{path}", "validation")
  assert d.images.shape == (4, 28, 28, 3 if rgb else 1) and d.images.dtype == np.float32
  expect = arrays["val_images"].astype(np.float32) / 255
  np.testing.assert_allclose(d.images, expect if rgb else expect[..., None])
  np.testing.assert_array_equal(d.labels, arrays["val_labels"].reshape(-1))
  assert d.class_names == ("0", "1", "2", "3", "4")  # from all splits, not just val
  named = load_classification(f"npz:{path}", "test", image_size=14, class_names="abcde")
  assert named.images.shape == (5, 14, 14, 3 if rgb else 1) and named.class_names == tuple("abcde")
  with pytest.raises(ValueError, match="labels span"):
    load_classification(f"npz:{path}", "train", class_names=("a", "b"))


def test_npz_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.npz"):
    load_classification(f"npz:{tmp_path / 'nope.npz'}", "train")
  only_train = tmp_path / "train_only.npz"
  np.savez(only_train, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.zeros((2, 1), int))
  with pytest.raises(ValueError, match="'val_images'.*train_images, train_labels"):
    load_classification(f"npz:{only_train}", "val")
  multi = tmp_path / "multi.npz"
  np.savez(multi, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.zeros((2, 3), int))
  with pytest.raises(ValueError, match="multi-label"):
    load_classification(f"npz:{multi}", "train")
  pickled = tmp_path / "pickled.npz"
  objs = np.empty(2, dtype=object)
  objs[:] = [np.zeros((4, 4), np.uint8), "not an image"]
  np.savez(pickled, train_images=objs, train_labels=np.zeros(2, int))
  with pytest.raises(ValueError, match="object arrays"):
    load_classification(f"npz:{pickled}", "train")


# ---------------------------------------------------------------- tfds (mocked; skipped without tfds)
def test_tfds_mock_mnist():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=8):
    d = load_classification("tfds:mnist", "train")
    test = load_classification("tfds:mnist", "test", image_size=14)
  assert d.images.shape == (8, 28, 28, 1) and d.images.dtype == np.float32
  assert 0 <= d.images.min() and d.images.max() <= 1
  assert d.class_names == tuple(str(i) for i in range(10)) and d.labels.dtype == np.int32
  assert test.images.shape == (8, 14, 14, 1)


def test_tfds_missing_gives_install_hint():
  try:
    import tensorflow_datasets  # noqa: F401
    pytest.skip("tensorflow_datasets is installed")
  except ImportError:
    pass
  with pytest.raises(ImportError, match="tfds"):
    load_classification("tfds:mnist", "train")


# ---------------------------------------------------------------- errors and batching
@pytest.mark.parametrize("source,match", [("imagenet", "bundled:"), ("foo:bar", "synthetic:"),
                                          ("bundled:cifar", "digits"), ("synthetic:cars", "shapes, xray")])
def test_unknown_source(source, match):
  with pytest.raises(ValueError, match=match):
    load_classification(source, "train")


def test_bad_split_and_bad_labels():
  with pytest.raises(ValueError, match="unknown split"):
    load_classification("bundled:digits", "holdout")
  with pytest.raises(ValueError, match="labels span"):
    ClassificationData(np.zeros((2, 4, 4, 1), np.float32), np.array([0, 3], np.int32), ("a", "b"))


def _indexed_data(n=10):
  images = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None] / n, (n, 4, 4, 1)).copy()
  return ClassificationData(images, (np.arange(n) % 3).astype(np.int32), ("a", "b", "c"))


def test_batch_iterator_covers_each_example_once_per_epoch():
  data = _indexed_data(10)
  ids = lambda batch: np.rint(batch["image"][:, 0, 0, 0] * 10).astype(int)  # noqa: E731
  it = batch_iterator(data, 3, seed=5, drop_remainder=False)
  epochs = [[next(it) for _ in range(4)] for _ in range(2)]
  for batches in epochs:
    assert [len(b["label"]) for b in batches] == [3, 3, 3, 1]
    seen = np.concatenate([ids(b) for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches]), seen % 3)
  order = [np.concatenate([ids(b) for b in batches]) for batches in epochs]
  np.testing.assert_array_equal(order[0], np.random.default_rng(5).permutation(10))
  np.testing.assert_array_equal(order[1], np.random.default_rng(6).permutation(10))
  dropped = batch_iterator(data, 4, seed=0)
  first = [ids(next(dropped)) for _ in range(2)]
  assert len(set(np.concatenate(first).tolist())) == 8
  assert not set(ids(next(dropped)).tolist()) - set(range(10))  # next epoch starts
  plain = batch_iterator(data, 5, seed=0, shuffle=False)
  np.testing.assert_array_equal(ids(next(plain)), np.arange(5))
  with pytest.raises(ValueError, match="batch_size"):
    next(batch_iterator(data, 11, seed=0))


def test_simple_augment_flips_and_shifts():
  rng = np.random.default_rng(0)
  images = rng.random((16, 6, 7, 2)).astype(np.float32)
  flipped = simple_augment(images, np.random.default_rng(1), max_shift=0)
  is_same = [np.array_equal(a, b) for a, b in zip(flipped, images)]
  is_flip = [np.array_equal(a, b[:, ::-1]) for a, b in zip(flipped, images)]
  assert all(s or f for s, f in zip(is_same, is_flip)) and any(is_flip) and any(is_same)
  shifted = simple_augment(images, np.random.default_rng(2), max_shift=1, hflip=False)
  padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  for a, p in zip(shifted, padded):
    assert any(np.array_equal(a, p[dy:dy + 6, dx:dx + 7]) for dy in range(3) for dx in range(3))
  it = batch_iterator(_indexed_data(8), 4, seed=0, augment=simple_augment)
  assert next(it)["image"].shape == (4, 4, 4, 1)


def test_a_registered_source_scheme_is_loaded_by_name_and_taken_schemes_are_refused():
  from vision_jax.data import classification as cls_data
  calls = []

  def loader(name, split, *, image_size, seed, scale=1.0):
    calls.append((name, split, image_size, seed, scale))
    n = 6
    return cls_data.ClassificationData(np.full((n, 4, 4, 1), scale, np.float32), (np.arange(n) % 2).astype(np.int32),
                                       ("a", "b"))

  cls_data.register_source("toy_test_source", loader)
  cls_data.register_source("toy_test_source", loader)  # the same loader again: a no-op
  data = cls_data.load_classification("toy_test_source:v1", "validation", image_size=4, seed=3, scale=0.5)
  assert calls == [("v1", "val", 4, 3, 0.5)] and float(data.images.max()) == 0.5
  with pytest.raises(ValueError, match="scheme 'npz' is already taken"):
    cls_data.register_source("npz", loader)
  with pytest.raises(ValueError, match="toy_test_source:NAME"):
    cls_data.load_classification("nothing:here", "train")
