"""Gradient attributions w.r.t. the input image; each returns (N, H, W, C) signed attributions
of the class logit (use `_core.to_heatmap` / the METHODS registry for (N, H, W) heatmaps).

- saliency: vanilla gradient dY_c/dx (Simonyan et al. 2014).
- gradient_x_input: x * dY_c/dx.
- smoothgrad: mean gradient over Gaussian-perturbed copies (Smilkov et al. 2017).
- integrated_gradients: (x - x') * integral_0^1 dY_c/dx(x' + a (x - x')) da (Sundararajan et
  al. 2017) by the trapezoid rule on `steps` intervals; completeness: the attributions sum to
  Y_c(x) - Y_c(x') up to the quadrature error.
- guided_backprop: gradient with every activation's backward pass made "guided": only positive
  gradients flow back, through f'(x) (for ReLU: at positive inputs; Springenberg et al. 2015). The
  registry classifiers take every activation from `models.classifiers.common.activation`, which
  returns the guided version while tracing inside `guided_activations()`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.explain import _core
from vision_jax.models.classifiers.common import guided, guided_activations

__all__ = ["saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "guided_relu",
           "guided_backprop", "input_gradients"]


def _grad(model, variables, x, target):
  fn = _core.as_apply_fn(model)

  def score(xx):
    logits, _ = fn(variables, xx)
    return _core.class_score(logits, target)

  return jax.grad(score)(x)


_grad_jit = jax.jit(_grad, static_argnames=("model",))


def input_gradients(model, variables, x, target) -> jax.Array:
  """d(sum_i logits[i, target[i]]) / dx for resolved (N,) targets; (N, H, W, C)."""
  return _grad_jit(model, _core.strip_perturbations(variables), x, target)


def _prepare(model, variables, x, target, method):
  x = _core.check_images(x, method).astype(jnp.float32)
  return x, _core.resolve_target(model, variables, x, target)


def saliency(model, variables, x, target=None) -> jax.Array:
  """Vanilla gradient of the target logit w.r.t. the input, (N, H, W, C)."""
  x, t = _prepare(model, variables, x, target, "saliency")
  return input_gradients(model, variables, x, t)


def gradient_x_input(model, variables, x, target=None) -> jax.Array:
  """Input times gradient, (N, H, W, C)."""
  x, t = _prepare(model, variables, x, target, "gradient_x_input")
  return x * input_gradients(model, variables, x, t)


@functools.partial(jax.jit, static_argnames=("model", "num_samples", "magnitude", "batch_size"))
def _smoothgrad(model, variables, x, target, key, noise_level, num_samples, magnitude, batch_size):
  span = x.max(axis=(1, 2, 3), keepdims=True) - x.min(axis=(1, 2, 3), keepdims=True)
  sigma = noise_level * span

  def one(z):
    g = _grad(model, variables, x + sigma * z, target)
    return g * g if magnitude else g

  # drawn flat and reshaped: same distribution, and XLA compiles a rank-1 threefry much faster
  noise = jax.random.normal(key, (num_samples * x.size,), x.dtype).reshape(num_samples, *x.shape)
  return jax.lax.map(one, noise, batch_size=batch_size).mean(axis=0)


def smoothgrad(model, variables, x, target=None, *, key, noise_level: float = 0.15, num_samples: int = 25,
               magnitude: bool = False, batch_size: int | None = None) -> jax.Array:
  """SmoothGrad: mean over `num_samples` of the gradient at x + N(0, sigma^2), (N, H, W, C).

  sigma = noise_level * (max(x_i) - min(x_i)) per image; `key` is an explicit jax PRNG key;
  magnitude=True averages squared gradients; batch_size bounds samples evaluated at once.
  """
  x, t = _prepare(model, variables, x, target, "smoothgrad")
  _check_count(num_samples, "num_samples")
  if noise_level < 0:
    raise ValueError(f"noise_level={noise_level!r} is invalid; expected >= 0")
  return _smoothgrad(model, _core.strip_perturbations(variables), x, t, key, jnp.float32(noise_level),
                     int(num_samples), bool(magnitude), batch_size)


def _check_count(value, name):
  if int(value) != value or value < 1:
    raise ValueError(f"{name}={value!r} is invalid; expected a positive integer")


def make_baseline(x, baseline="black", blur_sigma: float | None = None) -> jax.Array:
  """IG / insertion baseline: "black" (zeros), "blurred" (Gaussian blur of x with blur_sigma,
  default max(H, W) / 8 pixels), a float fill value, or an array broadcastable to x."""
  x = jnp.asarray(x, jnp.float32)
  if isinstance(baseline, str):
    if baseline == "black":
      return jnp.zeros_like(x)
    if baseline == "blurred":
      sigma = max(x.shape[1:3]) / 8.0 if blur_sigma is None else blur_sigma
      return _core.gaussian_blur(x, sigma)
    raise ValueError(f"unknown baseline {baseline!r}; valid: black, blurred, a number or an array")
  b = jnp.asarray(baseline, jnp.float32)
  try:
    return jnp.broadcast_to(b, x.shape)
  except ValueError as err:
    raise ValueError(f"baseline has shape {b.shape}; expected a shape broadcastable to {x.shape}") from err


def integrated_gradients(model, variables, x, target=None, *, baseline="black", steps: int = 64,
                         blur_sigma: float | None = None, batch_size: int | None = None) -> jax.Array:
  """Integrated gradients from `baseline` (see make_baseline) by the trapezoid rule, (N, H, W, C).

  Evaluates the gradient at steps + 1 points a = 0, 1/steps, ..., 1 (batch_size of them at once).
  """
  x, t = _prepare(model, variables, x, target, "integrated_gradients")
  _check_count(steps, "steps")
  x0 = make_baseline(x, baseline, blur_sigma)
  return _integrated(model, _core.strip_perturbations(variables), x, x0, t, int(steps), batch_size)


@functools.partial(jax.jit, static_argnames=("model", "steps", "batch_size"))
def _integrated(model, variables, x, x0, target, steps, batch_size):
  alphas = jnp.linspace(0.0, 1.0, steps + 1)
  w = np.full(steps + 1, 1.0 / steps, np.float32)
  w[0] = w[-1] = 0.5 / steps
  grads = jax.lax.map(lambda a: _grad(model, variables, x0 + a * (x - x0), target), alphas, batch_size=batch_size)
  return (x - x0) * jnp.tensordot(jnp.asarray(w), grads, axes=1)


guided_relu = guided(jax.nn.relu)  # ReLU whose gradient passes only where input > 0 and gradient > 0


def _guided_grad(model, variables, x, target):
  with guided_activations():  # traced here, so every activation of the model is the guided one
    return _grad(model, variables, x, target)


_guided_grad_jit = jax.jit(_guided_grad, static_argnames=("model",))


def guided_backprop(model, variables, x, target=None) -> jax.Array:
  """Guided backpropagation attributions (N, H, W, C) of any model whose activations come from
  `models.classifiers.common.activation` (every registry classifier; see module doc)."""
  x, t = _prepare(model, variables, x, target, "guided_backprop")
  return _guided_grad_jit(model, _core.strip_perturbations(variables), x, t)
