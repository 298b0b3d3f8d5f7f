"""What a model costs: FLOPs from XLA's cost analysis of the lowered computation, stored size in
MB (fp32 and int8 after post-training min/max quantization of the weights) and wall-clock
inference time.

FLOPs: `jax.jit(fn).lower(...).cost_analysis()["flops"]`, counted by XLA on the HLO. A convolution
counts 2 * C_in/groups per output element and *valid* kernel tap (taps that fall on zero padding
are not counted, so a 'SAME' 3x3 conv on 28x28 counts 82^2 = 6724 taps per channel pair instead of
28^2 * 9); bias adds, activations and poolings add their elementwise counts. Convolutions are
lowered through `lax.conv_general_dilated` while counting (VISION_JAX_CONV=xla), so the count does
not depend on the CPU tap route `vision_jax.models.conv` may pick.

Size: MB = 2^20 bytes (Keras' file sizes in the MedMNIST paper: 1,618,345 float32 parameters ->
6.17 MB); every stored variable counts (parameters and BatchNorm running statistics).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

MB = 2.0 ** 20


@contextlib.contextmanager
def _xla_convolutions():
  from vision_jax.models import conv
  old = os.environ.get(conv.ENV_VAR)
  os.environ[conv.ENV_VAR] = "xla"
  try:
    yield
  finally:
    if old is None:
      os.environ.pop(conv.ENV_VAR, None)
    else:
      os.environ[conv.ENV_VAR] = old


def lowered_flops(fn: Callable, *args) -> float:
  """FLOPs of one call fn(*args) from XLA's cost analysis of the lowered (uncompiled) program."""
  with _xla_convolutions():
    analysis = jax.jit(fn).lower(*args).cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax returned one dict per device program
    analysis = analysis[0]
  if not analysis or "flops" not in analysis:
    raise ValueError("XLA's cost analysis gave no 'flops' entry for this function")
  return float(analysis["flops"])


def model_flops(model, variables, input_shape) -> float:
  """Forward FLOPs per image of a Linen classifier in eval mode; input_shape (H, W, C) or (1, H, W, C).

  Shapes only: `variables` may be ShapeDtypeStructs (from jax.eval_shape), nothing is allocated."""
  shape = tuple(input_shape)
  shape = shape if len(shape) == 4 else (1, *shape)
  if len(shape) != 4 or shape[0] != 1:
    raise ValueError(f"input_shape={input_shape!r} is invalid; expected (H, W, C) or (1, H, W, C)")
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  return lowered_flops(lambda v, xx: model.apply(v, xx, train=False)[0], variables, x)


def abstract_variables(model, input_shape) -> dict:
  """The model's variables as ShapeDtypeStructs (jax.eval_shape of init), for counts without memory."""
  shape = tuple(input_shape)
  shape = shape if len(shape) == 4 else (1, *shape)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape, jnp.float32), train=False))


def num_values(tree) -> int:
  """Number of scalars in a pytree of arrays or ShapeDtypeStructs."""
  return int(sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree)))


def size_mb(variables, bytes_per_value: int = 4) -> float:
  """Stored size in MB (2^20 bytes) of every variable (parameters and batch statistics) at
  bytes_per_value bytes each (4: float32)."""
  return num_values(variables) * bytes_per_value / MB


# ----------------------------------------------------------------------------- int8 quantization
def minmax_calibrate(x, bits: int = 8) -> tuple[float, int]:
  """(scale, zero_point) of an asymmetric affine integer grid covering [min(x, 0), max(x, 0)] with
  2^bits levels: q = clip(round(x / scale) + zero_point, qmin, qmax), qmin = -2^(bits-1). Zero is
  exactly representable; every value in the calibrated range is within scale / 2 of the grid."""
  if not 2 <= bits <= 16:
    raise ValueError(f"bits={bits} is invalid; expected 2..16")
  a = np.asarray(x, np.float64)
  lo, hi = min(float(a.min()), 0.0), max(float(a.max()), 0.0)
  qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
  scale = (hi - lo) / (qmax - qmin) if hi > lo else 1.0
  zero_point = int(np.clip(np.round(qmin - lo / scale), qmin, qmax))
  return float(scale), zero_point


def quantize(x, scale: float, zero_point: int, bits: int = 8) -> np.ndarray:
  """Integer codes of x on the affine grid (int8 for bits <= 8, else int16)."""
  qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
  q = np.clip(np.round(np.asarray(x, np.float64) / scale) + zero_point, qmin, qmax)
  return q.astype(np.int8 if bits <= 8 else np.int16)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
  """float32 values of integer codes: (q - zero_point) * scale."""
  return ((np.asarray(q, np.float64) - zero_point) * scale).astype(np.float32)


def _is_weight(path, leaf) -> bool:
  return np.ndim(leaf) >= 2  # conv / dense kernels; biases, BN scales and statistics stay float32


def quantize_weights(params, bits: int = 8) -> tuple[dict, float]:
  """Post-training weight quantization (TFLite "dynamic range" style, per tensor, min/max): every
  kernel (rank >= 2) goes through the integer grid and back; biases and BatchNorm parameters stay
  float32. Returns (dequantized parameters, largest |w - dequantized w| / scale over tensors)."""
  worst = [0.0]

  def one(path, w):
    if not _is_weight(path, w):
      return w
    scale, zp = minmax_calibrate(w, bits)
    back = dequantize(quantize(w, scale, zp, bits), scale, zp)
    worst[0] = max(worst[0], float(np.max(np.abs(np.asarray(w, np.float64) - back))) / scale)
    return jnp.asarray(back, jnp.asarray(w).dtype)

  out = jax.tree_util.tree_map_with_path(one, params)
  return out, worst[0]


def quantized_size_mb(variables, bits: int = 8) -> float:
  """Size in MB with every kernel (rank >= 2) stored in `bits`-bit codes plus a float32 scale and an
  int32 zero point per tensor, everything else (biases, BN) in float32."""
  total = 0.0
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    n = int(np.prod(leaf.shape))
    total += (n * bits / 8 + 8) if _is_weight(path, leaf) else 4 * n
  return total / MB


# ----------------------------------------------------------------------------- time
def time_call(fn: Callable, *args, repeats: int = 1) -> float:
  """Median wall-clock seconds of fn(*args) (outputs blocked on), after one untimed warm-up call
  (which compiles)."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(max(1, int(repeats))):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))
