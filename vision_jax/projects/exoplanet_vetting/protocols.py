"""The protocols of the exoplanet vetting project, one registry (config field `protocols`).

- paper: as the spec reconstructs the paper (Sections 3.1.3 and 4). The planet candidates are
  doubled by reflection BEFORE the 80/20 split (Table 2 splits the doubled totals, e.g. DR24 PC
  7200 -> 5760 / 1440), so a test PC's mirror image can sit in the training set; VGG19 is trained
  "until overfitting" on all n samples, test samples included, and the features of all n are saved
  (Step 1); t-SNE runs once on the training features (the CFM's training coordinates) and again on
  all features, from which the test coordinates are taken (Step 2): two unaligned embeddings, the
  second of which has seen the test points.
- transductive: split first, reflect the training PCs only; VGG19 on the training split only; ONE
  t-SNE on train + test features (labels unused), the classifiers fit on the training coordinates.
  Isolates the CNN leak from the t-SNE one.
- heldout: split first, reflect the training PCs only; VGG19 and t-SNE fit on the training split
  only; each test point is placed in the training embedding by its k nearest training features
  (embedding.knn_place). Nothing of a test curve enters any fit. The number that counts.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.model_selection import train_test_split

from vision_jax.data import lightcurves as lc

EMBEDDINGS = ("two_runs", "joint", "knn")


@dataclasses.dataclass(frozen=True)
class Protocol:
  """name: config value; label: shown in every row; augment_before_split: reflect PCs before the
  split (paper) or only the training PCs after it; cnn_sees_test: the CNN trains on train + test;
  embedding: "two_runs" (t-SNE on train, again on all), "joint" (one t-SNE on all), "knn" (t-SNE on
  train, test placed by nearest neighbours); data: what each fit sees (for reports)."""
  name: str
  label: str
  augment_before_split: bool
  cnn_sees_test: bool
  embedding: str
  data: str

  @property
  def cnn_key(self) -> str:
    """The CNN sub-run this protocol needs (protocols with the same key share one trained CNN)."""
    return f"{'augment_then_split' if self.augment_before_split else 'split_then_augment'}-" \
           f"{'all' if self.cnn_sees_test else 'train'}"


PROTOCOLS = {
    "paper": Protocol("paper", "paper (CNN and 2nd t-SNE see the test set)", True, True, "two_runs",
                      "PCs reflected before the split; CNN on train + test; t-SNE on train, then on train + test"),
    "transductive": Protocol("transductive", "transductive (one t-SNE on train + test)", False, False, "joint",
                             "CNN on train only; one t-SNE on train + test features (no labels)"),
    "heldout": Protocol("heldout", "held-out (nothing of a test curve is fitted)", False, False, "knn",
                        "CNN and t-SNE on train only; test placed by 10-NN in feature space"),
}


def get_protocol(name: str) -> Protocol:
  if name not in PROTOCOLS:
    raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
  return PROTOCOLS[name]


@dataclasses.dataclass
class Split:
  """Views (N, 201) float32, labels (N,) int32, origin (N,) index of the simulated/real curve,
  reflected (N,) bool for the train and test parts of one protocol."""
  train_views: np.ndarray
  train_labels: np.ndarray
  train_origin: np.ndarray
  train_reflected: np.ndarray
  test_views: np.ndarray
  test_labels: np.ndarray
  test_origin: np.ndarray
  test_reflected: np.ndarray

  def twins_in_train(self) -> int:
    """Test samples whose mirror image (or original) is in the training part: the reflection leak."""
    return int(np.isin(self.test_origin, self.train_origin).sum())


def reflect_class(views, labels, origin, reflected, pc_label: int):
  """Appends the reflected views of class pc_label (the PC doubling); arrays with a leading N."""
  pc = labels == pc_label
  return (np.concatenate([views, lc.reflect_view(views[pc])]), np.concatenate([labels, labels[pc]]),
          np.concatenate([origin, origin[pc]]), np.concatenate([reflected, ~reflected[pc]]))


def make_split(protocol: Protocol, views: np.ndarray, labels: np.ndarray, *, test_fraction: float, seed: int,
               reflect_pc: bool, pc_label: int = 0) -> Split:
  """The train / test parts of `protocol`: stratified (sklearn train_test_split, random_state=seed),
  with the PC reflection before (paper) or after (others, training part only) the split."""
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"data.test_fraction={test_fraction}; expected 0 < fraction < 1")
  origin, reflected = np.arange(len(labels)), np.zeros(len(labels), bool)
  parts = (views, labels, origin, reflected)
  if protocol.augment_before_split and reflect_pc:
    parts = reflect_class(*parts, pc_label)
  tr, te = train_test_split(np.arange(len(parts[1])), test_size=test_fraction, stratify=parts[1], random_state=seed)
  tr, te = np.sort(tr), np.sort(te)
  train = [a[tr] for a in parts]
  test = [a[te] for a in parts]
  if not protocol.augment_before_split and reflect_pc:
    train = list(reflect_class(*train, pc_label))
  return Split(*train, *test)
