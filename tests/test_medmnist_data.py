"""Data of the MedMNIST ensembles project: the npz loader on tiny files in the MedMNIST v2 layout of
each of the three datasets (written here), the medmnist: source's shape and class checks, and the
synthetic stand-in (class counts, balanced OCT test split, determinism, disjoint splits, a learnable
signal)."""

import numpy as np
import pytest

from vision_jax.data import classification as data_lib
from vision_jax.projects.medmnist_ensembles import data

SHAPES = {"pathmnist": (28, 28, 3), "organamnist": (28, 28), "octmnist": (28, 28)}


def write_npz(root, flag, n=(12, 6, 8), shape=None, classes=None):
  rng = np.random.default_rng(0)
  k = classes or data.dataset_spec(flag).num_classes
  arrays = {}
  for split, size in zip(("train", "val", "test"), n):
    arrays[f"{split}_images"] = rng.integers(0, 256, (size, *(shape or SHAPES[flag])), dtype=np.uint8)
    arrays[f"{split}_labels"] = (np.arange(size) % k).reshape(-1, 1).astype(np.uint8)
  path = root / f"{flag}.npz"
  np.savez(path, **arrays)
  return arrays


@pytest.mark.parametrize("flag", list(SHAPES))
def test_medmnist_npz_layout(tmp_path, flag):
  arrays = write_npz(tmp_path, flag)
  data.register()
  spec = data.dataset_spec(flag)
  for split in ("train", "val", "test"):
    d = data_lib.load_classification(f"medmnist:{flag}", split, root=str(tmp_path))
    assert d.images.shape[1:] == (28, 28, spec.channels) and d.images.dtype == np.float32
    raw = arrays[f"{split}_images"]
    np.testing.assert_allclose(d.images, (raw if raw.ndim == 4 else raw[..., None]) / 255.0)
    np.testing.assert_array_equal(d.labels, arrays[f"{split}_labels"][:, 0])
    assert d.class_names == spec.class_names
  # the library's npz: loader reads the same file
  plain = data_lib.load_classification(f"npz:{tmp_path / (flag + '.npz')}", "test")
  np.testing.assert_array_equal(plain.labels, arrays["test_labels"][:, 0])


def test_medmnist_checks_and_subsets(tmp_path):
  data.register()
  write_npz(tmp_path, "octmnist", shape=(28, 28, 3))  # OCT is grayscale
  with pytest.raises(ValueError, match=r"expected \(28, 28, 1\) for octmnist"):
    data_lib.load_classification("medmnist:oct", "train", root=str(tmp_path))
  with pytest.raises(ValueError, match="needs data.options.root"):
    data_lib.load_classification("medmnist:oct", "train")
  with pytest.raises(FileNotFoundError):
    data_lib.load_classification("medmnist:pathmnist", "train", root=str(tmp_path))
  with pytest.raises(ValueError, match="unknown MedMNIST dataset"):
    data.dataset_spec("chestmnist")
  write_npz(tmp_path, "pathmnist", n=(90, 9, 9))
  sub = data_lib.load_classification("medmnist:path", "train", root=str(tmp_path), max_per_split=45)
  assert len(sub) == 45 and np.all(np.bincount(sub.labels) == 5)  # stratified


def test_synthetic_stand_in():
  data.register()
  path = data_lib.load_classification("medmnist_synth:path", "train", num_train=300)
  assert path.images.shape == (300, 28, 28, 3) and path.num_classes == 9
  organa = data_lib.load_classification("medmnist_synth:organamnist", "val", num_val=220)
  assert organa.images.shape == (220, 28, 28, 1) and organa.num_classes == 11
  oct_test = data_lib.load_classification("medmnist_synth:oct", "test", num_test=200)
  assert np.all(np.bincount(oct_test.labels) == 50)  # OCT's test split is balanced
  oct_train = data_lib.load_classification("medmnist_synth:oct", "train", num_train=2000)
  freq = np.bincount(oct_train.labels) / 2000
  np.testing.assert_allclose(freq, np.asarray(data.DATASETS["octmnist"].train_prior) / 1.0, atol=0.04)
  again = data_lib.load_classification("medmnist_synth:path", "train", num_train=300)
  np.testing.assert_array_equal(again.images, path.images)  # deterministic
  other = data_lib.load_classification("medmnist_synth:path", "train", num_train=300, seed=1)
  assert not np.allclose(other.images, path.images)
  assert path.images.min() >= 0 and path.images.max() <= 1


def test_synthetic_classes_carry_a_learnable_signal():
  """The class factors are recoverable: a logistic regression on pooled spectrum features beats
  chance (0.25 on the balanced 4-class test split) by a wide margin, yet stays far from perfect
  (neighbouring classes overlap by design)."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler

  def feats(d):
    s = np.log1p(np.abs(np.fft.rfft2(d.images[..., 0])))[:, :, :14].reshape(len(d), 7, 4, 7, 2).mean(axis=(2, 4))
    return np.concatenate([s.reshape(len(d), -1), d.images.mean((1, 2, 3))[:, None], d.images.std((1, 2, 3))[:, None]], 1)

  tr = data.load_synthetic("oct", "train", num_train=800)
  te = data.load_synthetic("oct", "test", num_test=400)
  acc = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(feats(tr), tr.labels).score(feats(te), te.labels)
  assert 0.5 < acc < 0.95
