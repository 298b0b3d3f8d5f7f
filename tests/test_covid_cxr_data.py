"""covid_cxr data: the chest phantom generator (exact prevalence, findings strictly inside the lungs, GGO in
the lower zones, seeds), the registered sources (stratified 70/15/15 split, the marker shortcut on train /
val only, clean test identical), the COVID-19 Radiography Database folder loader on a tiny folder written
here, and its bad input (missing masks/, a mask of another size, an all-black image, one class only)."""

import os

import numpy as np
import pytest
from skimage import io

from vision_jax.data import chest_xray as cx
from vision_jax.data import classification as data_lib
from vision_jax.projects.covid_cxr import sources

OPTS = {"num_images": 60, "frangi_sigmas": "1,2", "bilateral_sigma_spatial": 1.0}


def test_phantoms_prevalence_lesions_and_seeds():
  images, labels, lungs, aux = cx.make_chest_phantoms(np.random.default_rng(0), 40, 64, 0.25)
  assert labels.sum() == 10 and images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
  assert np.all(aux["lesion"][~lungs] == 0)  # findings strictly inside the lungs
  assert np.all((aux["finding"] == cx.FINDINGS.index("covid")) == (labels == 1))
  assert not aux["lesion"][aux["finding"] == 0].any()  # "normal" has none
  again = cx.make_chest_phantoms(np.random.default_rng(0), 40, 64, 0.25)
  np.testing.assert_array_equal(images, again[0])
  # GGO sits in the lower zones: its mass centre lies below the lungs' centre in every positive
  rows = np.arange(64)[:, None]
  for i in np.flatnonzero(labels == 1):
    lesion_row = (aux["lesion"][i] * rows).sum() / aux["lesion"][i].sum()
    lung_row = (lungs[i] * rows).sum() / lungs[i].sum()
    assert lesion_row > lung_row
  with pytest.raises(ValueError, match="prevalence=1.5"):
    cx.make_chest_phantoms(np.random.default_rng(0), 10, 64, 1.5)


def test_corner_marker_is_outside_the_lungs():
  img, lungs, _, _ = cx.chest_phantom(np.random.default_rng(1), 64, "normal")
  marked = cx.add_corner_marker(img)
  changed = marked != img
  assert changed.any() and not (changed & lungs).any() and marked.max() == pytest.approx(0.97)


def test_phantom_source_split_and_marker():
  load = lambda split, **kw: data_lib.load_classification(  # noqa: E731
      "covid_phantoms:default", split, image_size=32, seed=3, **{**OPTS, **kw})
  sources.register()
  splits = {s: load(s) for s in ("train", "val", "test")}
  idx = [set(splits[s].aux["index"].tolist()) for s in splits]
  assert sum(map(len, idx)) == 60 and len(set.union(*idx)) == 60  # disjoint and complete
  assert [len(splits[s]) for s in splits] == [42, 9, 9]
  for s, d in splits.items():
    assert d.images.shape[1:] == (32, 32, 4) and d.class_names == ("non_covid", "covid")
    assert d.masks.shape == d.images.shape[:3] and d.labels.sum() >= 1
  marked = {s: load(s, marker=True, marker_rates="1.0,0.0") for s in ("train", "test")}
  tr = marked["train"]
  np.testing.assert_array_equal(tr.aux["marker"], tr.labels == 1)  # rates 1 / 0: the marker is the label
  clean = splits["train"]
  assert not np.array_equal(tr.aux["raw"], clean.aux["raw"])
  np.testing.assert_array_equal(tr.images, clean.images)  # lung isolation erases the marker (outside the lungs)
  open_tr = load("train", marker=True, marker_rates="1.0,0.0", isolate=False)
  open_clean = load("train", isolate=False)
  same = ~open_tr.aux["marker"]
  np.testing.assert_array_equal(open_tr.images[same], open_clean.images[same])  # only marked images change
  assert not np.array_equal(open_tr.images[~same], open_clean.images[~same])
  np.testing.assert_array_equal(marked["test"].images, splits["test"].images)  # the test split stays clean
  two = load("train", channels="roi,lbp")
  np.testing.assert_array_equal(two.images, clean.images[..., [0, 3]])
  with pytest.raises(ValueError, match="does not take option"):
    load("train", bogus=1)
  with pytest.raises(ValueError, match="marker_splits"):
    load("train", marker=True, marker_splits="train,holdout")


def write_database(root, per_class=8, size=48, mask_size=None, skip_masks_of=None, black=False):
  rng = np.random.default_rng(0)
  for k, name in enumerate(cx.RADIOGRAPHY_CLASSES):
    os.makedirs(os.path.join(root, name, "images"), exist_ok=True)
    if name != skip_masks_of:
      os.makedirs(os.path.join(root, name, "masks"), exist_ok=True)
    for i in range(per_class):
      img, lungs, _, _ = cx.chest_phantom(rng, size, "covid" if name == "COVID" else "normal")
      if black and k == 1 and i == 0:
        img = np.zeros_like(img)
      io.imsave(os.path.join(root, name, "images", f"{name}-{i}.png"), (img * 255).astype(np.uint8),
                check_contrast=False)
      if name != skip_masks_of:
        m = lungs if mask_size is None else np.zeros((mask_size, mask_size), bool)
        io.imsave(os.path.join(root, name, "masks", f"{name}-{i}.png"), (m * 255).astype(np.uint8),
                  check_contrast=False)


def test_radiography_folder_loader(tmp_path):
  root = str(tmp_path / "db")
  write_database(root, black=True)
  sources.register()
  load = lambda split, **kw: data_lib.load_classification(  # noqa: E731
      f"covid_radiography:{root}", split, image_size=32, seed=0, frangi_sigmas="1,2", **kw)
  parts = {s: load(s) for s in ("train", "val", "test")}
  assert sum(len(d) for d in parts.values()) == 32
  for d in parts.values():
    covid = d.aux["source_class"] == cx.RADIOGRAPHY_CLASSES.index("COVID")
    np.testing.assert_array_equal(d.labels == 1, covid)  # binary COVID vs rest
    assert d.images.shape[1:] == (32, 32, 4) and d.masks.shape[1:] == (32, 32)
  everything = np.concatenate([d.aux["source_class"] for d in parts.values()])
  assert np.bincount(everything).tolist() == [8, 8, 8, 8]
  # The all-black radiograph takes the Otsu fallback path (one reason string), and its channels are finite.
  reasons = [r for d in parts.values() for r in d.aux["otsu_reason"] if r]
  assert reasons == ["constant image outside (0.05, 0.80): all-ones fallback"]
  assert all(np.isfinite(d.images).all() for d in parts.values())


def test_radiography_bad_input(tmp_path):
  sources.register()
  no_masks = str(tmp_path / "no_masks")
  write_database(no_masks, per_class=2, skip_masks_of="Normal")
  with pytest.raises(FileNotFoundError, match="has no masks/ folder"):
    cx.list_radiography_folder(no_masks)
  other = str(tmp_path / "other_size")
  write_database(other, per_class=8, mask_size=40)
  with pytest.raises(ValueError, match="is 40x40 but its image is 48x48"):
    data_lib.load_classification(f"covid_radiography:{other}", "test", image_size=32, frangi_sigmas="1")
  d = data_lib.load_classification(f"covid_radiography:{other}", "test", image_size=32, frangi_sigmas="1",
                                   resize_masks=True)
  assert d.masks.shape[1:] == (32, 32)
  with pytest.raises(FileNotFoundError, match="not found"):
    cx.list_radiography_folder(str(tmp_path / "absent"))


def test_single_class_split_is_refused():
  with pytest.raises(ValueError, match="holds only 'non_covid'"):
    sources.check_both_classes(np.zeros(5, np.int32), "test split")
  sources.register()
  d = data_lib.load_classification("covid_phantoms:default", "val", image_size=32, seed=0,
                                   **{**OPTS, "prevalence": 0.0})
  with pytest.raises(ValueError, match="val split holds only 'non_covid' \\(9 images\\)"):
    sources.check_both_classes(d.labels, "val split")
