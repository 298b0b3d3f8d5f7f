"""Shared plumbing for explainers: model resolution, class scores, map post-processing.

Every explainer takes `(model, variables, x, target=None, ...)` where

- `model` is a Flax Linen classifier (called as `model.apply(variables, x, train=False)`) or
  an apply function `apply_fn(variables, x, **kwargs) -> (logits, aux)` that forwards
  `**kwargs` to `model.apply` (explainers that need the feature map pass
  `mutable=["perturbations"]` once, through `jax.eval_shape`, to learn its shape);
- `variables` is the model's variable dict ({"params": ..., "batch_stats"?: ...}); a
  "perturbations" collection in it (from `model.init`) is ignored;
- `x` is a float image batch (N, H, W, C);
- `target` is an int, an (N,) int array, or None for each image's predicted class.

Heavy computations are jitted with the model as a static argument (Linen modules hash by
value), so repeated calls on the same model and shapes reuse the compiled program.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

ApplyFn = Callable[..., Any]


def model_name(model) -> str:
  """Human-readable model name for error messages."""
  if isinstance(model, nn.Module):
    return type(model).__name__
  return getattr(model, "__name__", None) or type(model).__name__


def as_apply_fn(model) -> ApplyFn:
  """Returns `fn(variables, x, **kw) -> (logits, aux)` for a Linen module or an apply function."""
  if isinstance(model, nn.Module):
    def apply_fn(variables, x, **kw):
      return model.apply(variables, x, train=False, **kw)
    apply_fn.__name__ = type(model).__name__
    return apply_fn
  if callable(model):
    return model
  raise ValueError(f"model {model!r} is neither a flax.linen.Module nor a callable apply_fn")


def strip_perturbations(variables) -> dict:
  """The variable dict without the 'perturbations' collection."""
  return {k: v for k, v in dict(variables).items() if k != "perturbations"}


def check_images(x, method: str) -> jax.Array:
  x = jnp.asarray(x)
  if x.ndim != 4:
    raise ValueError(f"{method}: x has shape {x.shape}; expected an image batch (N, H, W, C)")
  return x


def logits_and_aux(model, variables, x):
  """Forward pass: (logits, aux)."""
  out = as_apply_fn(model)(strip_perturbations(variables), x)
  if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
    raise ValueError(f"model {model_name(model)} must return (logits, aux) with aux a dict, got {type(out).__name__}")
  return out


@functools.partial(jax.jit, static_argnames=("model",))
def _predict(model, variables, x):
  return jnp.argmax(logits_and_aux(model, variables, x)[0], axis=-1).astype(jnp.int32)


def resolve_target(model, variables, x, target) -> jax.Array:
  """(N,) int32 class ids: `target` broadcast to the batch, or the predicted class if None."""
  try:
    hash(model)
  except TypeError as err:
    raise ValueError(f"model {model_name(model)} is not hashable ({err}); explainers jit with the model as a "
                     f"static argument: pass `lambda v, x, **kw: model.apply(v, x, train=False, **kw)`") from err
  n = x.shape[0]
  if target is None:
    return _predict(model, strip_perturbations(variables), x)
  t = np.asarray(target)
  if t.ndim == 0:
    t = np.full((n,), t)
  if t.shape != (n,) or t.dtype.kind not in "iu":
    raise ValueError(f"target has shape {t.shape} and dtype {t.dtype}; expected an int or ({n},) integer class ids")
  k = _num_classes(model, _struct(strip_perturbations(variables)), jax.ShapeDtypeStruct(x.shape, x.dtype))
  bad = np.flatnonzero((t < 0) | (t >= k))
  if bad.size:
    raise ValueError(f"target contains label {int(t[bad[0]])} at index {int(bad[0])}; "
                     f"expected integers in [0, {k}) for model {model_name(model)}")
  return jnp.asarray(t, jnp.int32)


@functools.lru_cache(maxsize=128)
def _num_classes(model, variables_struct, x_struct) -> int:
  return jax.eval_shape(lambda v, xx: logits_and_aux(model, v, xx)[0], variables_struct.value, x_struct).shape[-1]


def _struct(variables):
  return _Hashable(jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), variables))


def class_score(logits, target) -> jax.Array:
  """Sum over the batch of logits[i, target[i]] (each image's gradient is its own)."""
  return jnp.sum(jnp.take_along_axis(logits, target[:, None], axis=1))


@jax.jit
def normalize_maps(maps, eps: float = 1e-12) -> jax.Array:
  """Per-image scaling of nonnegative (N, ...) heatmaps to [0, 1] by dividing by the maximum.

  Negative values are clipped to 0 first; zero stays "no evidence" and a constant positive map
  (e.g. a CAM from a 1x1 feature map) becomes all ones; an all-zero map stays zero.
  """
  maps = jnp.maximum(jnp.asarray(maps, jnp.float32), 0.0)
  hi = maps.max(axis=tuple(range(1, maps.ndim)), keepdims=True)
  return jnp.where(hi > eps, maps / jnp.where(hi > eps, hi, 1.0), 0.0)


def upsample(maps, size) -> jax.Array:
  """Bilinear resize of (N, h, w) maps to (N, H, W) (half-pixel centres, edge clamped)."""
  maps = jnp.asarray(maps)
  if maps.shape[1:] == tuple(size):
    return maps
  return _resize(maps, (maps.shape[0], *map(int, size)))


@functools.partial(jax.jit, static_argnames=("shape",))
def _resize(maps, shape):
  return jax.image.resize(maps, shape, method="linear", antialias=False)


def to_heatmap(attributions, reduce: str = "abs_sum", normalize: bool = True) -> jax.Array:
  """(N, H, W, C) attributions -> (N, H, W) heatmap.

  reduce: "abs_sum" (sum over channels of |a|), "sum" (signed sum, then clipped at 0),
  or "abs_max" (max over channels of |a|, as the Simonyan et al. saliency map).
  """
  a = jnp.asarray(attributions)
  if a.ndim != 4:
    raise ValueError(f"attributions has shape {a.shape}; expected (N, H, W, C)")
  if reduce == "abs_sum":
    m = jnp.abs(a).sum(-1)
  elif reduce == "sum":
    m = jnp.maximum(a.sum(-1), 0.0)
  elif reduce == "abs_max":
    m = jnp.abs(a).max(-1)
  else:
    raise ValueError(f"unknown reduce {reduce!r}; valid: abs_max, abs_sum, sum")
  return normalize_maps(m) if normalize else m


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
  radius = int(truncate * sigma + 0.5)
  t = np.arange(-radius, radius + 1, dtype=np.float64)
  k = np.exp(-0.5 * (t / sigma) ** 2)
  return (k / k.sum()).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("sigma",))
def gaussian_blur(x, sigma: float) -> jax.Array:
  """Separable Gaussian blur of NHWC images over H and W.

  Same as scipy.ndimage.gaussian_filter(x, (0, sigma, sigma, 0)) with its defaults
  (mode="reflect", i.e. edge-including symmetric padding, truncate=4).
  """
  x = jnp.asarray(x, jnp.float32)
  if sigma <= 0:
    return x
  k = _gaussian_kernel(float(sigma))
  r = (k.shape[0] - 1) // 2

  def blur_axis(v, axis):
    pad = [(0, 0)] * v.ndim
    pad[axis] = (r, r)
    vp = jnp.pad(v, pad, mode="symmetric")
    n = v.shape[axis]
    out = 0.0
    for i in range(k.shape[0]):
      out = out + k[i] * jax.lax.slice_in_dim(vp, i, i + n, axis=axis)
    return out

  return blur_axis(blur_axis(x, 1), 2)


@functools.lru_cache(maxsize=128)
def _feature_map_path(model, method, variables_struct, x_struct):
  """Path of the 'feature_map' perturbation (cached per model and shapes), or a ValueError."""
  fn = as_apply_fn(model)
  name = model_name(model)
  try:
    (_, aux_shape), pert_shape = jax.eval_shape(lambda v, xx: fn(v, xx, mutable=["perturbations"]),
                                                variables_struct.value, x_struct)
  except TypeError as err:
    raise ValueError(f"{method}: apply function {name} must accept **kwargs and forward them to "
                     f"model.apply (it needs mutable=['perturbations']): {err}") from err
  if "feature_map" not in aux_shape:
    raise ValueError(f"{method} needs aux['feature_map'] but model {name} returns aux keys "
                     f"{sorted(aux_shape)}; it only applies to models with a spatial feature map")
  flat = traverse_util.flatten_dict(dict(pert_shape.get("perturbations", {})))
  keys = [k for k in flat if k[-1] == "feature_map"]
  if not keys:
    raise ValueError(f"{method}: model {name} stores aux['feature_map'] but does not pass it through "
                     f"self.perturb('feature_map', x); gradients w.r.t. it are unavailable")
  return keys[0], tuple((k, v.shape, v.dtype) for k, v in flat.items())


class _Hashable:
  """Wraps a pytree of ShapeDtypeStructs so it can key an lru_cache."""

  def __init__(self, value):
    self.value = value
    leaves, treedef = jax.tree_util.tree_flatten(value)
    self._key = (treedef, tuple((leaf.shape, leaf.dtype) for leaf in leaves))

  def __hash__(self):
    return hash(self._key)

  def __eq__(self, other):
    return isinstance(other, _Hashable) and self._key == other._key


def check_feature_map(model, variables, x, method: str):
  """Raises ValueError (naming `method` and the model) unless the model exposes a perturbable
  aux['feature_map']; returns the perturbation path and the perturbation shapes."""
  return _feature_map_path(model, method, _struct(variables), jax.ShapeDtypeStruct(x.shape, x.dtype))


@functools.partial(jax.jit, static_argnames=("model", "spec"))
def _fmap_grads(model, variables, x, target, spec):
  path, pert_shapes = spec
  zeros = traverse_util.unflatten_dict({k: jnp.zeros(shape, dtype) for k, shape, dtype in pert_shapes})
  fn = as_apply_fn(model)

  def score(pert):
    logits, aux = fn({**variables, "perturbations": pert}, x)
    return class_score(logits, target), (logits, aux["feature_map"])

  grads, (logits, fmap) = jax.grad(score, has_aux=True)(zeros)
  return fmap, traverse_util.flatten_dict(grads)[path], logits


def feature_map_gradients(model, variables, x, target, method: str):
  """Returns (feature_map (N,h,w,C), d score / d feature_map (N,h,w,C), logits), jitted.

  Needs the model to store aux["feature_map"] and pass it through
  `self.perturb("feature_map", ...)`; raises ValueError naming `method` and the model otherwise
  (from shapes only, before XLA compiles anything). `target` is resolved (N,) class ids.
  """
  variables = strip_perturbations(variables)
  spec = check_feature_map(model, variables, x, method)
  return _fmap_grads(model, variables, x, target, spec)


def aux_keys(model, x) -> tuple[str, ...]:
  """Sorted keys of the aux dict a Linen classifier returns for inputs shaped like x (N, H, W, C),
  from a shape-only init trace (nothing compiled); e.g. ("attention", "feature_map", "pre_logits")
  for a ViT. Keys whose value is empty (an empty attention tuple) are left out."""
  if not isinstance(model, nn.Module):
    raise ValueError(f"aux_keys needs a flax.linen.Module, got {model_name(model)}")
  shape = tuple(int(d) for d in jnp.shape(x))
  return _aux_keys(model, (1, *shape[1:]))


@functools.lru_cache(maxsize=64)
def _aux_keys(model, shape) -> tuple[str, ...]:
  (_, aux), _ = jax.eval_shape(lambda xx: model.init_with_output(jax.random.key(0), xx, train=False),
                               jax.ShapeDtypeStruct(shape, jnp.float32))
  return tuple(sorted(k for k, v in aux.items() if jax.tree_util.tree_leaves(v)))
