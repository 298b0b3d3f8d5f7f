"""Attention rollout (explain.rollout, explain.attention_rollout): closed forms for identity and uniform
attention, head averaging, a planted class-token attention, and the error for a model without attention."""

import jax.numpy as jnp
import numpy as np
import pytest

from test_explain import GapNet, _images, _init
from vision_jax import explain as ex


def test_attention_rollout_identity_and_uniform():
  n, heads, t, layers = 2, 3, 5, 4
  eye = jnp.broadcast_to(jnp.eye(t), (n, heads, t, t))
  np.testing.assert_allclose(ex.rollout([eye] * layers), np.broadcast_to(np.eye(t), (n, t, t)), atol=1e-6)
  uni = jnp.full((n, heads, t, t), 1.0 / t)
  np.testing.assert_allclose(ex.rollout([uni] * layers, residual=0.0), np.full((n, t, t), 1 / t), atol=1e-6)
  # with the 0.5 residual mix: (U/2 + I/2)^L = (1 - 2^-L) U + 2^-L I (U idempotent)
  expected = (1 - 0.5 ** layers) / t + 0.5 ** layers * np.eye(t)
  r = ex.rollout([uni] * layers)
  np.testing.assert_allclose(r, np.broadcast_to(expected, (n, t, t)), atol=1e-6)
  np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-6)
  # heads are averaged: one head attends to itself, one uniformly
  mixed = jnp.stack([jnp.eye(t), jnp.full((t, t), 1 / t)])[None]
  np.testing.assert_allclose(ex.rollout([mixed], residual=0.0)[0], 0.5 * np.eye(t) + 0.5 / t, atol=1e-6)


def test_attention_rollout_map_from_model_and_missing_attention_error():
  t = 1 + 16  # class token + 4x4 patches; the class token attends to patch 5 only
  att = np.full((1, 2, t, t), 1.0 / t, np.float32)
  att[:, :, 0, :] = 0.0
  att[:, :, 0, 1 + 5] = 1.0

  def fake_vit(variables, x, **kw):
    return jnp.zeros((x.shape[0], 3)), {"attention": (jnp.asarray(att),)}

  heat = ex.attention_rollout(fake_vit, {}, jnp.zeros((1, 8, 8, 3)), upsample=False, residual=0.0)
  expected = np.zeros((4, 4))
  expected[1, 1] = 1.0
  np.testing.assert_allclose(heat[0], expected, atol=1e-6)
  assert ex.attention_rollout(fake_vit, {}, jnp.zeros((1, 8, 8, 3))).shape == (1, 8, 8)
  with pytest.raises(ValueError, match=r"attention_rollout needs aux\['attention'\] but model GapNet"):
    ex.attention_rollout(GapNet(), _init(GapNet(), _images(0)), _images(0))
