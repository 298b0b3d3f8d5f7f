"""Explanation evaluation (vision_jax.explain.evaluation / activation_max): closed forms, and a model
trained on a planted-box dataset whose maps must concentrate in the box while a random map does not."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vision_jax import explain as ex
from vision_jax.explain import evaluation
from vision_jax.models.classifiers.common import relu
from vision_jax.models.conv import Conv


def test_box_masks_pixel_centres():
  m = evaluation.box_masks([[1.0, 2.0, 3.0, 5.0], [0.4, 0.0, 0.6, 1.0]], (6, 4))
  want = np.zeros((6, 4), bool)
  want[2:5, 1:3] = True
  np.testing.assert_array_equal(m[0], want)
  assert m[1].sum() == 1 and m[1][0, 0]  # centre (0.5, 0.5) is inside [0.4, 0.6) x [0, 1)
  with pytest.raises(ValueError, match=r"expected \(N, 4\)"):
    evaluation.box_masks(np.zeros(4), (3, 3))


def test_pointing_game_and_mass_closed_forms():
  maps = np.zeros((3, 8, 8))
  maps[0, 2, 2] = 1.0          # peak inside
  maps[1, 7, 7] = 1.0          # peak outside, sqrt(18) = 4.24 px from the box corner (4, 4)
  maps[2] = 1.0                # uniform: ties everywhere, some inside
  masks = np.zeros((3, 8, 8), bool)
  masks[:, 1:5, 1:5] = True
  np.testing.assert_array_equal(evaluation.pointing_game(maps, masks), [True, False, True])
  np.testing.assert_array_equal(evaluation.pointing_game(maps, masks, tolerance=4), [True, False, True])
  np.testing.assert_array_equal(evaluation.pointing_game(maps, masks, tolerance=5), [True, True, True])
  np.testing.assert_allclose(evaluation.mass_in_region(maps, masks), [1.0, 0.0, 16 / 64])
  with pytest.raises(ValueError, match="expected"):
    evaluation.pointing_game(maps, masks[:2])


def test_surrogate_tree_fidelity_against_a_known_rule():
  rng = np.random.default_rng(0)
  f_train, f_test = rng.normal(size=(400, 6)), rng.normal(size=(200, 6))
  net = lambda f: (f[:, 2] > 0.3).astype(int)  # a "network" that thresholds one feature
  labels = (f_test[:, 2] + 0.5 * rng.normal(size=200) > 0.3).astype(int)
  out = evaluation.surrogate_tree(f_train, net(f_train), f_test, net(f_test), labels, max_depth=1)
  assert out["fidelity"] > 0.97 and out["depth"] == 1 and out["leaves"] == 2
  assert out["tree"].tree_.feature[0] == 2
  assert out["network_accuracy"] == pytest.approx(np.mean(net(f_test) == labels))
  # a network that is an XOR of two features: a depth-1 tree cannot mimic it, depth 2 can
  xor = lambda f: ((f[:, 0] > 0) ^ (f[:, 1] > 0)).astype(int)
  shallow = evaluation.surrogate_tree(f_train, xor(f_train), f_test, xor(f_test), max_depth=1)
  deep = evaluation.surrogate_tree(f_train, xor(f_train), f_test, xor(f_test), max_depth=3)
  assert shallow["fidelity"] < 0.7 < 0.95 < deep["fidelity"]


class _Linear(nn.Module):
  """logits = [0, sum(w * x)] with a fixed w: activation maximization has a closed-form optimum."""
  @nn.compact
  def __call__(self, x, train=False):
    w = self.param("w", nn.initializers.normal(1.0), x.shape[1:])
    s = jnp.sum(x * w, axis=(1, 2, 3))
    fmap = self.perturb("feature_map", x * w)
    return jnp.stack([jnp.zeros_like(s), s], -1), {"feature_map": fmap}


def test_activation_maximization_l2_closed_form_and_tv_smooths():
  model = _Linear()
  v = model.init(jax.random.key(0), jnp.zeros((1, 6, 6, 1)))
  w = np.asarray(v["params"]["w"])
  # maximise <w, x> - l2 |x|^2: optimum w / (2 l2); plain ascent without clipping, jitter or blur
  out = ex.activation_maximization(model, v, 1, (1, 6, 6, 1), l2=0.5, tv=0.0, lr=0.2, steps=100, init=0.0, clip=None)
  np.testing.assert_allclose(out["images"][0], w / (2 * 0.5), atol=1e-4)
  np.testing.assert_allclose(out["score"][0], np.sum(w * w), rtol=1e-4)
  assert np.all(np.diff(out["trace"][:, 0]) >= -1e-5)  # the score rises monotonically toward the optimum
  smooth = ex.activation_maximization(model, v, 1, (1, 6, 6, 1), l2=0.5, tv=0.3, lr=0.1, steps=150, init=0.0, clip=None)
  assert float(ex.total_variation(jnp.asarray(smooth["images"]))[0]) < 0.8 * float(ex.total_variation(jnp.asarray(out["images"]))[0])
  blurred = ex.activation_maximization(model, v, 1, (1, 6, 6, 1), l2=0.5, tv=0.0, lr=0.2, steps=40, init=0.0,
                                       clip=(0.0, 1.0), blur_sigma=1.0, blur_every=5, jitter=1)
  assert blurred["images"].min() >= 0 and blurred["images"].max() <= 1
  with pytest.raises(ValueError, match="unknown objective"):
    ex.activation_maximization(model, v, 1, (1, 6, 6, 1), objective="neuron")


# ----------------------------------------------------------------------------- planted box, trained model
class _TinyCNN(nn.Module):
  @nn.compact
  def __call__(self, x, train=False):
    x = relu(Conv(8, (3, 3), padding="SAME")(x))
    x = relu(Conv(16, (3, 3), padding="SAME")(x))
    x = self.perturb("feature_map", x)
    pooled = x.mean(axis=(1, 2))
    return nn.Dense(2)(pooled), {"feature_map": x, "pre_logits": pooled}


def _planted(rng, n, size=20, side=5):
  """Noise N(0.5, 0.08^2) with one side x side patch brighter (+0.3, class 1) or darker (-0.3, class 0)."""
  x = 0.5 + 0.08 * rng.normal(size=(n, size, size, 1))
  labels = rng.integers(0, 2, n)
  y0, x0 = rng.integers(0, size - side + 1, (2, n))
  boxes = np.stack([x0, y0, x0 + side, y0 + side], 1).astype(np.float64)
  for i in range(n):
    x[i, y0[i]:y0[i] + side, x0[i]:x0[i] + side] += 0.3 if labels[i] else -0.3
  return np.clip(x, 0, 1).astype(np.float32), labels.astype(np.int32), boxes


@pytest.fixture(scope="module")
def planted_model():
  rng = np.random.default_rng(0)
  xtr, ytr, _ = _planted(rng, 512)
  model = _TinyCNN()
  params = model.init(jax.random.key(0), xtr[:1])["params"]
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, xb, yb):
    loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb)[0], yb).mean()
    g = jax.grad(loss)(params)
    up, opt = tx.update(g, opt)
    return optax.apply_updates(params, up), opt

  for s in range(150):
    idx = rng.integers(0, 512, 64)
    params, opt = step(params, opt, xtr[idx], ytr[idx])
  xte, yte, boxes = _planted(rng, 24)
  return model, {"params": params}, xte, yte, boxes


def test_planted_box_maps_concentrate_in_box_and_beat_random_order(planted_model):
  model, v, x, y, boxes = planted_model
  acc = float(np.mean(np.asarray(model.apply(v, x)[0]).argmax(-1) == y))
  assert acc > 0.9
  masks = evaluation.box_masks(boxes, x.shape[1:3])
  # deleted pixels take the background mean: black would itself be evidence for the dark-patch class
  rows, maps = evaluation.explanation_quality(model, v, x, y, ("saliency", "grad_cam"), masks=masks, steps=10,
                                              baseline=0.5)
  by = {r["method"]: r for r in rows}
  share = by["saliency"]["area_share"]
  assert share == pytest.approx(25 / 400)
  rand = by["random (baseline)"]
  assert by["grad_cam"]["mass_in_region"] > 4 * share  # far above the box's area share (measured 0.36 vs 0.06)
  assert by["grad_cam"]["pointing"] > 0.8
  assert by["saliency"]["mass_in_region"] > 1.5 * share  # raw gradients of a GAP net spread over the noise
  for name in ("saliency", "grad_cam"):
    assert by[name]["deletion_auc"] < rand["deletion_auc"] - 0.1  # measured 0.37 / 0.36 vs 0.55
    assert by[name]["insertion_auc"] > rand["insertion_auc"] + 0.1
    assert by[name]["rho_all_randomized"] < 0.3
  assert abs(rand["mass_in_region"] - share) < 0.02  # a random map scores the area share
  assert rand["pointing"] < 0.3
  assert set(maps) == {"saliency", "grad_cam"} and maps["saliency"].shape == (24, 20, 20)
