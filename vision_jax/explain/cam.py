"""Class activation maps from the last spatial feature map A (N, h, w, K) and its gradient.

- Grad-CAM (Selvaraju et al. 2017): relu(sum_k alpha_k A_k), alpha_k = mean_ij dY/dA_kij.
- Grad-CAM++ (Chattopadhay et al. 2018): alpha weights from second/third-order terms under
  the exponential-score approximation (higher derivatives = powers of the first).
- HiResCAM (Draelos & Carin 2020): relu(sum_k dY/dA_k * A_k), elementwise; for a
  global-average-pool + linear head it equals CAM (Zhou et al. 2016) up to the factor 1/(h w).

Each returns (N, H, W) maps upsampled bilinearly to the input size and divided by their
per-image maximum, so they lie in [0, 1] (`upsample=False` keeps (N, h, w); `normalize=False`
keeps raw values). A 1x1 feature map gives a uniform map (all ones, or zeros if the ReLU kills it). See _core for the
`(model, variables, x, target)` arguments; the model must expose aux["feature_map"] through
`self.perturb("feature_map", ...)`, else ValueError names the method and the model.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from vision_jax.explain import _core

__all__ = ["grad_cam", "grad_cam_plus_plus", "hires_cam", "class_activation_map"]


@functools.partial(jax.jit, static_argnames=("kind",))
def _cam_from(a, g, kind):
  if kind == "grad_cam":
    cam = jnp.einsum("nhwk,nk->nhw", a, g.mean(axis=(1, 2)))
  elif kind == "grad_cam_plus_plus":
    g2, g3 = g ** 2, g ** 3
    denom = 2.0 * g2 + a.sum(axis=(1, 2), keepdims=True) * g3
    alpha = jnp.where(denom != 0.0, g2 / jnp.where(denom != 0.0, denom, 1.0), 0.0)
    cam = jnp.einsum("nhwk,nk->nhw", a, jnp.sum(alpha * jnp.maximum(g, 0.0), axis=(1, 2)))
  else:  # hires_cam
    cam = jnp.sum(g * a, axis=-1)
  return jnp.maximum(cam, 0.0)


def _run(kind, model, variables, x, target, upsample, normalize):
  x = _core.check_images(x, kind)
  target = _core.resolve_target(model, variables, x, target)
  a, g, _ = _core.feature_map_gradients(model, variables, x, target, kind)
  cam = _cam_from(a, g, kind)
  if upsample:
    cam = _core.upsample(cam, x.shape[1:3])
  return _core.normalize_maps(cam) if normalize else cam


def grad_cam(model, variables, x, target=None, *, upsample: bool = True, normalize: bool = True) -> jax.Array:
  """Grad-CAM heatmaps (N, H, W) in [0, 1] for class `target` (None: predicted class)."""
  return _run("grad_cam", model, variables, x, target, upsample, normalize)


def grad_cam_plus_plus(model, variables, x, target=None, *, upsample: bool = True, normalize: bool = True) -> jax.Array:
  """Grad-CAM++ heatmaps (N, H, W) in [0, 1].

  alpha_kij = g^2 / (2 g^2 + sum_ab A_kab * g^3) (0 where the denominator vanishes),
  w_k = sum_ij alpha_kij relu(g_kij), map = relu(sum_k w_k A_k), with g = dY/dA.
  """
  return _run("grad_cam_plus_plus", model, variables, x, target, upsample, normalize)


def hires_cam(model, variables, x, target=None, *, upsample: bool = True, normalize: bool = True) -> jax.Array:
  """HiResCAM heatmaps (N, H, W) in [0, 1]: relu(sum_k g_k * A_k) elementwise."""
  return _run("hires_cam", model, variables, x, target, upsample, normalize)


def class_activation_map(feature_map, dense_kernel, target) -> jax.Array:
  """Original CAM (Zhou et al. 2016) for a GAP + linear head: sum_k W[k, c] A_k, (N, h, w).

  feature_map (N, h, w, K), dense_kernel (K, num_classes), target (N,) ints. Unnormalised,
  no ReLU; a reference for tests and for models with that exact head.
  """
  w = jnp.asarray(dense_kernel)[:, jnp.asarray(target)].T  # (N, K)
  return jnp.einsum("nhwk,nk->nhw", jnp.asarray(feature_map), w)
