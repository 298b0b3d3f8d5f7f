"""Classification metrics cross-checked against scikit-learn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from vision_jax.metrics import classification as cm


def _random_labels(seed, n=200, k=4, skew=False):
  rng = np.random.default_rng(seed)
  p = None
  if skew:
    p = np.arange(1, k + 1, dtype=float)
    p /= p.sum()
  y_true = rng.choice(k, size=n, p=p)
  # predictions correlated with the truth, so metrics are neither 0 nor 1
  y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
  return y_true, y_pred


@pytest.mark.parametrize("seed,k,skew", [(0, 2, False), (1, 4, False), (2, 7, True)])
def test_label_metrics_match_sklearn(seed, k, skew):
  y_true, y_pred = _random_labels(seed, k=k, skew=skew)
  labels = list(range(k))
  np.testing.assert_allclose(cm.accuracy(y_true, y_pred), skm.accuracy_score(y_true, y_pred), rtol=1e-6)
  np.testing.assert_array_equal(cm.confusion_matrix(y_true, y_pred, k), skm.confusion_matrix(y_true, y_pred, labels=labels))
  for avg in ("macro", "weighted", "micro", None):
    p, r, f = cm.precision_recall_f1(y_true, y_pred, k, average=avg)
    kw = dict(labels=labels, average=avg, zero_division=0)
    np.testing.assert_allclose(p, skm.precision_score(y_true, y_pred, **kw), rtol=1e-5)
    np.testing.assert_allclose(r, skm.recall_score(y_true, y_pred, **kw), rtol=1e-5)
    np.testing.assert_allclose(f, skm.f1_score(y_true, y_pred, **kw), rtol=1e-5)
  np.testing.assert_allclose(cm.f1_score(y_true, y_pred, k, "weighted"),
                             skm.f1_score(y_true, y_pred, average="weighted", labels=labels), rtol=1e-5)
  np.testing.assert_allclose(cm.balanced_accuracy(y_true, y_pred, k), skm.balanced_accuracy_score(y_true, y_pred), rtol=1e-5)
  np.testing.assert_allclose(cm.matthews_corrcoef(y_true, y_pred, k), skm.matthews_corrcoef(y_true, y_pred), rtol=1e-4)
  for w in (None, "linear", "quadratic"):
    np.testing.assert_allclose(cm.cohen_kappa(y_true, y_pred, k, weights=w),
                               skm.cohen_kappa_score(y_true, y_pred, weights=w), rtol=1e-4)


def test_edge_cases_match_sklearn():
  # a class never predicted and a class absent from y_true (zero_division -> 0)
  y_true = np.array([0, 0, 1, 1, 1, 3])
  y_pred = np.array([0, 1, 1, 1, 0, 0])
  labels = [0, 1, 2, 3]
  p, r, f = cm.precision_recall_f1(y_true, y_pred, 4, average=None)
  np.testing.assert_allclose(p, skm.precision_score(y_true, y_pred, labels=labels, average=None, zero_division=0))
  np.testing.assert_allclose(r, skm.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0))
  np.testing.assert_allclose(f, skm.f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0))
  np.testing.assert_allclose(cm.balanced_accuracy(y_true, y_pred, 4), skm.balanced_accuracy_score(y_true, y_pred), rtol=1e-6)
  # perfect and constant predictions: MCC 1 and 0 (sklearn returns 0 when undefined)
  np.testing.assert_allclose(cm.matthews_corrcoef(y_true, y_true), 1.0, rtol=1e-6)
  const = np.zeros_like(y_true)
  assert float(cm.matthews_corrcoef(y_true, const, 4)) == skm.matthews_corrcoef(y_true, const) == 0.0
  np.testing.assert_allclose(cm.cohen_kappa(y_true, y_true, 4), 1.0, rtol=1e-6)


def test_top_k_accuracy_matches_sklearn():
  rng = np.random.default_rng(3)
  scores = rng.normal(size=(150, 6))
  y = rng.integers(0, 6, 150)
  for k in (1, 2, 3, 5):
    np.testing.assert_allclose(cm.top_k_accuracy(y, scores, k), skm.top_k_accuracy_score(y, scores, k=k, labels=range(6)), rtol=1e-6)
  np.testing.assert_allclose(cm.top_k_accuracy(y, scores, 1), skm.accuracy_score(y, scores.argmax(1)), rtol=1e-6)


def test_roc_auc_binary_with_ties_matches_sklearn():
  rng = np.random.default_rng(4)
  y = rng.integers(0, 2, 300)
  s = np.round(y * 0.7 + rng.normal(size=300), 1)  # rounding creates many ties
  assert len(np.unique(s)) < 300
  np.testing.assert_allclose(cm.roc_auc(y, s), skm.roc_auc_score(y, s), rtol=1e-5)
  np.testing.assert_allclose(cm.roc_auc(y, -s), 1 - skm.roc_auc_score(y, s), rtol=1e-5)
  np.testing.assert_allclose(cm.roc_auc(y, y.astype(float)), 1.0)
  np.testing.assert_allclose(cm.roc_auc(y, np.zeros(300)), 0.5)


def test_roc_auc_multiclass_ovr_matches_sklearn():
  rng = np.random.default_rng(5)
  y = rng.integers(0, 5, 400)
  logits = rng.normal(size=(400, 5)) + 1.5 * np.eye(5)[y]
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  for avg in ("macro", "weighted"):
    np.testing.assert_allclose(cm.roc_auc(y, probs, average=avg),
                               skm.roc_auc_score(y, probs, multi_class="ovr", average=avg), rtol=1e-5)
  per_class = cm.roc_auc(y, probs, average=None)
  ref = [skm.roc_auc_score(y == c, probs[:, c]) for c in range(5)]
  np.testing.assert_allclose(per_class, ref, rtol=1e-5)


def test_jittable_with_static_num_classes():
  y_true, y_pred = _random_labels(6, k=3)
  f = jax.jit(lambda a, b: (cm.accuracy(a, b), cm.f1_score(a, b, 3), cm.matthews_corrcoef(a, b, 3),
                            cm.balanced_accuracy(a, b, 3)))
  acc, f1, mcc, bal = f(jnp.asarray(y_true), jnp.asarray(y_pred))
  np.testing.assert_allclose(acc, skm.accuracy_score(y_true, y_pred), rtol=1e-6)
  np.testing.assert_allclose(f1, skm.f1_score(y_true, y_pred, average="macro"), rtol=1e-5)
  np.testing.assert_allclose(mcc, skm.matthews_corrcoef(y_true, y_pred), rtol=1e-4)
  np.testing.assert_allclose(bal, skm.balanced_accuracy_score(y_true, y_pred), rtol=1e-5)
  s = np.random.default_rng(7).normal(size=y_true.shape)
  yb = (y_true == 0).astype(np.int32)
  np.testing.assert_allclose(jax.jit(cm.roc_auc)(jnp.asarray(yb), jnp.asarray(s)), skm.roc_auc_score(yb, s), rtol=1e-5)


def test_threshold_sweep_matches_sklearn():
  rng = np.random.default_rng(8)
  y = rng.integers(0, 2, 120)
  s = y * 0.8 + rng.normal(size=120) * 0.6
  ths = [-1.0, 0.0, 0.4, 0.8, 5.0]
  rows = cm.threshold_sweep(y, s, ths)
  assert [r[0] for r in rows] == ths
  for t, tpr, fpr, prec, f1 in rows:
    pred = (s >= t).astype(int)
    np.testing.assert_allclose(tpr, skm.recall_score(y, pred, zero_division=0))
    np.testing.assert_allclose(fpr, 1 - skm.recall_score(1 - y, 1 - pred, zero_division=0))  # 1 - specificity
    np.testing.assert_allclose(prec, skm.precision_score(y, pred, zero_division=0))
    np.testing.assert_allclose(f1, skm.f1_score(y, pred, zero_division=0))
  # the sweep's points lie on sklearn's ROC curve
  fpr_ref, tpr_ref, th_ref = skm.roc_curve(y, s, drop_intermediate=False)
  mid = cm.threshold_sweep(y, s, th_ref[1:])
  np.testing.assert_allclose([r[1] for r in mid], tpr_ref[1:])
  np.testing.assert_allclose([r[2] for r in mid], fpr_ref[1:])


def test_bad_labels_raise_clear_errors():
  with pytest.raises(ValueError, match=r"y_true contains label 5 at index 2; expected integers in \[0, 3\)"):
    cm.confusion_matrix(np.array([0, 1, 5]), np.array([0, 1, 2]), 3)
  with pytest.raises(ValueError, match=r"y_pred contains label -1"):
    cm.f1_score(np.array([0, 1, 2]), np.array([0, -1, 2]), 3)
  with pytest.raises(ValueError, match=r"non-integer label 1.5"):
    cm.confusion_matrix(np.array([0.0, 1.5]), np.array([0, 1]), 3)
  with pytest.raises(ValueError, match=r"label 4 at index 0; expected integers in \[0, 3\)"):
    cm.top_k_accuracy(np.array([4, 0]), np.zeros((2, 3)), 1)
  with pytest.raises(ValueError, match=r"y_true contains label 2"):
    cm.roc_auc(np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]))
  with pytest.raises(ValueError, match="single class"):
    cm.roc_auc(np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3]))
  with pytest.raises(ValueError, match="no samples of class 2"):
    cm.roc_auc(np.array([0, 1, 1]), np.full((3, 3), 1 / 3))
  with pytest.raises(ValueError, match=r"y_pred contains label 3 at index 1; expected integers in \[0, 3\)"):
    cm.accuracy(np.array([0, 1]), np.array([0, 3]), num_classes=3)
  with pytest.raises(ValueError, match="expected equal shapes"):
    cm.confusion_matrix(np.array([0, 1]), np.array([0, 1, 1]), 2)
