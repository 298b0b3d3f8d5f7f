"""Explainers: analytic identities on tiny models, planted features, sanity checks, PAIR-code cross-checks."""

from typing import Callable

import flax.linen as nn

from vision_jax.models.classifiers.common import relu as common_relu
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage, stats

from vision_jax import explain as ex
from vision_jax.explain import _core, checks, verdict
from vision_jax.explain.overlay import overlay_grid
from vision_jax.models import CLASSIFIERS, get_classifier


# ----------------------------------------------------------------------------- tiny models
class GapNet(nn.Module):
  """conv -> ReLU -> feature map -> global average pool -> linear (the CAM architecture)."""
  num_classes: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.relu(nn.Conv(6, (3, 3), strides=2)(x))
    h = self.perturb("feature_map", h)
    pooled = h.mean(axis=(1, 2))
    return nn.Dense(self.num_classes)(pooled), {"feature_map": h, "pre_logits": pooled}


class LinearNet(nn.Module):
  """logits = flatten(x) @ W + b; no spatial feature map."""
  num_classes: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1)), {}


class ActNet(nn.Module):
  """Two conv layers with an injectable activation, then GAP + linear."""
  act: Callable = nn.relu
  num_classes: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = self.act(nn.Conv(8, (3, 3))(x))
    h = self.act(nn.Conv(8, (3, 3), strides=2)(h))
    h = self.perturb("feature_map", h)
    return nn.Dense(self.num_classes)(h.mean(axis=(1, 2))), {"feature_map": h}


class ActMLP(nn.Module):
  """Dense -> relu -> Dense -> relu -> Dense, its ReLUs from models.classifiers.common (guided-backprop ready)."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = common_relu(nn.Dense(16)(x.reshape(x.shape[0], -1)))
    h = common_relu(nn.Dense(8)(h))
    return nn.Dense(3)(h), {}


class Detector(nn.Module):
  """Planted feature: a fixed 3x3 mean filter fires (ReLU(mean - 0.5)) on bright squares."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.relu(nn.Conv(1, (3, 3))(x))
    h = self.perturb("feature_map", h)
    return nn.Dense(2)(h.mean(axis=(1, 2))), {"feature_map": h}


def _images(seed, n=2, size=16, c=3):
  return jnp.asarray(np.random.default_rng(seed).random((n, size, size, c)), jnp.float32)


def _init(model, x, seed=0):
  """Parameters drawn with numpy at each kernel's fan-in scale (biases 0.1 N(0, 1)). Tests avoid
  model.init because compiling threefry for many kernel shapes costs seconds on CPU."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x[:1])["params"]

  def draw(path, s):
    fan_in = int(np.prod(s.shape[:-1])) if len(s.shape) > 1 else 0
    scale = 1 / np.sqrt(fan_in) if fan_in else 0.1
    return jnp.asarray(rng.normal(size=s.shape) * scale, s.dtype)

  return {"params": jax.tree_util.tree_map_with_path(draw, shapes)}


def _planted(n=3, size=16, side=4, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.random((n, size, size, 1)) * 0.3
  mask = np.zeros((n, size, size), bool)
  for i in range(n):
    r, c = rng.integers(1, size - side - 1, 2)
    x[i, r:r + side, c:c + side] = 1.0
    mask[i, r:r + side, c:c + side] = True
  params = {"Conv_0": {"kernel": jnp.full((3, 3, 1, 1), 1 / 9), "bias": jnp.array([-0.5])},
            "Dense_0": {"kernel": jnp.array([[-100.0, 100.0]]), "bias": jnp.array([1.0, -1.0])}}
  return Detector(), {"params": params}, jnp.asarray(x, jnp.float32), mask


# Registry classifiers whose shape-only trace takes about a second or more on 2 CPU cores: their
# definition-order test is marked slow (every architecture class is covered fast by its _tiny variant).
SLOW_ORDER = {"googlenet", "resnet50", "resnet101", "resnet152", "xception", "mobilenet_v2", "mobilenet_v3_small",
              "mobilenet_v3_large", "densenet121", "efficientnet_b0", "vit", "vit_b16"}


def _check_definition_order(name):
  """definition_order vs what the test records itself in its own trace: the order in which the
  root's submodules are first *called* (entry, not creation) and the set of parameter groups."""
  import re
  model = get_classifier(name, 3, in_channels=1)
  called = []

  def record(next_fun, args, kwargs, context):
    path = context.module.scope.path if context.module.scope is not None else ()
    if len(path) == 1 and path[0] not in called:
      called.append(path[0])
    return next_fun(*args, **kwargs)

  for size in (16, 32, 64, 96, 224):  # the smallest input the model takes
    x = jax.ShapeDtypeStruct((1, size, size, 1), jnp.float32)
    called.clear()
    try:
      with nn.intercept_methods(record):
        params = jax.eval_shape(lambda xx: model.init(jax.random.key(0), xx, train=False), x)["params"]
      break
    except ValueError:
      continue
  order = checks.definition_order(model, x)
  assert sorted(order) == sorted(params) and len(order) == len(params), (name, order)
  modules = [n for n in called if n in params]  # submodules that own parameters, in call order
  assert [n for n in order if n in modules] == modules, (name, order, modules)
  assert order[-1] in ("head", "classifier"), (name, order)
  by_prefix = {}
  for n in order:  # numbered layers appear in numeric order (stage3_block9 before stage3_block10)
    m = re.fullmatch(r"(.*?)(\d+)", n)
    if m:
      by_prefix.setdefault(m.group(1), []).append(int(m.group(2)))
  for prefix, nums in by_prefix.items():
    assert nums == sorted(nums), (name, prefix, nums)


# ----------------------------------------------------------------------------- CAM family
def test_grad_cam_and_hires_cam_equal_cam_for_gap_linear_head():
  model, x = GapNet(), _images(0)
  v = _init(model, x)
  logits, aux = model.apply(v, x)
  t = jnp.argmax(logits, -1)
  cam = np.maximum(ex.class_activation_map(aux["feature_map"], v["params"]["Dense_0"]["kernel"], t), 0)
  hw = cam.shape[1] * cam.shape[2]
  gc_raw = ex.grad_cam(model, v, x, t, upsample=False, normalize=False)
  hi_raw = ex.hires_cam(model, v, x, t, upsample=False, normalize=False)
  np.testing.assert_allclose(gc_raw * hw, cam, rtol=1e-4, atol=1e-6)  # alpha_k = W[k, c] / (h w)
  np.testing.assert_allclose(hi_raw * hw, cam, rtol=1e-4, atol=1e-6)
  cam_up = ex.normalize_maps(ex.upsample(cam, (16, 16)))
  gc, hi = ex.grad_cam(model, v, x, t), ex.hires_cam(model, v, x, t)
  assert np.all(cam.max(axis=(1, 2)) > 0)
  assert gc.shape == (2, 16, 16) and float(gc.min()) == 0.0 and np.allclose(gc.max(axis=(1, 2)), 1.0)
  np.testing.assert_allclose(hi, cam_up, atol=1e-5)
  np.testing.assert_allclose(gc, cam_up, atol=1e-5)  # proportional before normalisation: equal after
  # Grad-CAM++ with g = W[k, c] / (h w) constant in space: alpha_k = 1 / (2 + mean(A_k) W[k, c]),
  # so the weights are relu(W[k, c]) / (2 + mean(A_k) W[k, c]).
  w = np.asarray(v["params"]["Dense_0"]["kernel"])[:, np.asarray(t)].T  # (N, K)
  a = np.asarray(aux["feature_map"])
  weights = np.maximum(w, 0) / (2 + a.mean(axis=(1, 2)) * w)
  expected = np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0)
  pp = ex.grad_cam_plus_plus(model, v, x, t, upsample=False, normalize=False)
  np.testing.assert_allclose(pp, expected, rtol=1e-4, atol=1e-6)


def test_grad_cam_accepts_apply_fn_closure_and_predicted_target():
  model, x = GapNet(), _images(1)
  # model.init returns a batch-1 "perturbations" collection along with params: it is ignored
  v = {**_init(model, x), "perturbations": {"feature_map": jnp.ones((1, 8, 8, 6))}}
  apply_fn = lambda variables, xx, **kw: model.apply(variables, xx, train=False, **kw)  # noqa: E731
  pred = np.asarray(model.apply({"params": v["params"]}, x)[0].argmax(-1))
  ref = ex.grad_cam(model, {"params": v["params"]}, x, pred)
  np.testing.assert_allclose(ex.grad_cam(apply_fn, v, x), ref, atol=1e-6)
  np.testing.assert_allclose(ex.grad_cam(model, v, x, pred), ref, atol=1e-6)


# ----------------------------------------------------------------------------- gradients
def test_saliency_of_linear_model_is_its_weights_and_occlusion_is_patch_sums():
  model, x = LinearNet(), _images(2)
  v = _init(model, x)
  w = np.asarray(v["params"]["Dense_0"]["kernel"]).reshape(16, 16, 3, 3)
  sal = ex.saliency(model, v, x, 2)
  np.testing.assert_allclose(sal, np.broadcast_to(w[..., 2], (2, 16, 16, 3)), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(ex.gradient_x_input(model, v, x, 2), x * w[..., 2], rtol=1e-5, atol=1e-7)
  # linear model: IG from black is exactly x * w (gradient constant along the path)
  np.testing.assert_allclose(ex.integrated_gradients(model, v, x, 2, steps=4), x * w[..., 2], rtol=1e-4, atol=1e-6)
  occ = np.asarray(ex.occlusion(model, v, x, 2, patch=4))
  contrib = (np.asarray(x) * w[..., 2]).sum(-1)  # (N, H, W)
  blocks = contrib.reshape(2, 4, 4, 4, 4).sum(axis=(2, 4))  # 4x4 patch sums
  np.testing.assert_allclose(occ, np.repeat(np.repeat(blocks, 4, 1), 4, 2), rtol=1e-4, atol=1e-5)


def test_integrated_gradients_completeness_on_nonlinear_model():
  model, x = ActNet(act=nn.softplus), _images(3)
  v = _init(model, x)
  f = lambda xx: np.asarray(model.apply(v, xx)[0][:, 1])  # noqa: E731
  for baseline, steps in [("black", 64), ("blurred", 64)]:
    x0 = ex.make_baseline(x, baseline)
    attr = ex.integrated_gradients(model, v, x, 1, baseline=baseline, steps=steps)
    gap = f(x) - f(x0)
    assert np.all(np.abs(gap) > 1e-3)
    np.testing.assert_allclose(np.asarray(attr).sum(axis=(1, 2, 3)), gap, rtol=0.01)


def test_smoothgrad_is_deterministic_given_key_and_zero_noise_is_saliency():
  model, x = ActNet(act=nn.softplus), _images(4)
  v = _init(model, x)
  a = ex.smoothgrad(model, v, x, 0, key=jax.random.key(1), num_samples=6)
  b = ex.smoothgrad(model, v, x, 0, key=jax.random.key(1), num_samples=6)
  c = ex.smoothgrad(model, v, x, 0, key=jax.random.key(2), num_samples=6)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  np.testing.assert_allclose(ex.smoothgrad(model, v, x, 0, key=jax.random.key(1), num_samples=3, noise_level=0.0),
                             ex.saliency(model, v, x, 0), rtol=1e-5, atol=1e-8)


def test_guided_backprop_matches_manual_rule():
  x = _images(5, n=2, size=4, c=2)
  model = ActMLP()
  v = _init(model, x)
  p = jax.tree.map(np.asarray, v["params"])
  g_relu = jax.vjp(ex.guided_relu, jnp.array([-1.0, 2.0, 3.0, 0.5]))[1](jnp.array([5.0, -1.0, 2.0, 0.0]))[0]
  np.testing.assert_array_equal(g_relu, [0.0, 0.0, 2.0, 0.0])  # passes only input > 0 and grad > 0
  gb = np.asarray(ex.guided_backprop(model, v, x, 1))
  xf = np.asarray(x).reshape(2, -1)
  for i in range(2):
    z1 = xf[i] @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
    z2 = np.maximum(z1, 0) @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]
    g = p["Dense_2"]["kernel"][:, 1]
    g = g * (z2 > 0) * (g > 0)
    g = p["Dense_1"]["kernel"] @ g
    g = g * (z1 > 0) * (g > 0)
    np.testing.assert_allclose(gb[i].ravel(), p["Dense_0"]["kernel"] @ g, rtol=1e-5, atol=1e-7)
  assert not np.allclose(gb, ex.saliency(model, v, x, 1))  # differs from the plain gradient
  # The guided mode ends with the call: the plain gradient afterwards is the plain gradient again.
  np.testing.assert_allclose(ex.saliency(model, v, x, 1), jax.grad(lambda z: model.apply(v, z)[0][:, 1].sum())(x),
                             rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["lenet5", "alexnet_tiny", "vgg_tiny", "googlenet_tiny", "resnet_tiny", "xception_tiny",
                                  "mobilenet_v2_tiny", "mobilenet_v3_small_tiny", "vit_tiny"])
def test_guided_backprop_works_on_every_registry_classifier(name):
  from vision_jax.models import CLASSIFIERS, get_classifier
  assert name in CLASSIFIERS
  model = get_classifier(name, 3, in_channels=1)
  size = {"alexnet_tiny": 64, "xception_tiny": 72}.get(name, 32)
  x = jnp.asarray(np.random.default_rng(0).random((2, size, size, 1), np.float32))
  from vision_jax.train.loop import compile_init  # init compiled at XLA O0: much faster than eager on CPU
  v = compile_init(lambda k: model.init(k, x, train=False), jax.random.key(0))(jax.random.key(0))
  v = {k: val for k, val in v.items() if k != "perturbations"}
  gb = np.asarray(ex.guided_backprop(model, v, x, 1))
  sal = np.asarray(ex.saliency(model, v, x, 1))
  assert gb.shape == x.shape and np.isfinite(gb).all() and np.abs(gb).sum() > 0
  assert not np.allclose(gb, sal, rtol=1e-3, atol=1e-7)  # every activation was swapped for its guided version


def test_the_guided_backprop_models_cover_every_registry_architecture():
  from vision_jax.models import CLASSIFIERS
  tested = {"lenet5", "alexnet_tiny", "vgg_tiny", "googlenet_tiny", "resnet_tiny", "xception_tiny", "mobilenet_v2_tiny",
            "mobilenet_v3_small_tiny", "vit_tiny",
            "efficientnet_tiny", "densenet_tiny", "mobilenet_v3_large_tiny"}  # these three: tests/test_medmnist_models.py
  cls = lambda n: getattr(CLASSIFIERS[n], "func", CLASSIFIERS[n])
  assert {cls(n) for n in CLASSIFIERS} == {cls(n) for n in tested}


# ----------------------------------------------------------------------------- planted feature
def test_planted_feature_is_localised_and_faithful():
  model, v, x, mask = _planted()
  assert np.all(np.asarray(model.apply(v, x)[0]).argmax(-1) == 1)
  cam = ex.grad_cam(model, v, x, 1)
  sal = ex.METHODS["saliency"](model, v, x, 1)
  dilated = ndimage.binary_dilation(mask, structure=np.ones((1, 3, 3)))  # detector's receptive field
  assert np.all(ex.energy_in_mask(cam, mask) > 0.95)
  assert np.all(ex.energy_in_mask(sal, dilated) > 0.95)
  assert np.all(ex.energy_in_mask(sal, mask) > 0.6)
  model_fn = lambda xx: model.apply(v, xx)  # noqa: E731
  res = ex.deletion_insertion_auc(model_fn, x, cam, 1, steps=16)
  assert res["deletion_curve"].shape == (3, 17)
  np.testing.assert_allclose(res["deletion_curve"][:, 0], jax.nn.softmax(model.apply(v, x)[0])[:, 1], rtol=1e-5)
  assert np.all(res["deletion"] < 0.3) and np.all(res["insertion"] > 0.7)
  assert np.all(res["deletion"] < res["insertion"])
  rand = ex.deletion_insertion_auc(model_fn, x, jnp.asarray(np.random.default_rng(0).random((3, 16, 16))), 1, steps=16)
  assert np.all(res["deletion"] < rand["deletion"]) and np.all(res["insertion"] > rand["insertion"])


def test_randomization_sanity_decorrelates_maps():
  model, x = ActNet(), _images(6, n=2)
  v = _init(model, x)
  for method in ("saliency", "grad_cam"):
    rows = ex.randomization_sanity(model, v, x, 0, method)
    assert [r[0] for r in rows] == ["original", "Dense_0", "Conv_1", "Conv_0"]
    rhos = np.array([r[1] for r in rows])
    np.testing.assert_allclose(rhos[0], 1.0)
    assert np.all(rhos[1:] < 0.99) and abs(rhos[-1]) < 0.3, rows
  # a custom method and an explicit order; unknown layers are rejected
  rows = ex.randomization_sanity(model, v, x, 0, ex.gradient_x_input, ["Conv_0"])
  assert rows[1][0] == "Conv_0" and rows[1][1] < 0.9
  with pytest.raises(ValueError, match="layer 'Conv_9' is not a parameter group of model ActNet"):
    ex.randomization_sanity(model, v, x, 0, "saliency", ["Conv_9"])


def test_normalize_maps_divides_by_max():
  maps = jnp.stack([jnp.full((3, 3), 2.0), jnp.zeros((3, 3)), jnp.arange(9.0).reshape(3, 3) - 4])
  out = np.asarray(ex.normalize_maps(maps))
  np.testing.assert_allclose(out[0], 1.0)  # e.g. a CAM from a 1x1 feature map: uniform, not zero
  np.testing.assert_allclose(out[1], 0.0)
  np.testing.assert_allclose(out[2], np.maximum(np.arange(9.0).reshape(3, 3) - 4, 0) / 4)


def test_energy_in_mask_and_spearman_helpers():
  m = np.array([[[1.0, 3.0], [0.0, 4.0]]])
  np.testing.assert_allclose(ex.energy_in_mask(m, np.array([[True, False], [False, True]])), [5 / 8])
  np.testing.assert_allclose(ex.energy_in_mask(np.zeros((2, 2)), np.ones((2, 2))), 0.0)
  a = np.random.default_rng(0).random((2, 5, 5))
  np.testing.assert_allclose(checks.spearman_per_image(a, a ** 3), [1.0, 1.0])
  np.testing.assert_allclose(checks.spearman_per_image(a, -a), [-1.0, -1.0])
  with pytest.raises(ValueError, match="negative"):
    ex.energy_in_mask(-m, m > 0)


# ----------------------------------------------------------------------------- errors
def test_missing_feature_map_and_bad_target_raise():
  model, x = LinearNet(), _images(7)
  v = _init(model, x)
  for name in ("grad_cam", "grad_cam_plus_plus", "hires_cam"):
    with pytest.raises(ValueError, match=rf"{name} needs aux\['feature_map'\] but model LinearNet"):
      ex.METHODS[name](model, v, x, 0)
  with pytest.raises(ValueError, match=r"target contains label 5 at index 0; expected integers in \[0, 3\)"):
    ex.saliency(model, v, x, 5)
  with pytest.raises(ValueError, match=r"label -1 at index 1"):
    ex.grad_cam(GapNet(), _init(GapNet(), x), x, jnp.array([0, -1]))
  with pytest.raises(ValueError, match="expected an image batch"):
    ex.saliency(model, v, x[0], 0)
  with pytest.raises(ValueError, match="unknown baseline 'gray'"):
    ex.integrated_gradients(model, v, x, 0, baseline="gray")


# ----------------------------------------------------------------------------- blur, overlay, report
def test_gaussian_blur_matches_scipy():
  x = _images(8, n=1, size=12, c=2)
  np.testing.assert_allclose(ex.gaussian_blur(x, 1.5), ndimage.gaussian_filter(np.asarray(x), (0, 1.5, 1.5, 0)),
                             atol=1e-5)


def test_save_overlay_writes_png(tmp_path):
  import matplotlib.image
  img = np.asarray(_images(9, n=1, size=10, c=3)[0])
  heat = np.outer(np.arange(10), np.ones(10)) / 9.0
  path = ex.save_overlay(img, heat, tmp_path / "sub" / "overlay.png", alpha=0.4, cmap="viridis")
  back = matplotlib.image.imread(path)
  assert back.shape[:2] == (10, 10)
  np.testing.assert_allclose(back[..., :3], ex.overlay_image(img, heat, 0.4, "viridis"), atol=1 / 255 + 1e-6)
  np.testing.assert_allclose(ex.overlay_image(img, heat, 0.0), img, atol=1e-6)
  with pytest.raises(ValueError, match="heatmap has shape"):
    ex.save_overlay(img, heat[:5], tmp_path / "x.png")


def test_explanation_report_markdown():
  model, v, x, mask = _planted(n=2)
  text, rows = ex.explanation_report(model, v, x, 1, ("grad_cam", "saliency"), mask=mask, steps=8)
  lines = text.strip().splitlines()
  assert lines[0] == "## Explanation quality"
  assert lines[4].startswith("| method | deletion_auc | insertion_auc | insertion_minus_deletion | energy_in_mask |")
  assert sum(line.startswith("| grad_cam |") for line in lines) == 1
  assert sum(line.startswith("| random (baseline) |") for line in lines) == 1
  ref = ex.deletion_insertion_auc(lambda xx: model.apply(v, xx), x, ex.grad_cam(model, v, x, 1), 1, 8)
  np.testing.assert_allclose(rows[0]["deletion_auc"], ref["deletion"].mean(), rtol=1e-5)
  np.testing.assert_allclose(rows[0]["deletion_auc_sd"], ref["deletion"].std(ddof=1), rtol=1e-5)  # mean ± sd
  assert f"| grad_cam | {ref['deletion'].mean():.3f} ± {ref['deletion'].std(ddof=1):.3f} |" in text
  assert rows[0]["energy_in_mask"] > 0.95 and rows[0]["insertion_minus_deletion"] > 0.4
  assert ex.markdown_table([{"a": 1, "b": 0.12345}, {"a": 2}]) == "| a | b |\n|---|---|\n| 1 | 0.123 |\n| 2 | - |\n"


def _pair_call_model_function(model, v):
  saliency = pytest.importorskip("saliency.core")

  def call_model_function(x_batch, call_model_args=None, expected_keys=None):
    target = call_model_args["class"]
    x_batch = jnp.asarray(x_batch, jnp.float32)
    out = {}
    if saliency.INPUT_OUTPUT_GRADIENTS in expected_keys:
      score = lambda xx: model.apply(v, xx)[0][:, target].sum()  # noqa: E731
      out[saliency.INPUT_OUTPUT_GRADIENTS] = np.asarray(jax.grad(score)(x_batch))
    if saliency.CONVOLUTION_LAYER_VALUES in expected_keys:
      _, aux = model.apply(v, x_batch)
      zeros = {"feature_map": jnp.zeros_like(aux["feature_map"])}
      score = lambda pert: model.apply({**v, "perturbations": pert}, x_batch)[0][:, target].sum()  # noqa: E731
      out[saliency.CONVOLUTION_LAYER_VALUES] = np.asarray(aux["feature_map"])
      out[saliency.CONVOLUTION_OUTPUT_GRADIENTS] = np.asarray(jax.grad(score)(zeros)["feature_map"])
    return out

  return saliency, call_model_function


def test_grad_cam_and_integrated_gradients_match_pair_saliency():
  model, x = ActNet(act=nn.softplus), _images(10, n=1)
  v = _init(model, x)
  saliency, fn = _pair_call_model_function(model, v)
  xi = np.asarray(x[0])
  c = int(model.apply(v, x)[0].argmax())
  ref = saliency.GradCam().GetMask(xi, fn, {"class": c}, should_resize=False, three_dims=False)
  ours = ex.grad_cam(model, v, x, c, upsample=False, normalize=False)[0]
  assert float(ours.max()) > 0
  np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)
  # upsampled: both bilinear with half-pixel centres; skimage mirrors at the border where
  # jax.image.resize clamps, so only the one-pixel frame differs. (PAIR divides by the max
  # before resizing, ours after, so compare the unnormalised map scaled by the raw max.)
  ref_up = saliency.GradCam().GetMask(xi, fn, {"class": c}, should_resize=True, three_dims=False)
  ours_up = ex.grad_cam(model, v, x, c, normalize=False)[0] / ours.max()
  np.testing.assert_allclose(ours_up[1:-1, 1:-1], ref_up[1:-1, 1:-1], atol=1e-5)
  assert stats.pearsonr(np.ravel(ours_up), ref_up.ravel()).statistic > 0.9
  # PAIR averages `x_steps` gradients from a=0 to 1 (a left-and-right Riemann mix); ours is the
  # trapezoid rule; both converge to the same integral.
  ref_ig = saliency.IntegratedGradients().GetMask(xi, fn, {"class": c}, x_steps=129, batch_size=129)
  ours_ig = np.asarray(ex.integrated_gradients(model, v, x, c, steps=128)[0])
  np.testing.assert_allclose(ours_ig, ref_ig, atol=0.02 * np.abs(ref_ig).max())
  ref_sal = saliency.GradientSaliency().GetMask(xi, fn, {"class": c})
  np.testing.assert_allclose(ex.saliency(model, v, x, c)[0], ref_sal, rtol=1e-5, atol=1e-8)
