"""Attention rollout (Abnar & Zuidema 2020) for ViTs.

Per layer the heads are fused (mean by default), the residual connection is modelled as
A' = residual * I + (1 - residual) * A (residual = 0.5 in the paper), rows are renormalised,
and the layers are multiplied from the bottom up: R = A'_L ... A'_1. The class token's row of
R, over the patch tokens, is the relevance map.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from vision_jax.explain import _core

__all__ = ["rollout", "attention_rollout"]

_FUSIONS = ("mean", "max", "min")


def rollout(attentions, residual: float = 0.5, head_fusion: str = "mean") -> jax.Array:
  """Rollout of per-layer attention weights (each (N, heads, T, T), rows summing to 1) -> (N, T, T)."""
  if head_fusion not in _FUSIONS:
    raise ValueError(f"unknown head_fusion {head_fusion!r}; valid: {', '.join(_FUSIONS)}")
  if not 0.0 <= residual <= 1.0:
    raise ValueError(f"residual={residual!r} is invalid; expected 0 <= residual <= 1")
  attentions = tuple(attentions)
  if not attentions:
    raise ValueError("attentions is empty; expected one (N, heads, T, T) array per layer")
  result = None
  for i, a in enumerate(attentions):
    a = jnp.asarray(a, jnp.float32)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
      raise ValueError(f"attention of layer {i} has shape {a.shape}; expected (N, heads, T, T)")
    fused = getattr(jnp, head_fusion)(a, axis=1)
    eye = jnp.eye(a.shape[-1], dtype=fused.dtype)
    mixed = residual * eye + (1.0 - residual) * fused
    mixed = mixed / mixed.sum(axis=-1, keepdims=True)
    result = mixed if result is None else jnp.matmul(mixed, result)
  return result


def attention_rollout(model, variables, x, target=None, *, residual: float = 0.5, head_fusion: str = "mean",
                      num_prefix_tokens: int = 1, upsample: bool = True, normalize: bool = True) -> jax.Array:
  """Class-token rollout map of a ViT, (N, H, W) in [0, 1] (class-agnostic: `target` is unused).

  The model must return per-layer attention weights in aux["attention"]; the patch tokens
  after the `num_prefix_tokens` leading tokens must form a square grid.
  """
  x = _core.check_images(x, "attention_rollout")
  _, aux = _core.logits_and_aux(model, variables, x)
  if "attention" not in aux:
    raise ValueError(f"attention_rollout needs aux['attention'] but model {_core.model_name(model)} "
                     f"returns aux keys {sorted(aux)}; it only applies to attention models (ViT)")
  r = rollout(aux["attention"], residual, head_fusion)
  patches = r[:, 0, num_prefix_tokens:]
  side = math.isqrt(patches.shape[1])
  if side * side != patches.shape[1]:
    raise ValueError(f"attention_rollout: {patches.shape[1]} patch tokens do not form a square grid; "
                     f"check num_prefix_tokens={num_prefix_tokens}")
  maps = patches.reshape(-1, side, side)
  if upsample:
    maps = _core.upsample(maps, x.shape[1:3])
  return _core.normalize_maps(maps) if normalize else maps
