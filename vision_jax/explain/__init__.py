"""Explainability: class activation maps, gradient attributions, occlusion, attention rollout,
sanity/faithfulness checks, overlays and text reports.

Explainers share the call `method(model, variables, x, target=None, **options)` (see
explain/_core.py): `model` is a Linen classifier returning `(logits, aux)` or an apply function
`apply_fn(variables, x, **kw)`; `x` is (N, H, W, C); `target` an int, (N,) ints, or None for the
predicted class. CAM methods and attention rollout return (N, H, W) maps in [0, 1]; gradient
methods return (N, H, W, C) signed attributions; occlusion returns a signed (N, H, W) map.

`METHODS` maps a name to a heatmap function with that call returning (N, H, W) in [0, 1]
(attributions reduced by the per-pixel sum of |a| over channels, occlusion clipped at 0; every
heatmap is divided by its per-image maximum, so 0 keeps meaning "no evidence").
"""

from __future__ import annotations

import jax

from vision_jax.explain._core import gaussian_blur, normalize_maps, to_heatmap, upsample
from vision_jax.explain.attention import attention_rollout, rollout
from vision_jax.explain.cam import class_activation_map, grad_cam, grad_cam_plus_plus, hires_cam
from vision_jax.explain.checks import deletion_insertion_auc, energy_in_mask, randomization_sanity
from vision_jax.explain.gradients import (gradient_x_input, guided_backprop, guided_relu, integrated_gradients,
                                          make_baseline, saliency, smoothgrad)
from vision_jax.explain.overlay import overlay_image, save_overlay
from vision_jax.explain.perturbation import occlusion


def _heatmap_of(fn, **defaults):
  def heatmap(model, variables, x, target=None, **kw):
    return to_heatmap(fn(model, variables, x, target, **{**defaults, **kw}))
  heatmap.__name__ = fn.__name__
  heatmap.__doc__ = f"(N, H, W) heatmap in [0, 1] of {fn.__name__} (sum of |attribution| over channels)."
  return heatmap


def _smoothgrad_heatmap(model, variables, x, target=None, *, key=None, **kw):
  """(N, H, W) SmoothGrad heatmap; key defaults to jax.random.key(0) (deterministic)."""
  key = jax.random.key(0) if key is None else key
  return to_heatmap(smoothgrad(model, variables, x, target, key=key, **kw))


def _occlusion_heatmap(model, variables, x, target=None, **kw):
  """(N, H, W) occlusion heatmap in [0, 1] (logit drops clipped at 0)."""
  return normalize_maps(jax.numpy.maximum(occlusion(model, variables, x, target, **kw), 0.0))


METHODS = {
    "grad_cam": grad_cam,
    "grad_cam_plus_plus": grad_cam_plus_plus,
    "hires_cam": hires_cam,
    "saliency": _heatmap_of(saliency),
    "gradient_x_input": _heatmap_of(gradient_x_input),
    "smoothgrad": _smoothgrad_heatmap,
    "integrated_gradients": _heatmap_of(integrated_gradients),
    "guided_backprop": _heatmap_of(guided_backprop),
    "occlusion": _occlusion_heatmap,
    "attention_rollout": attention_rollout,
}

from vision_jax.explain.report import explanation_report, markdown_table  # noqa: E402  (uses METHODS)

__all__ = [
    "METHODS", "grad_cam", "grad_cam_plus_plus", "hires_cam", "class_activation_map", "saliency",
    "gradient_x_input", "smoothgrad", "integrated_gradients", "make_baseline", "guided_relu",
    "guided_backprop", "occlusion", "rollout", "attention_rollout", "randomization_sanity",
    "deletion_insertion_auc", "energy_in_mask", "overlay_image", "save_overlay", "markdown_table",
    "explanation_report", "to_heatmap", "normalize_maps", "upsample", "gaussian_blur",
]

# Explanation evaluation (seed 001 layer): relevance in a known region, global surrogate, activation maximization.
from vision_jax.explain.activation_max import activation_maximization, total_variation  # noqa: E402
from vision_jax.explain.evaluation import (box_masks, explanation_quality, mass_in_region, pointing_game,  # noqa: E402
                                           quality_rows, surrogate_tree)

__all__ += ["activation_maximization", "total_variation", "box_masks", "explanation_quality", "mass_in_region",
            "pointing_game", "quality_rows", "surrogate_tree"]
