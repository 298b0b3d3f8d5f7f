"""Classifiers: published parameter counts, the (logits, aux) contract, perturbations, training."""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vision_jax.models.classifiers import CLASSIFIERS, count_params, get_classifier, vit_param_count
from vision_jax.models.classifiers.common import adaptive_avg_pool, local_response_norm, make_divisible
from vision_jax.models.classifiers.lenet_alexnet_vgg import lenet_c3_mask

# name -> (input side, channels, classes, published count, feature_map shape at that input)
PUBLISHED = {
    "lenet5": (32, 1, 10, 61_706, (10, 10, 16)),
    "alexnet": (224, 3, 1000, 61_100_840, (13, 13, 256)),
    "alexnet_original": (227, 3, 1000, 62_378_344, (13, 13, 256)),  # spec's computed number
    "vgg11": (224, 3, 1000, 132_863_336, (14, 14, 512)),
    "vgg16": (224, 3, 1000, 138_357_544, (14, 14, 512)),
    "vgg19": (224, 3, 1000, 143_667_240, (14, 14, 512)),
    "googlenet": (224, 3, 1000, 6_998_552, (7, 7, 1024)),  # original, no BN, no aux heads
    "resnet18": (224, 3, 1000, 11_689_512, (7, 7, 512)),
    "resnet34": (224, 3, 1000, 21_797_672, (7, 7, 512)),
    "resnet50": (224, 3, 1000, 25_557_032, (7, 7, 2048)),
    "xception": (299, 3, 1000, 22_855_952, (10, 10, 2048)),  # Keras trainable params
    "mobilenet_v2": (224, 3, 1000, 3_504_872, (7, 7, 1280)),
    "mobilenet_v3_small": (224, 3, 1000, 2_542_856, (7, 7, 576)),  # torchvision
    "vit": (224, 3, 1000, 86_567_656, (14, 14, 768)),  # ViT-B/16
}


def _shapes(model, shape):
  """(output shapes, variable shapes) of init_with_output, without allocating anything."""
  return jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), jnp.zeros(shape)))


def _n(tree):
  return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_count_and_shapes(name):
  side, ch, classes, want, fmap = PUBLISHED[name]
  model = get_classifier(name, classes)
  (logits, aux), variables = _shapes(model, (2, side, side, ch))
  assert _n(variables["params"]) == want
  assert logits.shape == (2, classes)
  assert aux["feature_map"].shape == (2,) + fmap
  assert aux["pre_logits"].ndim == 2
  assert variables["perturbations"]["feature_map"].shape == (2,) + fmap


def test_batch_stats_are_not_counted():
  model = get_classifier("resnet18", 1000)
  _, variables = _shapes(model, (1, 224, 224, 3))
  # 4,800 BN channels: scale+bias (9,600) are params, mean+var (9,600) are batch_stats
  bn_params = [l for path, l in jax.tree_util.tree_leaves_with_path(variables["params"])
               if "bn" in jax.tree_util.keystr(path)]
  assert _n(bn_params) == _n(variables["batch_stats"]) == 9_600
  assert count_params(model, (1, 224, 224, 3)) == 11_689_512


def test_vit_b16_count_formula():
  assert vit_param_count(224, 16, 768, 12, 3072, 1000) == 86_567_656
  assert count_params(get_classifier("vit_b16", 1000), (1, 224, 224, 3)) == 86_567_656
  # the formula also covers other shapes and the class-token-free "gap" head
  for kw, cls_token in (({}, True), ({"classifier": "gap"}, False)):
    got = count_params(get_classifier("vit_tiny", 7, in_channels=2, **kw), (1, 16, 16, 2))
    assert got == vit_param_count(16, 4, 32, 2, 64, 7, in_channels=2, class_token=cls_token)


def _variables(model, x, seed=0):
  """Concrete variables without running `model.init`: shapes from jax.eval_shape, values from
  NumPy (fan-in scaled normal kernels, BN identity, zero biases/perturbations). On CPU this
  avoids compiling the random initialisers, which dominates test time."""
  rng = np.random.default_rng(seed)

  def fill(path, s):
    key = jax.tree_util.keystr(path)
    if key.endswith(("['var']", "['scale']")):
      return np.ones(s.shape, np.float32)
    if key.endswith(("['mean']", "['bias']")) or key.startswith("['perturbations']"):
      return np.zeros(s.shape, np.float32)
    fan_in = math.prod(s.shape[:-1]) if len(s.shape) > 1 else 1
    return (rng.normal(size=s.shape) / math.sqrt(fan_in)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(fill, jax.eval_shape(model.init, jax.random.key(0), x))


SMALL = [  # (name, overrides, input side, channels); plain lenet5 / resnet_tiny: training test
    ("lenet5", {"c3_table": True, "act": "relu", "pooling": "max"}, 32, 1),
    ("alexnet_tiny", {}, 64, 3),
    ("alexnet_tiny", {"variant": "original", "lrn": True}, 67, 3),
    ("vgg_tiny", {"batch_norm": True}, 32, 3),
    ("googlenet_tiny", {"use_bn": True, "lrn": True}, 32, 3),
    ("resnet_tiny", {"block": "bottleneck", "version": "1", "cifar_stem": True}, 16, 3),
    ("xception_tiny", {}, 32, 4),
    ("mobilenet_v2_tiny", {}, 32, 3),
    ("mobilenet_v3_small_tiny", {}, 32, 3),
    ("vit_tiny", {}, 16, 3),
    ("vit_tiny", {"classifier": "gap"}, 16, 3),
]


@pytest.mark.parametrize("name,kw,side,ch", SMALL, ids=[f"{s[0]}-{i}" for i, s in enumerate(SMALL)])
def test_small_variant_contract_and_perturbations(name, kw, side, ch):
  model = get_classifier(name, 5, **kw)
  x = np.random.default_rng(1).uniform(size=(2, side, side, ch)).astype(np.float32)
  variables = _variables(model, x)
  pert = variables.pop("perturbations")
  has_bn = "batch_stats" in variables

  # backend optimisation level 0: XLA:CPU compile time dominates this test, not run time
  @partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})
  def run(q, x):
    """Eval logits/aux, d logits[0, 1] / d perturbation, and a train-mode forward pass."""
    f = lambda q: (lambda out: (out[0][0, 1], out))(model.apply({**variables, "perturbations": q}, x))
    (_, (logits, aux)), grad = jax.value_and_grad(f, has_aux=True)(q)
    (logits_t, _), state = model.apply({**variables, "perturbations": q}, x, train=True,
                                       mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
    return logits, aux, grad["feature_map"], logits_t, state

  # expand around a random perturbation: exact zeros after ReLU tie in max-pools (kinks)
  pert = {"feature_map": np.random.default_rng(2).normal(
      scale=0.1, size=pert["feature_map"].shape).astype(np.float32)}
  logits, aux, grad, logits_t, state = run(pert, x)
  assert logits.shape == logits_t.shape == (2, 5)
  assert np.all(np.isfinite(logits)) and np.all(np.isfinite(logits_t))
  assert aux["feature_map"].ndim == 4 and aux["pre_logits"].shape[0] == 2
  if has_bn:  # train mode normalises with batch statistics and updates the running ones
    assert any(float(jnp.abs(a - b).max()) > 0 for a, b in zip(
        jax.tree_util.tree_leaves(variables["batch_stats"]), jax.tree_util.tree_leaves(state)))
  # a perturbation is added to exactly the returned feature map
  _, aux2, *_ = run({"feature_map": pert["feature_map"] + 0.01}, x)
  np.testing.assert_allclose(aux2["feature_map"] - aux["feature_map"], 0.01, atol=1e-5)
  # the gradient is nonzero and its norm equals the directional derivative along it
  norm = float(jnp.linalg.norm(grad))
  assert grad.shape == aux["feature_map"].shape and norm > 0
  h = 1e-3
  f = lambda t: float(run({"feature_map": pert["feature_map"] + t * grad / norm}, x)[0][0, 1])
  np.testing.assert_allclose((f(h) - float(logits[0, 1])) / h, norm, rtol=2e-2)
  if "attention" in aux:  # ViT: one row-stochastic (N, heads, T, T) map per block
    tokens = (side // 4) ** 2 + (kw.get("classifier", "token") == "token")
    assert len(aux["attention"]) == 2
    for a in aux["attention"]:
      assert a.shape == (2, 2, tokens, tokens)
      np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)


def test_resnet_v1_vs_v1_5_stride_placement():
  x = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype(np.float32)
  models = {v: get_classifier("resnet_tiny", 4, block="bottleneck", version=v) for v in ("1", "1.5")}
  variables = _variables(models["1"], x)
  for version, model in models.items():
    shapes = jax.tree.map(jnp.shape, jax.eval_shape(model.init, jax.random.key(0), x)["params"])
    assert shapes == jax.tree.map(jnp.shape, variables["params"])  # identical parameters
    _, state = jax.eval_shape(lambda v: model.apply(v, x, capture_intermediates=True,
                                                    mutable=["intermediates"]), variables)
    block = state["intermediates"]["stage2_block1"]
    # stem: 32 -> 16 -> 8 (max-pool); stage 2 halves 8 -> 4 in conv1 (v1) or conv2 (v1.5)
    hw = (block["conv1"]["__call__"][0].shape[1], block["conv2"]["__call__"][0].shape[1])
    assert hw == ((4, 4) if version == "1" else (8, 4))
  out = {v: jax.jit(m.apply)(variables, x)[0] for v, m in models.items()}
  assert float(jnp.abs(out["1"] - out["1.5"]).max()) > 1e-4  # same params, different function


def test_channel_mismatch_and_bad_input_raise():
  model = get_classifier("resnet18", 10, in_channels=3)
  with pytest.raises(ValueError, match="model resnet18 expects 3 input channels, got 1"):
    model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
  with pytest.raises(ValueError, match="rank 4"):
    get_classifier("lenet5", 10).init(jax.random.key(0), jnp.zeros((32, 32, 1)))
  with pytest.raises(ValueError, match="divisible by patch_size"):
    get_classifier("vit_tiny", 10).init(jax.random.key(0), jnp.zeros((1, 18, 18, 3)))
  with pytest.raises(ValueError, match="ResNet version"):
    get_classifier("resnet_tiny", 10, version="2").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match="unknown classifier 'resnet9'") as err:
    get_classifier("resnet9", 10)
  for name in ("lenet5", "alexnet", "vgg11", "vgg16", "vgg19", "googlenet", "resnet18", "resnet34",
               "resnet50", "xception", "mobilenet_v2", "mobilenet_v3_small", "vit"):
    assert name in CLASSIFIERS and name in str(err.value)


def test_common_helpers_against_references():
  x = jnp.arange(5.0).reshape(1, 5, 1, 1) * jnp.ones((1, 1, 5, 1))
  # torch AdaptiveAvgPool2d 5 -> 3 uses bins [0,2), [1,4), [3,5)
  np.testing.assert_allclose(adaptive_avg_pool(x, (3, 1))[0, :, 0, 0], [0.5, 2.0, 3.5])
  np.testing.assert_allclose(adaptive_avg_pool(x[:, :1, :1], (2, 2)), jnp.zeros((1, 2, 2, 1)))
  a = np.random.default_rng(0).normal(size=(2, 3, 7)).astype(np.float32)
  ref = np.empty_like(a)
  for i in range(7):
    s = np.sum(a[..., max(0, i - 2):min(7, i + 3)] ** 2, axis=-1)
    ref[..., i] = a[..., i] / (2.0 + 1e-4 * s) ** 0.75
  np.testing.assert_allclose(local_response_norm(jnp.asarray(a)), ref, rtol=1e-6)
  assert [make_divisible(v) for v in (4, 60, 30, 36, 32 * 0.25, 1280)] == [8, 64, 32, 40, 8, 1280]
  mask = lenet_c3_mask()
  assert mask.sum() == 60 * 25 and mask[..., 15].sum() == 6 * 25


def _digits(side):
  from sklearn.datasets import load_digits
  d = load_digits()
  x = (d.images / 16.0).astype(np.float32)[..., None]
  x = np.kron(x, np.ones((1, side // 8, side // 8, 1), np.float32))
  return jnp.asarray(x[:512]), jnp.asarray(d.target[:512])


@pytest.mark.parametrize("name,kw,side,steps,lr", [
    ("lenet5", {}, 16, 40, 3e-3),
    ("resnet_tiny", {"stage_sizes": (1, 1), "cifar_stem": True}, 8, 25, 1e-2),  # BN in train mode
])
def test_small_cnn_trains_on_digits(name, kw, side, steps, lr):
  x, y = _digits(side)
  model = get_classifier(name, 10, in_channels=1, **kw)
  variables = _variables(model, x[:2])
  params, state = variables["params"], {k: v for k, v in variables.items()
                                        if k not in ("params", "perturbations")}
  tx = optax.adam(lr)
  opt = tx.init(params)

  def loss_fn(p, s):
    (logits, _), new = model.apply({"params": p, **s}, x, train=True, mutable=list(s))
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new

  @jax.jit
  def step(p, s, o):
    (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s)
    updates, o = tx.update(g, o, p)
    return optax.apply_updates(p, updates), new, o, loss

  losses = []
  for _ in range(steps):
    params, state, opt, loss = step(params, state, opt)
    losses.append(float(loss))
  assert losses[0] > 2.0  # ~ln(10) at init
  assert losses[-1] < 0.5 * losses[0], losses
  logits, _ = model.apply({"params": params, **state}, x)
  assert float(jnp.mean(jnp.argmax(logits, -1) == y)) > 0.7
