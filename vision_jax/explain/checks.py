"""Quantitative checks of explanations.

- randomization_sanity: model-parameter cascading randomization (Adebayo et al. 2018), top layer
  first in the model's own definition order (`definition_order`: the order a shape-only init
  trace creates the top-level parameter groups, recorded with `flax.linen.intercept_methods`;
  never the order of the parameter dict, which jax pytrees and checkpoints sort by name).
- deletion_insertion_auc: causal faithfulness curves (Petsiuk et al. 2018, RISE).
- energy_in_mask: share of a heatmap's mass inside a ground-truth region ("energy-based
  pointing game", Wang et al. 2020, Score-CAM).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from vision_jax.explain import _core

__all__ = ["randomization_sanity", "deletion_insertion_auc", "energy_in_mask", "spearman_per_image",
           "randomize_params", "definition_order"]


def _heatmap(maps) -> np.ndarray:
  maps = jnp.asarray(maps)
  if maps.ndim == 4:  # (N, H, W, C) attributions
    maps = _core.to_heatmap(maps)
  return np.asarray(maps, np.float64)


def spearman_per_image(a, b) -> np.ndarray:
  """Spearman rank correlation between flattened maps, one per image (N,); an undefined
  correlation (a constant map) counts as 0."""
  a, b = np.asarray(a), np.asarray(b)
  out = []
  for ai, bi in zip(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)):
    rho = stats.spearmanr(ai, bi).statistic if np.ptp(ai) > 0 and np.ptp(bi) > 0 else np.nan
    out.append(0.0 if np.isnan(rho) else float(rho))
  return np.asarray(out)


def randomize_params(params, key) -> dict:
  """Redraws every leaf as N(0, std(leaf)^2) (zero-mean, same scale: a re-initialisation);
  leaves with zero spread (e.g. zero-initialised biases) are kept.

  The draws come from numpy's Generator seeded with the key's data (deterministic per key), not
  from jax.random: a cascade redraws dozens of differently shaped leaves, and each new shape
  would cost an XLA compile of the threefry sampler. Takes concrete arrays (not for use under jit).
  """
  raw = jax.random.key_data(key) if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key) else key
  rng = np.random.default_rng([int(v) for v in np.asarray(raw, np.uint64).ravel()])
  leaves, treedef = jax.tree_util.tree_flatten(params)
  new = []
  for leaf in leaves:
    a = np.asarray(leaf)
    std = float(a.std()) if a.size else 0.0
    if std > 0:  # keep the leaf's sharding: mixed shardings would make every jitted explainer recompile
      draw = (std * rng.standard_normal(a.shape)).astype(a.dtype)
      new.append(jax.device_put(draw, leaf.sharding) if isinstance(leaf, jax.Array) else jnp.asarray(draw))
    else:
      new.append(leaf if isinstance(leaf, jax.Array) else jnp.asarray(leaf))
  return jax.tree_util.tree_unflatten(treedef, new)


def definition_order(model, x) -> list[str]:
  """Top-level parameter groups of a Linen `model` in the order its forward pass creates them
  (input to output: the definition order), e.g. ViT: embedding, cls, pos_embedding,
  encoderblock_0, ..., encoder_norm, head.

  One shape-only trace (`jax.eval_shape` of `model.init` on one image of `x`'s shape, nothing
  compiled) with a `flax.linen.intercept_methods` interceptor that reads the root module's
  'params' collection when its `__call__` returns: Linen's scope keeps variables in creation
  order there, while any dict that went through a jax transformation or a checkpoint is sorted
  by name. Cached per model and input shape. x: (N, H, W, C) array or ShapeDtypeStruct.
  """
  if not isinstance(model, nn.Module):
    raise ValueError(f"definition_order needs a flax.linen.Module, got {_core.model_name(model)}; "
                     "pass layer_order explicitly for an apply function")
  shape = tuple(int(d) for d in jnp.shape(x))
  if len(shape) != 4:
    raise ValueError(f"x has shape {shape}; expected an image batch (N, H, W, C)")
  return list(_definition_order(model, (1, *shape[1:]), jnp.dtype(getattr(x, "dtype", jnp.float32)).name))


@functools.lru_cache(maxsize=64)
def _definition_order(model, shape, dtype) -> tuple[str, ...]:
  seen: list[tuple[str, ...]] = []

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    scope = context.module.scope
    if scope is not None and scope.path == () and context.method_name == "__call__":
      seen.append(tuple(context.module.variables.get("params", {})))
    return out

  with nn.intercept_methods(interceptor):
    jax.eval_shape(lambda xx: model.init(jax.random.key(0), xx, train=False), jax.ShapeDtypeStruct(shape, dtype))
  if not seen:
    raise ValueError(f"model {_core.model_name(model)}: no __call__ of the root module was traced")
  return seen[-1]


def _top_down(model, x, params, layer_order) -> list[str]:
  if layer_order is not None:
    order = list(layer_order)
    unknown = [n for n in order if n not in params]
    if unknown:
      raise ValueError(f"layer {unknown[0]!r} is not a parameter group of model {_core.model_name(model)}; "
                       f"valid: {', '.join(params)}")
    return order
  order = definition_order(model, x)
  if set(order) != set(params):
    raise ValueError(f"the parameter groups of model {_core.model_name(model)} {sorted(params)} differ from "
                     f"those its init trace creates {sorted(order)}; pass layer_order explicitly")
  return order[::-1]


def randomization_sanity(model, variables, x, target, method, layer_order: Sequence[str] | None = None, *,
                         key=None, per_image: bool = False, **method_kwargs) -> list[tuple]:
  """Cascading randomization: Spearman correlation between the original map and the map after
  randomizing the parameters of the top layer, then the top two, ... (Adebayo et al. 2018).

  Args:
    method: a name in vision_jax.explain.METHODS or a callable
      `method(model, variables, x, target, **method_kwargs)` returning (N, H, W) maps or
      (N, H, W, C) attributions (reduced by sum of |a| over channels).
    layer_order: top-level keys of variables["params"], from the output layer down; default
      (Linen modules only) is the reverse of `definition_order(model, x)`, whatever the order
      of the keys in `variables` (restored checkpoints sort them by name).
    key: PRNG key for the redraws (default jax.random.key(0)).
    per_image: return each image's rho, an (N,) array, instead of the batch mean.
  Returns:
    rows (layer, rho), starting with ("original", 1.0); layer is the last layer randomized so
    far and rho the Spearman correlation with the original map (batch mean, or (N,) with
    per_image). A map that collapses to a constant counts as rho 0.
  """
  if isinstance(method, str):
    from vision_jax.explain import METHODS
    if method not in METHODS:
      raise ValueError(f"unknown method {method!r}; valid: {', '.join(sorted(METHODS))}")
    method = METHODS[method]
  params = dict(variables["params"])
  order = _top_down(model, x, params, layer_order)
  key = jax.random.key(0) if key is None else key
  reduce = (lambda r: r) if per_image else (lambda r: float(r.mean()))
  original = _heatmap(method(model, variables, x, target, **method_kwargs))
  rows = [("original", reduce(spearman_per_image(original, original)))]
  current = dict(params)
  for name in order:
    key, sub = jax.random.split(key)
    current[name] = randomize_params(params[name], sub)
    randomized = _heatmap(method(model, {**variables, "params": dict(current)}, x, target, **method_kwargs))
    rows.append((name, reduce(spearman_per_image(original, randomized))))
  return rows


def deletion_insertion_auc(model_fn: Callable, x, saliency_map, target=None, steps: int = 32, *,
                           baseline: float | str = 0.0, blur_sigma: float | None = None,
                           batch_size: int | None = None) -> dict:
  """Deletion and insertion curves of the target-class probability (Petsiuk et al. 2018).

  Pixels are ranked by `saliency_map` (N, H, W), most salient first. Deletion: after step k of
  `steps`, the top round(k HW / steps) pixels (all channels) are set to `baseline`: a number, or
  "blurred" (the pixels of the blurred image below, which removes a bright object without leaving
  its dark silhouette), or "mean" (each image's per-channel mean). Insertion:
  starting from the Gaussian-blurred image (blur_sigma, default max(H, W) / 8), the same pixels
  take their original values. AUC = trapezoid area under probability vs fraction in [0, 1].

  Args:
    model_fn: `model_fn(x) -> logits` or `-> (logits, aux)`, e.g.
      `lambda x: model.apply(variables, x)`.
    target: int, (N,) ints, or None for the predicted class of x.
  Returns:
    {"deletion": (N,), "insertion": (N,), "deletion_curve": (N, steps + 1),
     "insertion_curve": (N, steps + 1), "fractions": (steps + 1,)} as numpy arrays.
    A faithful map gives low deletion and high insertion AUC.
  """
  from vision_jax.explain.gradients import make_baseline  # local: avoid an import cycle

  x = _core.check_images(x, "deletion_insertion_auc").astype(jnp.float32)
  n, h, w, _ = x.shape
  sal = jnp.asarray(saliency_map, jnp.float32)
  if sal.shape != (n, h, w):
    raise ValueError(f"saliency_map has shape {sal.shape}; expected {(n, h, w)} (one map per image)")
  if int(steps) != steps or steps < 1:
    raise ValueError(f"steps={steps!r} is invalid; expected a positive integer")

  try:
    program = _curve_program(model_fn, batch_size)
  except TypeError:  # an unhashable model_fn: compile for this call only
    program = _CurveProgram(model_fn, batch_size)
  p0 = program.probs(x)
  if target is None:
    t = jnp.argmax(p0, axis=-1)
  else:
    t = np.asarray(target)
    t = np.full((n,), int(t)) if t.ndim == 0 else t
    bad = np.flatnonzero((t < 0) | (t >= p0.shape[-1]))
    if t.shape != (n,) or bad.size:
      raise ValueError(f"target {target!r} is invalid; expected ints in [0, {p0.shape[-1]}), one per image")
    t = jnp.asarray(t)
  counts = jnp.asarray(np.round(np.arange(steps + 1) * (h * w) / steps).astype(np.int32))
  blurred = make_baseline(x, "blurred", blur_sigma)
  if isinstance(baseline, str):
    if baseline not in ("blurred", "mean"):
      raise ValueError(f"unknown deletion baseline {baseline!r}; valid: blurred, mean, or a number")
    fill = blurred if baseline == "blurred" else jnp.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
  else:
    fill = jnp.full_like(x, float(baseline))
  pd, pi = program.curves(x, sal, t, counts, blurred, fill)
  frac = np.asarray(counts, np.float64) / (h * w)
  del_curve, ins_curve = np.asarray(pd, np.float64).T, np.asarray(pi, np.float64).T
  return {"deletion": np.trapezoid(del_curve, frac, axis=1), "insertion": np.trapezoid(ins_curve, frac, axis=1),
          "deletion_curve": del_curve, "insertion_curve": ins_curve, "fractions": frac}


class _CurveProgram:
  """The jitted pieces of deletion_insertion_auc for one model_fn (cached, so repeated calls with the
  same model_fn, e.g. one per explanation method, compile once per input shape)."""

  def __init__(self, model_fn, batch_size):
    def probs(xx):
      out = model_fn(xx)
      logits = out[0] if isinstance(out, tuple) else out
      return jax.nn.softmax(logits, axis=-1)

    def curves(x, sal, t, counts, blurred, fill):
      n, h, w = sal.shape
      order = jnp.argsort(-sal.reshape(n, -1), axis=1, stable=True)
      rank = jnp.argsort(order, axis=1).reshape(n, h, w)  # 0 = most salient pixel

      def curve_point(c):
        chosen = (rank < c)[..., None]
        pd = jnp.take_along_axis(probs(jnp.where(chosen, fill, x)), t[:, None], axis=1)[:, 0]
        pi = jnp.take_along_axis(probs(jnp.where(chosen, x, blurred)), t[:, None], axis=1)[:, 0]
        return pd, pi

      return jax.lax.map(curve_point, counts, batch_size=batch_size)  # (steps + 1, N) each

    self.probs = jax.jit(probs)
    self.curves = jax.jit(curves)


@functools.lru_cache(maxsize=8)
def _curve_program(model_fn, batch_size) -> _CurveProgram:
  return _CurveProgram(model_fn, batch_size)


def energy_in_mask(saliency_map, mask) -> np.ndarray:
  """sum(map * mask) / sum(map) over the last two axes (H, W); maps should be nonnegative.

  saliency_map (..., H, W), mask broadcastable (bool or {0, 1}); 0 where the map is all zero.
  """
  m = np.asarray(saliency_map, np.float64)
  k = np.asarray(mask, np.float64)
  if m.ndim < 2:
    raise ValueError(f"saliency_map has shape {m.shape}; expected (..., H, W)")
  if np.any(m < -1e-12):
    raise ValueError("saliency_map has negative values; expected a nonnegative heatmap (take abs or relu first)")
  total = m.sum(axis=(-2, -1))
  inside = (m * k).sum(axis=(-2, -1))
  return np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)
