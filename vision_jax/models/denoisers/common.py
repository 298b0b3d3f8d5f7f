"""Shared denoiser pieces: input checks, BatchNorm, resizing, output heads, parameter counts.

Every image denoiser in this package follows one contract (see CONVENTIONS.md):

* ``__call__(self, x, train: bool = False) -> (y, aux)`` with ``x`` and ``y`` NHWC float32,
  ``(N, H, W, C)``; ``y`` has ``out_channels`` channels (default: the input's ``C``).
* Residual-learning models (``residual=True`` or ``output="residual"``) predict the noise ``n``
  and return ``y = x - n``, with ``n`` in ``aux["noise"]``.
* Deep-supervision side outputs go in ``aux["side_outputs"]``: a tuple of NHWC arrays at full
  resolution.
* BatchNorm uses ``use_running_average=not train`` (collection ``batch_stats``).
* Shapes are checked in plain Python before tracing: H and W must be multiples of the
  network's total downsampling factor (ValueError naming the shape and the multiple).
"""

from __future__ import annotations

import jax
import numpy as np
from flax import linen as nn

from vision_jax.models.pool import max_pool

OUTPUTS = ("sigmoid", "none", "residual")


def count_params(tree) -> int:
  """Total number of scalars in a pytree of arrays (or of jax.ShapeDtypeStruct from eval_shape)."""
  return int(sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree)))


def check_image_input(x, multiple: int, arch: str) -> None:
  """ValueError unless x is NHWC (rank 4) with H and W positive multiples of `multiple`.

  Runs in plain Python on the static shape, so it fails before any XLA tracing goes deep.
  """
  shape = tuple(np.shape(x))
  if len(shape) != 4:
    raise ValueError(f"denoiser {arch} expects NHWC input of rank 4, got shape {shape}")
  _, h, w, _ = shape
  if h <= 0 or w <= 0 or h % multiple or w % multiple:
    raise ValueError(f"denoiser {arch} got input shape {shape}: H={h} and W={w} must be positive "
                     f"multiples of {multiple} (its total downsampling factor)")


def check_choice(value, choices, what: str) -> None:
  """ValueError unless value is one of choices, listing them."""
  if value not in choices:
    raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(str, choices))}")


def batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
  """BatchNorm with PyTorch-like constants (momentum 0.9 = torch 0.1, eps 1e-5)."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def resize_to(x: jax.Array, hw: tuple[int, int], method: str = "bilinear") -> jax.Array:
  """Resizes NHWC x to spatial size hw=(H, W) with jax.image.resize (half-pixel centres)."""
  if tuple(x.shape[1:3]) == tuple(hw):
    return x
  return jax.image.resize(x, (x.shape[0], hw[0], hw[1], x.shape[3]), method=method)


def max_pool2(x: jax.Array) -> jax.Array:
  """2x2 max pooling with stride 2: (N, H, W, C) -> (N, H/2, W/2, C)."""
  return max_pool(x, (2, 2), strides=(2, 2))


def apply_output(x: jax.Array, logits: jax.Array, output: str) -> jax.Array:
  """Maps the network's raw head `logits` (N, H, W, C') to the image estimate.

  "sigmoid": sigmoid(logits) (U2Net paper); "none": logits as is; "residual": x - logits
  (logits are the predicted noise; needs C' == C).
  """
  if output == "sigmoid":
    return jax.nn.sigmoid(logits)
  if output == "none":
    return logits
  return x - logits


def resolve_out_channels(x, out_channels: int | None, residual: bool, arch: str) -> int:
  """Output channel count: `out_channels` or the input's C; residual outputs need them equal."""
  c = int(np.shape(x)[-1])
  out = c if out_channels is None else int(out_channels)
  if residual and out != c:
    raise ValueError(f"denoiser {arch} with a residual output needs out_channels == input "
                     f"channels, got out_channels={out} for input shape {tuple(np.shape(x))}")
  return out


def num_params_conv(k: int, cin: int, cout: int, bias: bool = True) -> int:
  """Parameters of a k x k convolution cin -> cout (kernel k*k*cin*cout, plus cout biases)."""
  return k * k * cin * cout + (cout if bias else 0)

