"""Classification losses against optax and hand computation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vision_jax.losses.classification import focal_loss, sigmoid_focal_loss, softmax_cross_entropy


def _data(seed=0, n=32, k=5):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=(n, k)) * 2, jnp.float32), jnp.asarray(rng.integers(0, k, n))


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_matches_optax(eps):
  logits, labels = _data(1)
  target = optax.smooth_labels(jax.nn.one_hot(labels, 5), eps)
  ref = optax.softmax_cross_entropy(logits, target)
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, label_smoothing=eps, reduction="none"), ref, rtol=1e-5)
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, label_smoothing=eps), ref.mean(), rtol=1e-5)
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, label_smoothing=eps, reduction="sum"), ref.sum(), rtol=1e-5)
  if eps == 0.0:
    np.testing.assert_allclose(softmax_cross_entropy(logits, labels),
                               optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), rtol=1e-5)


def test_label_smoothing_target_is_one_minus_eps_plus_eps_over_k():
  # for uniform logits the loss is log K whatever eps is; for a confident correct logit it
  # approaches eps * (K - 1) / K * margin.
  k, eps = 4, 0.2
  np.testing.assert_allclose(softmax_cross_entropy(jnp.zeros((1, k)), jnp.array([2]), label_smoothing=eps), np.log(k), rtol=1e-6)
  logits = jnp.array([[0.0, 0.0, 30.0, 0.0]])
  np.testing.assert_allclose(softmax_cross_entropy(logits, jnp.array([2]), label_smoothing=eps),
                             eps * (k - 1) / k * 30.0, rtol=1e-4)


def test_focal_gamma_zero_equals_cross_entropy_and_downweights_easy_examples():
  logits, labels = _data(2)
  ce = softmax_cross_entropy(logits, labels, reduction="none")
  np.testing.assert_allclose(focal_loss(logits, labels, gamma=0.0, reduction="none"), ce, rtol=1e-6)
  np.testing.assert_allclose(focal_loss(logits, labels, gamma=0.0), ce.mean(), rtol=1e-6)
  fl = focal_loss(logits, labels, gamma=2.0, reduction="none")
  p = jnp.exp(-ce)
  np.testing.assert_allclose(fl, (1 - p) ** 2 * ce, rtol=1e-5, atol=1e-7)
  assert np.all(np.asarray(fl) <= np.asarray(ce) + 1e-7)
  # per-class alpha
  alpha = jnp.array([0.1, 0.2, 0.3, 0.25, 0.15])
  np.testing.assert_allclose(focal_loss(logits, labels, gamma=0.0, alpha=alpha, reduction="none"), alpha[labels] * ce, rtol=1e-6)


def test_binary_focal_scalar_alpha_and_sigmoid_form_match_optax():
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(40,)) * 3, jnp.float32)
  t = jnp.asarray(rng.integers(0, 2, 40))
  for gamma, alpha in [(0.0, None), (2.0, None), (2.0, 0.25), (1.5, 0.7)]:
    ref = optax.sigmoid_focal_loss(x, t.astype(jnp.float32), alpha=alpha, gamma=gamma)
    np.testing.assert_allclose(sigmoid_focal_loss(x, t, gamma=gamma, alpha=alpha, reduction="none"), ref, rtol=1e-5, atol=1e-7)
    # softmax focal with logits (0, x) is the sigmoid focal loss of x
    two = jnp.stack([jnp.zeros_like(x), x], axis=1)
    np.testing.assert_allclose(focal_loss(two, t, gamma=gamma, alpha=alpha, reduction="none"), ref, rtol=1e-5, atol=1e-7)


def test_class_weighted_cross_entropy_matches_hand_computation():
  logits = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
  labels = jnp.array([0, 2, 1, 2])
  w = np.array([1.0, 3.0, 0.5])
  logp = np.asarray(jax.nn.log_softmax(logits))
  nll = -logp[np.arange(4), np.asarray(labels)]
  expected = np.sum(w[labels] * nll) / np.sum(w[labels])  # torch CrossEntropyLoss(weight=w)
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, class_weights=w), expected, rtol=1e-6)
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, class_weights=w, reduction="none"), w[labels] * nll, rtol=1e-6)
  # unit weights reduce to the plain mean; weights + smoothing follow torch's formula
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, class_weights=np.ones(3)),
                             softmax_cross_entropy(logits, labels), rtol=1e-6)
  eps = 0.1
  smooth = -(logp * w).sum(1)
  expected = ((1 - eps) * np.sum(w[labels] * nll) + eps / 3 * smooth.sum()) / np.sum(w[labels])
  np.testing.assert_allclose(softmax_cross_entropy(logits, labels, class_weights=w, label_smoothing=eps), expected, rtol=1e-6)


def test_losses_are_jittable_and_differentiable():
  logits, labels = _data(4)
  g = jax.jit(jax.grad(lambda z: softmax_cross_entropy(z, labels, label_smoothing=0.1)))(logits)
  expected = (jax.nn.softmax(logits) - optax.smooth_labels(jax.nn.one_hot(labels, 5), 0.1)) / logits.shape[0]
  np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-7)
  gf = jax.jit(jax.grad(lambda z: focal_loss(z, labels, gamma=2.0)))(logits)
  assert np.all(np.isfinite(np.asarray(gf)))


def test_bad_labels_and_arguments_raise():
  logits = jnp.zeros((3, 4))
  with pytest.raises(ValueError, match=r"labels contains label 4 at index 1; expected integers in \[0, 4\)"):
    softmax_cross_entropy(logits, jnp.array([0, 4, 1]))
  with pytest.raises(ValueError, match=r"labels contains label -1"):
    focal_loss(logits, jnp.array([0, -1, 1]))
  with pytest.raises(ValueError, match="expected labels of shape"):
    softmax_cross_entropy(logits, jnp.array([0, 1]))
  with pytest.raises(ValueError, match="label_smoothing"):
    softmax_cross_entropy(logits, jnp.array([0, 1, 2]), label_smoothing=1.0)
  with pytest.raises(ValueError, match=r"class_weights has shape \(3,\); expected \(4,\)"):
    softmax_cross_entropy(logits, jnp.array([0, 1, 2]), class_weights=[1.0, 1.0, 1.0])
  with pytest.raises(ValueError, match="scalar alpha"):
    focal_loss(logits, jnp.array([0, 1, 2]), alpha=0.25)
  with pytest.raises(ValueError, match="targets contains label 2"):
    sigmoid_focal_loss(jnp.zeros(2), jnp.array([0, 2]))
