"""Data of the EKD project: the Kermany folder layout (both the flat NORMAL/ PNEUMONIA/ and the
train/val/test one) on tiny folders written here, and the synthetic CXR stand-in (73/27 prevalence,
deterministic, and a planted opacity a simple lung-intensity statistic detects)."""

import numpy as np
import pytest
from skimage import io

from vision_jax.data import classification as data_lib
from vision_jax.projects.ensemble_distillation import data


def write_images(folder, n, value):
  folder.mkdir(parents=True)
  for i in range(n):
    img = np.full((40, 30), value + i, np.uint8)
    io.imsave(folder / f"img{i}.png", img, check_contrast=False)


def test_kermany_flat_and_split_layouts(tmp_path):
  data.register()
  flat = tmp_path / "flat"
  write_images(flat / "NORMAL", 2, 10)
  write_images(flat / "PNEUMONIA", 3, 200)
  d = data_lib.load_classification(f"kermany:{flat}", "train", image_size=16)
  assert d.images.shape == (5, 16, 16, 1) and d.labels.tolist() == [0, 0, 1, 1, 1]
  np.testing.assert_allclose(d.images[0], 10 / 255, atol=1e-6)  # constant images survive the resize
  np.testing.assert_allclose(d.images[4], 202 / 255, atol=1e-6)
  assert d.class_names == ("normal", "pneumonia")
  tree = tmp_path / "chest_xray"
  for split, (n0, n1) in {"train": (2, 2), "val": (1, 1), "test": (1, 2)}.items():
    write_images(tree / split / "NORMAL", n0, 5)
    write_images(tree / split / "PNEUMONIA", n1, 100)
  pooled = data_lib.load_classification(f"kermany:{tree}", "train", image_size=16)
  assert len(pooled) == 9 and pooled.labels.sum() == 5  # the paper pools every folder for its CV
  only_test = data_lib.load_classification(f"kermany:{tree}", "test", image_size=16, pool=False)
  assert only_test.labels.tolist() == [0, 1, 1]
  with pytest.raises(FileNotFoundError):
    data_lib.load_classification(f"kermany:{tmp_path / 'missing'}", "train")
  (tmp_path / "bad" / "NORMAL").mkdir(parents=True)
  with pytest.raises(ValueError, match="neither NORMAL"):
    data_lib.load_classification(f"kermany:{tmp_path / 'bad'}", "train")


def test_synthetic_cxr_prevalence_and_signal():
  data.register()
  d = data_lib.load_classification("cxr_synth:default", "train", image_size=48, num_images=200)
  assert d.images.shape == (200, 48, 48, 1)
  assert d.labels.sum() == round(0.7296 * 200)
  again = data_lib.load_classification("cxr_synth:default", "train", image_size=48, num_images=200)
  np.testing.assert_array_equal(again.images, d.images)
  # the opacity brightens the lung fields: their mean intensity separates the classes, imperfectly
  from sklearn.metrics import roc_auc_score
  lung_mean = (d.images[..., 0] * d.masks).sum(axis=(1, 2)) / d.masks.sum(axis=(1, 2))
  assert 0.75 < roc_auc_score(d.labels, lung_mean) < 1.0
  with pytest.raises(ValueError, match="prevalence"):
    data.load_synthetic("x", "train", prevalence=1.5)
