"""Pieces shared by the classifiers: input checks, activations, pooling, LRN, parameter counting.

Every classifier in this package follows one contract (see CONVENTIONS.md):

* ``__call__(self, x, train: bool = False) -> (logits, aux)`` with ``x`` NHWC float32 and
  ``logits`` of shape (N, num_classes).
* ``aux["feature_map"]``: the last spatial feature map (N, h, w, C) before global pooling (or
  before the flatten of the fully connected head), passed through
  ``self.perturb("feature_map", x)`` so explainers can differentiate w.r.t. it through the
  ``perturbations`` collection.
* ``aux["pre_logits"]``: the vector that enters the final classification layer (N, D). For
  globally pooled nets it is the pooled vector; for nets with a hidden FC head (LeNet, AlexNet,
  VGG, MobileNetV3) it is the last hidden activation, and the pooled / flattened vector is
  also given as ``aux["pooled"]``.
* BatchNorm uses ``use_running_average=not train``; dropout needs a ``dropout`` rng when
  ``train=True``.
* ``in_channels: int | None``: when set, the channel count of ``x`` is checked in plain Python
  before tracing (ValueError). ``arch`` is the name used in error messages.
* Every activation goes through ``activation(name)`` (or the ``relu`` / ``gelu`` shorthands), so
  explainers can swap all of them at trace time with ``guided_activations()`` (guided backprop).
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "hard_swish": jax.nn.hard_swish,
    "swish": jax.nn.swish,
    "gelu": jax.nn.gelu,
}


_GUIDED = contextvars.ContextVar("guided_activations", default=False)


def guided(fn):
  """fn with the guided-backprop backward pass (Springenberg et al. 2015): the incoming gradient g is
  replaced by max(g, 0) before it passes through fn'(x), so for ReLU only positive gradients at
  positive inputs flow back: (x > 0) * max(g, 0)."""
  @jax.custom_vjp
  def f(x):
    return fn(x)

  def fwd(x):
    return fn(x), x

  def bwd(x, g):
    return jax.vjp(fn, x)[1](jnp.maximum(g, 0.0))

  f.defvjp(fwd, bwd)
  return f


_GUIDED_ACTIVATIONS = {name: guided(fn) for name, fn in ACTIVATIONS.items()}


@contextlib.contextmanager
def guided_activations():
  """Within this context, models traced (init / apply / jit) get the guided version of every activation."""
  token = _GUIDED.set(True)
  try:
    yield
  finally:
    _GUIDED.reset(token)


def activation(name: str):
  """Returns the activation function called `name` (ValueError listing the valid names); its guided
  version inside `guided_activations()`. Looked up at trace time, so call it inside __call__."""
  if name not in ACTIVATIONS:
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(sorted(ACTIVATIONS))}")
  return (_GUIDED_ACTIVATIONS if _GUIDED.get() else ACTIVATIONS)[name]


def relu(x):
  """ReLU through `activation` (guided inside `guided_activations()`)."""
  return activation("relu")(x)


def gelu(x):
  """GELU through `activation` (guided inside `guided_activations()`)."""
  return activation("gelu")(x)


def check_choice(value, choices, what: str) -> None:
  """ValueError unless value is one of choices."""
  if value not in choices:
    raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(str, choices))}")


def check_input(x, in_channels: int | None, arch: str, min_hw: int = 1) -> None:
  """Checks that x is NHWC, has `in_channels` channels (when not None) and H, W >= min_hw."""
  if np.ndim(x) != 4:
    raise ValueError(f"model {arch} expects NHWC input of rank 4, got shape {tuple(np.shape(x))}")
  if in_channels is not None and x.shape[-1] != in_channels:
    raise ValueError(f"model {arch} expects {in_channels} input channels, got {x.shape[-1]}")
  if min(x.shape[1], x.shape[2]) < min_hw:
    raise ValueError(f"model {arch} needs inputs of at least {min_hw}x{min_hw} pixels, "
                     f"got {x.shape[1]}x{x.shape[2]}")


def scaled(channels: int, width_multiplier: float) -> int:
  """round(channels * width_multiplier), at least 1."""
  return max(1, int(round(channels * width_multiplier)))


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
  """torchvision/TF-slim `_make_divisible`: round to a multiple of divisor, never below 90% of v."""
  min_value = divisor if min_value is None else min_value
  new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
  if new_v < 0.9 * v:
    new_v += divisor
  return new_v


def adaptive_avg_pool(x, out_hw: tuple[int, int]):
  """torch.nn.AdaptiveAvgPool2d on NHWC: bin i covers [floor(i*H/o), ceil((i+1)*H/o)).

  Identity when the input already has the output size (e.g. 7x7 for VGG at 224). Inputs
  smaller than the output are replicated, as in torch.
  """
  n, h, w, c = x.shape
  oh, ow = out_hw
  if (h, w) == (oh, ow):
    return x

  def bins(size, out):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]

  rows = [jnp.mean(x[:, a:b], axis=1, keepdims=True) for a, b in bins(h, oh)]
  x = jnp.concatenate(rows, axis=1)
  cols = [jnp.mean(x[:, :, a:b], axis=2, keepdims=True) for a, b in bins(w, ow)]
  return jnp.concatenate(cols, axis=2)


def local_response_norm(x, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
  """AlexNet LRN across channels, b_i = a_i / (k + alpha * sum_{|j-i|<=size//2} a_j^2)^beta.

  The formula is the paper's (alpha is *not* divided by size, unlike torch's
  LocalResponseNorm); the defaults are the paper's k=2, n=5, alpha=1e-4, beta=0.75 (the
  spec notes the book gives no numbers). x: (..., C).
  """
  half = size // 2
  sq = jnp.pad(jnp.square(x), [(0, 0)] * (x.ndim - 1) + [(half, size - 1 - half)])
  c = x.shape[-1]
  window = sum(sq[..., j:j + c] for j in range(size))
  return x / jnp.power(k + alpha * window, beta)


def count_params(model, input_shape, collection: str = "params") -> int:
  """Number of entries in `collection` after init on zeros(input_shape), via jax.eval_shape.

  Nothing is allocated, so this works for ImageNet-size networks on a laptop. BatchNorm
  running statistics live in `batch_stats` and are therefore not counted.
  """
  def init():
    return model.init(jax.random.key(0), jnp.zeros(input_shape, jnp.float32))

  shapes = jax.eval_shape(init)
  leaves = jax.tree_util.tree_leaves(shapes.get(collection, {}))
  return int(sum(math.prod(leaf.shape) for leaf in leaves))
