"""vision_jax.losses.distillation: alpha = 1 is plain cross-entropy (optax), alpha = 0 is pure
distillation, the soft term's gradient vanishes when the (single) teacher equals the student and
equals (softmax(z / T) - p_soft) / T otherwise; soft targets average the teachers' softened
probabilities."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vision_jax.losses import distillation as kd


def data(seed=0, n=16, c=3, k=3):
  rng = np.random.default_rng(seed)
  return (jnp.asarray(rng.normal(size=(n, c)) * 2, jnp.float32), jnp.asarray(rng.integers(0, c, n)),
          jnp.asarray(rng.normal(size=(k, n, c)) * 2, jnp.float32))


def test_soft_targets_average_the_softened_teachers():
  _, _, teachers = data()
  t = 3.0
  p = kd.soft_targets(teachers, t)
  want = np.mean([np.exp(z / t) / np.exp(z / t).sum(-1, keepdims=True) for z in np.asarray(teachers)], axis=0)
  np.testing.assert_allclose(p, want, rtol=1e-5)
  np.testing.assert_allclose(kd.soft_targets(teachers[0], t), kd.soft_targets(teachers[:1], t))


def test_alpha_one_is_plain_cross_entropy():
  z, y, teachers = data()
  loss, _ = kd.distillation_loss(z, y, kd.soft_targets(teachers, 3.0), alpha=1.0, temperature=3.0)
  assert loss == pytest.approx(float(optax.softmax_cross_entropy_with_integer_labels(z, y).mean()), rel=1e-6)


def test_alpha_zero_is_pure_distillation():
  z, y, teachers = data()
  t = 3.0
  p = kd.soft_targets(teachers, t)
  loss, _ = kd.distillation_loss(z, y, p, alpha=0.0, temperature=t)
  assert loss == pytest.approx(t * t * float(optax.softmax_cross_entropy(z / t, p).mean()), rel=1e-6)
  # the labels do not enter
  loss2, _ = kd.distillation_loss(z, (y + 1) % 3, p, alpha=0.0, temperature=t)
  assert loss2 == pytest.approx(float(loss))


def test_distillation_gradient_is_zero_when_the_teacher_is_the_student():
  z, y, _ = data()
  t = 3.0
  p = kd.soft_targets(z, t)  # one teacher, identical to the student
  soft = lambda zz: kd.distillation_loss(zz, y, p, alpha=0.0, temperature=t)[0]
  np.testing.assert_allclose(jax.grad(soft)(z), 0.0, atol=1e-6)
  # the full loss then has the hard term's gradient only (times alpha)
  full = lambda zz: kd.distillation_loss(zz, y, p, alpha=0.5, temperature=t)[0]
  hard = lambda zz: optax.softmax_cross_entropy_with_integer_labels(zz, y).mean()
  np.testing.assert_allclose(jax.grad(full)(z), 0.5 * jax.grad(hard)(z), atol=1e-6)


def test_soft_gradient_closed_form():
  z, y, teachers = data(1)
  t = 2.5
  p = kd.soft_targets(teachers, t)
  g = jax.grad(lambda zz: kd.distillation_loss(zz, y, p, alpha=0.0, temperature=t)[0])(z)
  want = t * t * (jax.nn.softmax(z / t) - p) / t / z.shape[0]
  np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-7)


def test_bad_arguments():
  z, y, teachers = data()
  p = kd.soft_targets(teachers, 3.0)
  with pytest.raises(ValueError, match="alpha"):
    kd.distillation_loss(z, y, p, alpha=1.5)
  with pytest.raises(ValueError, match="temperature"):
    kd.soft_targets(teachers, 0.0)
  with pytest.raises(ValueError, match="differ"):
    kd.distillation_loss(z, y, p[:, :2])
