"""Grad-CAM of the one-logit model and the paper's lung-coverage metric.

Grad-CAM (vision_jax.explain.grad_cam) on the last convolutional feature map (Xception's final
2048 x width ReLU map), for the evidence of the *predicted* class: d z / dA for a COVID prediction and
d(-z) / dA for a non-COVID one (the paper leaves the target of a "Normal" prediction UNSPEC; with one
logit, "evidence for Normal" is evidence against COVID). `SignedLogit` turns the logit z into two
columns (-z, z), so class ids 0 / 1 select the sign and the library's explainers and sanity check apply.

`layer_grad_cam` is the same Grad-CAM on the output of a named top-level submodule (e.g. Xception's
"block3", 16 x 16 at 128 px: the resolution the paper's last layer has at 512 px), through
flax.linen.intercept_methods; at 128 px the last feature map is only 4 x 4.

Coverage (the paper's E_lung / E_total x 100): sum(H M) / sum(H) x 100 with H the upsampled Grad-CAM
map and M a lung mask (vision_jax.explain.checks.energy_in_mask). The paper's M is the algorithmic
Otsu mask (pipeline.safe_lung_mask); this project also reports it against the true mask.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import explain as ex
from vision_jax.data import batching
from vision_jax.explain import checks
from vision_jax.projects.covid_cxr.training import model_input
from vision_jax.train import state as state_lib

CAM_TARGETS = ("predicted", "covid")


@dataclasses.dataclass(frozen=True)
class SignedLogit:
  """Apply function (variables, x, **kw) -> ((N, 2) logits (-z, z), aux) of a one-logit Linen model;
  hashable (by the model), so the explainers' jit caches work."""
  model: object

  @property
  def __name__(self):  # noqa: A003 (explainers name the model in messages)
    return f"SignedLogit({type(self.model).__name__})"

  def __call__(self, variables, x, **kw):
    out = self.model.apply(variables, x, train=False, **kw)
    if "mutable" in kw:
      (z, aux), mutated = out
      return (jnp.concatenate([-z, z], axis=-1), aux), mutated
    z, aux = out
    return jnp.concatenate([-z, z], axis=-1), aux


def cam_targets(probs, threshold: float, kind: str = "predicted") -> np.ndarray:
  """(N,) int class ids whose evidence Grad-CAM maps: the predicted class (p >= threshold) or always COVID."""
  if kind not in CAM_TARGETS:
    raise ValueError(f"unknown explain.cam_target {kind!r}; valid: {', '.join(CAM_TARGETS)}")
  p = np.asarray(probs)
  return np.ones(p.shape, np.int32) if kind == "covid" else (p >= threshold).astype(np.int32)


def grad_cam_maps(model, state, images, targets, batch_size: int = 32, layer: str = "") -> np.ndarray:
  """Grad-CAM (N, H, W) in [0, 1] of [0, 1] channel images (N, H, W, C) for class ids `targets` (N,), on the
  last feature map (layer "") or on the output of submodule `layer` (layer_grad_cam)."""
  variables = state_lib.model_variables(state)
  signed = SignedLogit(model)
  fn = (lambda v, x, t: ex.grad_cam(signed, v, x, t)) if not layer else \
      (lambda v, x, t: layer_grad_cam(model, v, x, t, layer))
  if len(images) == 0:
    return np.zeros((0, *np.shape(images)[1:3]))
  # the last batch is zero-padded so one compiled program serves every batch
  maps = batching.predict_in_batches(lambda x, t: fn(variables, x, t),
                                     (model_input(images), np.asarray(targets, np.int32)), batch_size)
  return maps.astype(np.float64)


def _layer_score(model, variables, x, signs, layer, delta):
  """(sum_i signs_i z_i, the layer's output) with `delta` added to the output of submodule `layer`."""
  captured = {}

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.method_name == "__call__" and tuple(context.module.path) == (layer,):
      captured["a"] = out
      return out + delta
    return out

  with nn.intercept_methods(interceptor):
    z, _ = model.apply(variables, x, train=False)
  return jnp.sum(signs * z[:, 0]), captured["a"]


@functools.partial(jax.jit, static_argnames=("model", "layer", "shape"))
def _layer_cam(model, variables, x, signs, layer, shape):
  grads, a = jax.grad(lambda d: _layer_score(model, variables, x, signs, layer, d), has_aux=True)(jnp.zeros(shape))
  return jnp.maximum(jnp.einsum("nhwk,nk->nhw", a, grads.mean(axis=(1, 2))), 0.0)


def layer_grad_cam(model, variables, x, targets, layer: str) -> jax.Array:
  """Grad-CAM (N, H, W) in [0, 1] of a one-logit model on the output of top-level submodule `layer`:
  relu(sum_k alpha_k A_k), alpha_k = mean_ij d(+-z) / dA_kij (+ for target 1, - for target 0), upsampled
  bilinearly to the input size and divided by each map's maximum (as vision_jax.explain.grad_cam)."""
  params = variables["params"]
  if layer not in params:
    raise ValueError(f"explain.hires_layer={layer!r} is not a submodule of {type(model).__name__}; valid: "
                     f"{', '.join(params)}")
  x = jnp.asarray(x, jnp.float32)
  signs = jnp.where(jnp.asarray(targets) == 1, 1.0, -1.0)
  shape = jax.eval_shape(lambda d: _layer_score(model, variables, x, signs, layer, d)[1], 0.0).shape
  cam = _layer_cam(model, variables, x, signs, layer, tuple(shape))
  return ex.normalize_maps(ex.upsample(cam, x.shape[1:3]))


def lung_coverage(maps, masks) -> np.ndarray:
  """Percent of each map's energy inside its lung mask: 100 sum(H M) / sum(H), (N,); maps (N, H, W) >= 0,
  masks (N, H, W) of the same size (ValueError otherwise); 0 for an all-zero map."""
  maps, masks = np.asarray(maps), np.asarray(masks)
  if maps.shape != masks.shape:
    raise ValueError(f"lung masks have shape {masks.shape} but the CAM maps have shape {maps.shape}; expected one "
                     "mask of the image's size per map")
  return 100.0 * checks.energy_in_mask(maps, masks)


def coverage_summary(coverage, rules_within: float, rules_mixed: float) -> dict:
  """Distribution of coverage percentages (N,): mean, std, quartiles, and the shares falling under each
  rule band (>= within, [mixed, within), < mixed)."""
  c = np.asarray(coverage, np.float64)
  if c.size == 0:
    return {"n": 0}
  q1, med, q3 = np.percentile(c, [25, 50, 75])
  return {"n": int(c.size), "mean": float(c.mean()), "std": float(c.std()), "min": float(c.min()),
          "q1": float(q1), "median": float(med), "q3": float(q3), "max": float(c.max()),
          "share_within": float(np.mean(c >= rules_within)),
          "share_mixed": float(np.mean((c >= rules_mixed) & (c < rules_within))),
          "share_outside": float(np.mean(c < rules_mixed))}


def randomization_check(model, state, images, targets) -> list[tuple[str, float]]:
  """Cascading randomization (Adebayo et al. 2018) of Grad-CAM: Spearman rho between the map of the
  trained model and the map after randomizing the top parameter group, then the top two, ...; rows
  (last group randomized, mean rho)."""
  variables = state_lib.model_variables(state)

  def signed_grad_cam(m, v, x, t):
    return ex.grad_cam(SignedLogit(m), v, x, t)

  # The Linen model itself is passed, so the library orders the parameter groups from the output down
  # (restored checkpoints sort them by name); the method wraps it for the signed logit.
  return checks.randomization_sanity(model, variables, model_input(images), np.asarray(targets, np.int32),
                                     signed_grad_cam)
