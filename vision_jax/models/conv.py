"""Conv: a drop-in for flax.linen.Conv whose derivatives can run as shifted matrix products.

Same fields, parameter names, shapes and initialisers as ``flax.linen.Conv`` (``kernel``
(kh, kw, C / groups, F) lecun_normal, ``bias`` (F,) zeros), so parameter counts and checkpoints
do not change. 2-D NHWC convolutions go through `conv2d`; other ranks, ``input_dilation`` != 1
and the XLA route call ``lax.conv_general_dilated`` directly.

A kh x kw convolution is a sum of kh * kw matrix products of shifted input slices ("taps"):

    y = sum_{i,j} S_ij(pad(x)) @ W[i, j]        S_ij: strided slice at offset (i d_h, j d_w)

so its two derivatives are also sums of products: the weight gradient is
dW[i, j] = S_ij(pad(x))^T dy (summed over batch and pixels) and the input gradient scatters
dy @ W[i, j]^T back through the transpose of each slice (an interior-padded ``lax.pad``) and
crops the padding. Depthwise taps (one input channel per group) are elementwise products, so
all three become single fused loops instead of XLA:CPU's grouped convolution. The "rows" route
runs one image at a time (``lax.map``) with one product per kernel row, so the transposed
weight-gradient loop keeps one image's shifted copies in cache.

The rule is a ``jax.custom_jvp``: the tangent is T(dx, w) + T(x, dw), each T written with the
chosen route, and JAX obtains reverse mode by transposing that linear map; the transpose of the
tap form is exactly the weight gradient above. Everything in it (slices, pads, dot_general,
lax.conv) has its own derivative rules, so jit, vmap, grad, grad-of-grad, jax.jvp and
jax.hessian all work (a ``custom_vjp`` would refuse forward mode). The weight tangent is wrapped
in ``jax.checkpoint`` so the kh * kw slices of x are recomputed in the backward pass instead of
being stored as residuals.

Route, read at trace time (set it before a model is first jitted; it is not a jit argument):
  VISION_JAX_CONV=auto   (default) on ``jax.default_backend() == "cpu"`` each of forward, input
                         gradient and weight gradient takes the route `choose_routes` gives for
                         its shape (measured in benchmarks/bench_trainstep.py); on GPU/TPU, plain
                         ``lax.conv_general_dilated`` and XLA's own autodiff.
  VISION_JAX_CONV=xla    ``lax.conv_general_dilated`` and its autodiff on every backend (and
                         ``nn.max_pool`` in models/pool.py).
  VISION_JAX_CONV=matmul the tap route for every op of every 2-D conv (tests, measurements).
The CPU rule depends on which library XLA:CPU gives convolutions (vision_jax.cpu_flags): with
the Eigen convolution that ``import vision_jax`` selects, only thin and depthwise convs leave XLA.
"""

from __future__ import annotations

import functools
import os
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax.linen.dtypes import promote_dtype
from flax.linen.linear import canonicalize_padding
from jax import lax
from jax.custom_derivatives import SymbolicZero

from vision_jax import cpu_flags

ENV_VAR = "VISION_JAX_CONV"
MODES = ("auto", "xla", "matmul")
ROUTES = ("xla", "taps", "cols", "rows")
_DIMS = ("NHWC", "HWIO", "NHWC")


class ConvSpec(NamedTuple):
  """Static description of one 2-D convolution (hashable; a nondiff argument of the rule).

  strides, dilation: (h, w) ints; padding: explicit ((top, bottom), (left, right)) ints
  (negative values crop, as in lax); groups: feature_group_count; routes: (forward,
  input tangent, weight tangent), each one of ROUTES.
  """
  strides: tuple[int, int]
  padding: tuple[tuple[int, int], tuple[int, int]]
  dilation: tuple[int, int]
  groups: int
  precision: Any
  routes: tuple[str, str, str]


def conv_mode() -> str:
  """The VISION_JAX_CONV mode ("auto" when unset); an unknown value raises ValueError."""
  mode = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
  if mode not in MODES:
    raise ValueError(f"{ENV_VAR}={mode!r} is invalid; expected one of {', '.join(MODES)}")
  return mode


def choose_routes(x_shape, w_shape, strides, dilation, groups, mode: str | None = None,
                  backend: str | None = None, ynn_convolution: bool | None = None) -> tuple[str, str, str]:
  """(forward, input-gradient, weight-gradient) routes for an NHWC x / HWIO w convolution.

  "xla" off CPU and in mode "xla"; "taps" everywhere in mode "matmul". In mode "auto" on CPU
  the rule follows the per-op measurements of benchmarks/bench_trainstep.py (2-core CPU,
  jax 0.10.2). ynn_convolution: whether XLA:CPU runs convolutions on YNNPACK (one core; XLA's
  default) or on Eigen (every core; vision_jax.cpu_flags' default); None reads XLA_FLAGS.
  * depthwise (one input channel per group, as many outputs): all three as fused elementwise tap
    loops and tap reductions; XLA:CPU's grouped convolution runs forward and input gradient at
    < 1 GFLOP/s, its weight gradient at 0.2-2.5 against the taps' 1.2-2.6 on 8 of Xception's 9
    depthwise shapes (benchmarks/results/trainstep.md, 2026-12-02);
  * a thin input (groups 1, 1 < kh kw, kh kw C <= 64 inputs per output pixel, F > C: TNRD's
    1 -> F filters, 1-channel heads): the input gradient (TNRD's adjoint K^T) on "cols", one
    product g @ W^T with kh kw C outputs then a fused scatter (4-20x XLA's rate), and for C = 1
    with up to 5 x 5 taps the forward as a fused tap loop;
  * under YNNPACK convolutions only, a dense stride-1 kh x kw > 1 conv with 32 to 128 channels
    on each side and at least 16 x 16 input pixels per image (DnCNN's and the UNets' 3 x 3
    layers, ResNet's first two stages): the weight gradient on "rows" (one image at a time, a
    product per kernel row), 2-3x YNNPACK's weight-gradient rate there (~100-150 against 30-70
    GFLOP/s). Eigen's weight gradient beats "rows" on every such shape of DnCNN and ResNet-18
    (122-173 against 87-99 in benchmarks/results/trainstep.md);
  * everything else on XLA: its dense convolutions run near the matmul rate (YNNPACK's on one
    core, Eigen's on all) and the tap sums measured slower (their slices and partial sums are
    extra memory passes).
  """
  mode = conv_mode() if mode is None else mode
  backend = jax.default_backend() if backend is None else backend
  if mode == "xla" or backend != "cpu":
    return ("xla", "xla", "xla")
  if mode == "matmul":
    return ("taps", "taps", "taps")
  kh, kw, cg, f = w_shape
  c = x_shape[-1]
  if groups > 1:
    return ("taps", "taps", "taps") if cg == 1 and f == c else ("xla", "xla", "xla")
  if 1 < kh * kw and kh * kw * c <= 64 and f > c:
    return ("taps" if c == 1 and kh * kw <= 25 else "xla", "cols", "xla")
  if ynn_convolution is None:
    ynn_convolution = cpu_flags.ynn_convolution()
  if ynn_convolution and 1 < kh * kw and tuple(strides) == (1, 1) and 32 <= min(c, f) \
      and max(c, f) <= 128 and x_shape[1] * x_shape[2] >= 16 * 16:
    return ("xla", "xla", "rows")
  return ("xla", "xla", "xla")


def explicit_padding(padding, in_hw, kernel_hw, strides, dilation, what: str = "conv"):
  """Explicit ((top, bottom), (left, right)) pads for lax-style padding of a 2-D conv (or pool: what).

  padding: "SAME", "VALID" (any case) or a pair of (low, high) int pairs; kernel_hw undilated.
  """
  bad = f"{what} padding {padding!r} is invalid; expected 'SAME', 'VALID' or 2 (low, high) pairs"
  if isinstance(padding, str):
    if padding.upper() not in ("SAME", "VALID"):
      raise ValueError(bad)
    window = [(k - 1) * d + 1 for k, d in zip(kernel_hw, dilation)]
    pads = lax.padtype_to_pads(tuple(in_hw), window, tuple(strides), padding.upper())
  else:
    pads = padding
  pads = tuple((int(lo), int(hi)) for lo, hi in pads)
  if len(pads) != 2:
    raise ValueError(bad)
  return pads


def output_hw(in_hw, kernel_hw, spec: ConvSpec) -> tuple[int, int]:
  """Output (OH, OW) of the convolution (lax semantics)."""
  out = []
  for n, k, s, d, (lo, hi) in zip(in_hw, kernel_hw, spec.strides, spec.dilation, spec.padding):
    out.append(max(0, (n + lo + hi - (k - 1) * d - 1) // s + 1))
  return tuple(out)


def lax_conv(x, w, spec: ConvSpec):
  """XLA's convolution: NHWC x (N, H, W, C), HWIO w (kh, kw, C / groups, F) -> (N, OH, OW, F)."""
  return lax.conv_general_dilated(x, w, spec.strides, spec.padding, rhs_dilation=spec.dilation,
                                  dimension_numbers=_DIMS, feature_group_count=spec.groups,
                                  precision=spec.precision)


def _pad_input(x, spec: ConvSpec):
  """pad(x): x (N, H, W, C) zero-padded by spec.padding (negative widths crop), the taps' source."""
  (pt, pb), (pl, pr) = spec.padding
  return lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (pt, pb, 0), (pl, pr, 0), (0, 0, 0)))


def _tap_slice(xp, i, j, kernel_out_hw, spec: ConvSpec):
  """S_ij: the (N, OH, OW, C) input pixels that tap (i, j) of the kernel sees, from padded xp."""
  (oh, ow), (sh, sw), (dh, dw) = kernel_out_hw, spec.strides, spec.dilation
  start = (0, i * dh, j * dw, 0)
  limit = (xp.shape[0], i * dh + sh * (oh - 1) + 1, j * dw + sw * (ow - 1) + 1, xp.shape[3])
  return lax.slice(xp, start, limit, (1, sh, sw, 1))


def _tap_product(xs, wt, groups: int, precision):
  """One tap: xs (N, OH, OW, C) times wt (C / groups, F) -> (N, OH, OW, F), per feature group."""
  c, f = xs.shape[-1], wt.shape[-1]
  if groups == 1:
    return lax.dot_general(xs, wt, (((3,), (0,)), ((), ())), precision=precision)
  if wt.shape[0] == 1 and f == c:  # depthwise, multiplier 1: elementwise
    return xs * wt[0]
  cg, fg = c // groups, f // groups
  xg = xs.reshape(xs.shape[:3] + (groups, cg))
  wg = wt.reshape(cg, groups, fg)
  y = jnp.einsum("nhwgc,cgf->nhwgf", xg, wg, precision=precision)
  return y.reshape(xs.shape[:3] + (f,))


def taps_conv(x, w, spec: ConvSpec):
  """The convolution as sum_{i,j} S_ij(pad(x)) @ W[i, j]; equals `lax_conv` (same shapes).

  Linear in x for fixed w and in w for fixed x; its transposes are the tap gradients.
  """
  kh, kw = w.shape[:2]
  out_hw = output_hw(x.shape[1:3], (kh, kw), spec)
  xp = _pad_input(x, spec)
  y = None
  for i in range(kh):
    for j in range(kw):
      term = _tap_product(_tap_slice(xp, i, j, out_hw, spec), w[i, j], spec.groups, spec.precision)
      y = term if y is None else y + term
  return y


def cols_conv(x, w, spec: ConvSpec):
  """The convolution as one matrix product with the kh * kw taps stacked on the thin side.

  C <= F: im2col of the input, (N, OH, OW, kh kw C) @ (kh kw C, F). C > F: Z = pad(x) @ W'
  with W' (C, kh kw F), then y = sum_ij S_ij(Z[..., ij, :]). Either way the stacked tensor is
  kh kw times the thinner of input and output, so it pays when that side has few channels
  (TNRD's 1 -> 48 filters and their adjoint, a network's 1-channel head and tail). groups = 1.
  """
  kh, kw, c, f = w.shape
  out_hw = output_hw(x.shape[1:3], (kh, kw), spec)
  xp = _pad_input(x, spec)
  taps = [(i, j) for i in range(kh) for j in range(kw)]
  contract = (((3,), (0,)), ((), ()))
  if c <= f:
    cols = jnp.stack([_tap_slice(xp, i, j, out_hw, spec) for i, j in taps], axis=3)
    cols = cols.reshape(cols.shape[:3] + (kh * kw * c,))
    return lax.dot_general(cols, w.reshape(kh * kw * c, f), contract, precision=spec.precision)
  w_stacked = jnp.transpose(w, (2, 0, 1, 3)).reshape(c, kh * kw * f)
  z = lax.dot_general(xp, w_stacked, contract, precision=spec.precision)
  z = z.reshape(z.shape[:3] + (kh * kw, f))
  y = None
  for t, (i, j) in enumerate(taps):
    term = _tap_slice(z[..., t, :], i, j, out_hw, spec)
    y = term if y is None else y + term
  return y


def rows_conv(x, w, spec: ConvSpec):
  """The convolution one image at a time, one matrix product per kernel row; equals `lax_conv`.

  Per image (``lax.map`` over the batch, each step under ``jax.checkpoint``), the kw column
  shifts of pad(x) are stacked on the channel axis, R (Hp * OW, kw C); kernel row i then sees
  the contiguous rows [i dh OW, i dh OW + OH OW) of R, so y^T = sum_i W_i^T R_i^T with W_i
  (kw C, F). Written with W_i^T on the left, its transpose in w is dy^T R_i, a (F, kw C) product
  over the image's pixels (XLA:CPU's fast orientation), and only one image's R (kw times the
  image) is live. Stride 1 and groups = 1; other convolutions take the tap route.
  """
  kh, kw, c, f = w.shape
  if spec.strides != (1, 1) or spec.groups != 1:
    return taps_conv(x, w, spec)
  dh, dw = spec.dilation
  xp = _pad_input(x, spec)
  hp = xp.shape[1]
  oh, ow = output_hw(x.shape[1:3], (kh, kw), spec)
  w_rows = jnp.transpose(w, (0, 3, 1, 2)).reshape(kh, f, kw * c)  # row i: (F, (j, c))
  contract = (((1,), (1,)), ((), ()))

  def one_image(xi, wr):
    r = jnp.concatenate([lax.slice_in_dim(xi, j * dw, j * dw + ow, axis=1) for j in range(kw)],
                        axis=-1).reshape(hp * ow, kw * c)
    yt = None
    for i in range(kh):
      rows = lax.slice_in_dim(r, i * dh * ow, i * dh * ow + oh * ow, axis=0)
      term = lax.dot_general(wr[i], rows, contract, precision=spec.precision)
      yt = term if yt is None else yt + term
    return yt.T.reshape(oh, ow, f)

  per_image = jax.checkpoint(one_image)
  return lax.map(lambda xi: per_image(xi, w_rows), xp)


def _apply_route(route: str, x, w, spec: ConvSpec):
  if route == "xla":
    return lax_conv(x, w, spec)
  if route == "rows":
    return rows_conv(x, w, spec)
  if route == "cols" and spec.groups == 1:
    return cols_conv(x, w, spec)
  return taps_conv(x, w, spec)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _conv(x, w, spec: ConvSpec):
  return _apply_route(spec.routes[0], x, w, spec)


@functools.partial(_conv.defjvp, symbolic_zeros=True)
def _conv_jvp(spec: ConvSpec, primals, tangents):
  x, w = primals
  tx, tw = tangents
  y = _conv(x, w, spec)
  ty = None
  if not isinstance(tx, SymbolicZero):
    ty = _apply_route(spec.routes[1], tx, w, spec)
  if not isinstance(tw, SymbolicZero):
    # checkpoint: the transpose recomputes the slices of x rather than keeping kh*kw copies.
    weight_term = jax.checkpoint(lambda xx, tt: _apply_route(spec.routes[2], xx, tt, spec))
    term = weight_term(x, tw)
    ty = term if ty is None else ty + term
  if ty is None:
    ty = jnp.zeros_like(y)
  return y, ty


def conv2d(x, w, strides=(1, 1), padding="SAME", dilation=(1, 1), groups: int = 1,
           precision=None, routes: tuple[str, str, str] | None = None):
  """2-D convolution: x (N, H, W, C) NHWC, w (kh, kw, C / groups, F) HWIO -> (N, OH, OW, F).

  Same result and derivatives as ``lax.conv_general_dilated(x, w, strides, padding,
  rhs_dilation=dilation, feature_group_count=groups, dimension_numbers=("NHWC", "HWIO",
  "NHWC"))``. padding: "SAME", "VALID" or ((top, bottom), (left, right)). routes overrides
  `choose_routes` (forward, input gradient, weight gradient; each one of ROUTES).
  """
  if x.ndim != 4 or w.ndim != 4:
    raise ValueError(f"conv2d got x shape {tuple(x.shape)} and w shape {tuple(w.shape)}; "
                     "expected NHWC (N, H, W, C) and HWIO (kh, kw, C / groups, F)")
  pair = lambda v: (int(v), int(v)) if np.ndim(v) == 0 else tuple(int(a) for a in v)
  strides, dilation = pair(strides), pair(dilation)
  c, f = x.shape[-1], w.shape[-1]
  if groups < 1 or c % groups or f % groups or w.shape[2] * groups != c:
    raise ValueError(f"conv2d groups={groups} does not fit x channels {c}, kernel shape "
                     f"{tuple(w.shape)}; expected C = kernel.shape[2] * groups and F % groups == 0")
  pads = explicit_padding(padding, x.shape[1:3], w.shape[:2], strides, dilation)
  if routes is None:
    routes = choose_routes(x.shape, w.shape, strides, dilation, groups)
  bad = [r for r in routes if r not in ROUTES]
  if len(routes) != 3 or bad:
    raise ValueError(f"conv2d routes={routes!r} is invalid; expected three of {', '.join(ROUTES)}")
  spec = ConvSpec(strides, pads, dilation, int(groups), precision, tuple(routes))
  if spec.routes == ("xla", "xla", "xla"):
    return lax_conv(x, w, spec)
  return _conv(x, w, spec)


class Conv(nn.Module):
  """Drop-in for ``flax.linen.Conv`` (same fields, parameters and initialisers); see module doc.

  (*batch, H, W, C) -> (*batch, OH, OW, features) for 2-D kernels; any rank falls back to lax.
  """
  features: int
  kernel_size: int | Sequence[int]
  strides: None | int | Sequence[int] = 1
  padding: Any = "SAME"
  input_dilation: None | int | Sequence[int] = 1
  kernel_dilation: None | int | Sequence[int] = 1
  feature_group_count: int = 1
  use_bias: bool = True
  mask: jax.Array | None = None
  dtype: Any = None
  param_dtype: Any = jnp.float32
  precision: Any = None
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    ks = (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
    nd = len(ks)
    bcast = lambda v: (1,) * nd if v is None else ((v,) * nd if isinstance(v, int) else tuple(v))
    strides, in_dil = bcast(self.strides), bcast(self.input_dilation)
    k_dil = bcast(self.kernel_dilation)
    batch_shape = inputs.shape[:inputs.ndim - nd - 1]
    if len(batch_shape) != 1:
      inputs = jnp.reshape(inputs, (-1,) + inputs.shape[len(batch_shape):])
    pads = canonicalize_padding(self.padding, nd)
    if pads in ("CIRCULAR", "REFLECT", "CAUSAL"):  # as flax: pad the input, then VALID
      dilated = [(k - 1) * d + 1 for k, d in zip(ks, k_dil)]
      if pads == "CAUSAL":
        if nd != 1:
          raise ValueError(f"conv padding 'CAUSAL' needs a 1-D kernel; got kernel_size {ks}")
        widths = [(0, 0), (dilated[0] - 1, 0), (0, 0)]
        inputs = jnp.pad(inputs, widths)
      else:
        widths = [(0, 0)] + [((k - 1) // 2, k // 2) for k in dilated] + [(0, 0)]
        inputs = jnp.pad(inputs, widths, mode={"CIRCULAR": "wrap", "REFLECT": "reflect"}[pads])
      pads = "VALID"
    c = inputs.shape[-1]
    if c % self.feature_group_count:
      raise ValueError(f"conv input channels {c} are not divisible by feature_group_count="
                       f"{self.feature_group_count}")
    kernel_shape = ks + (c // self.feature_group_count, self.features)
    if self.mask is not None and self.mask.shape != kernel_shape:
      raise ValueError(f"conv mask shape {self.mask.shape} must equal the kernel shape "
                       f"{kernel_shape}")
    kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
    if self.mask is not None:
      kernel = kernel * self.mask
    bias = None
    if self.use_bias:
      bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
    inputs, kernel, bias = promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    if nd == 2 and in_dil == (1, 1):
      y = conv2d(inputs, kernel, strides, pads, k_dil, self.feature_group_count, self.precision)
    else:
      y = lax.conv_general_dilated(
          inputs, kernel, strides, pads, lhs_dilation=in_dil, rhs_dilation=k_dil,
          dimension_numbers=_channels_last_dims(nd),
          feature_group_count=self.feature_group_count, precision=self.precision)
    if bias is not None:
      y = y + bias.reshape((1,) * (y.ndim - 1) + bias.shape)
    if len(batch_shape) != 1:
      y = jnp.reshape(y, batch_shape + y.shape[1:])
    return y


def _channels_last_dims(nd: int):
  """lax dimension numbers of a channels-last nd-D conv (1 to 3 spatial dims)."""
  spatial = {1: "W", 2: "HW", 3: "DHW"}.get(nd)
  if spatial is None:
    raise ValueError(f"conv kernel rank {nd} is not supported; expected 1, 2 or 3 spatial dims")
  return ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")
