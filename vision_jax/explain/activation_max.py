"""Activation maximization: the input a network scores highest for a class (or a feature channel),
found by gradient ascent with L2, total-variation and blur regularizers and random jitter
(Erhan et al. 2009; Simonyan et al. 2014; Yosinski et al. 2015; Mahendran & Vedaldi 2015).

Objective per image (maximised):
    J(x) = score(x) - l2 * sum(x^2) - tv * sum_ij sqrt((x_{i+1,j} - x_ij)^2 + (x_{i,j+1} - x_ij)^2 + eps)
score: the logit of class `target` ("logit"), or the mean activation of channel `target` of
aux["feature_map"] ("channel"). Each step: roll x by a random shift of up to `jitter` pixels, take
x += lr * dJ/dx at the rolled image, roll back; every `blur_every` steps blur by a Gaussian of
`blur_sigma` pixels; then clip to `clip` (the data range). With normalize_grad=True the step is
lr * g / mean(|g|) per image (scale-free: lr is then a step in pixel units, whatever the logit's scale).
All steps run in one jitted lax.scan.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.explain import _core

__all__ = ["activation_maximization", "total_variation"]

OBJECTIVES = ("logit", "channel")


def total_variation(x, eps: float = 1e-8) -> jax.Array:
  """Isotropic total variation of (N, H, W, C) images, one value per image (N,) (forward
  differences, the last row / column repeated so it adds nothing)."""
  dy = jnp.diff(x, axis=1, append=x[:, -1:])
  dx = jnp.diff(x, axis=2, append=x[:, :, -1:])
  return jnp.sqrt(dy ** 2 + dx ** 2 + eps).sum(axis=(1, 2, 3))


@functools.partial(jax.jit, static_argnames=("model", "objective", "steps", "blur_every", "blur_sigma", "jitter",
                                             "clip", "normalize_grad"))
def _ascend(model, variables, x0, target, key, lr, l2, tv, objective, steps, blur_every, blur_sigma, jitter, clip,
            normalize_grad):
  fn = _core.as_apply_fn(model)

  def score(x):
    logits, aux = fn(variables, x)
    if objective == "logit":
      s = jnp.take_along_axis(logits, target[:, None], axis=1)[:, 0]
    else:
      fmap = aux["feature_map"]
      s = jnp.take_along_axis(fmap.mean(axis=(1, 2)), target[:, None], axis=1)[:, 0]
    return s

  def objective_fn(x):
    s = score(x)
    return jnp.sum(s - l2 * jnp.sum(x ** 2, axis=(1, 2, 3)) - tv * total_variation(x)), s

  def step(carry, i):
    x, key = carry
    key, k1 = jax.random.split(key)
    shift = jax.random.randint(k1, (2,), -jitter, jitter + 1) if jitter else jnp.zeros((2,), jnp.int32)
    xr = jnp.roll(x, (shift[0], shift[1]), axis=(1, 2))
    g, s = jax.grad(objective_fn, has_aux=True)(xr)
    if normalize_grad:
      g = g / (jnp.abs(g).mean(axis=(1, 2, 3), keepdims=True) + 1e-12)
    x = jnp.roll(xr + lr * g, (-shift[0], -shift[1]), axis=(1, 2))
    if blur_every and blur_sigma > 0:
      x = jax.lax.cond((i + 1) % blur_every == 0, lambda v: _core.gaussian_blur(v, blur_sigma), lambda v: v, x)
    if clip is not None:
      x = jnp.clip(x, clip[0], clip[1])
    return (x, key), s

  (x, _), scores = jax.lax.scan(step, (x0, key), jnp.arange(steps))
  return x, scores, score(x)


def activation_maximization(model, variables, target, shape, *, objective: str = "logit", steps: int = 200,
                            lr: float = 0.05, l2: float = 1e-3, tv: float = 1e-3, blur_sigma: float = 0.0,
                            blur_every: int = 0, jitter: int = 0, init=0.5, clip=(0.0, 1.0), key=None,
                            normalize_grad: bool = False) -> dict:
  """Gradient ascent on the input (see module doc).

  Args:
    model, variables: a classifier (see explain/_core.py); "channel" needs aux["feature_map"].
    target: int or (N,) ints: the class (objective "logit") or feature channel ("channel") per image.
    shape: (N, H, W, C) of the images to optimise.
    init: a fill value, or an array of `shape` (the starting images).
    clip: (lo, hi) range enforced after every step, or None.
  Returns:
    {"images" (N, H, W, C), "score" (N,) final unregularised score, "trace" (steps, N) score at each
    step (at the jittered image)}.
  """
  if objective not in OBJECTIVES:
    raise ValueError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
  shape = tuple(int(s) for s in shape)
  if len(shape) != 4:
    raise ValueError(f"shape={shape!r} is invalid; expected (N, H, W, C)")
  for name, value in (("steps", steps), ("blur_every", blur_every), ("jitter", jitter)):
    if int(value) != value or value < (1 if name == "steps" else 0):
      raise ValueError(f"{name}={value!r} is invalid; expected an integer >= {1 if name == 'steps' else 0}")
  if min(lr, l2, tv, blur_sigma) < 0:
    raise ValueError(f"lr={lr}, l2={l2}, tv={tv}, blur_sigma={blur_sigma}; expected nonnegative values")
  n = shape[0]
  t = np.asarray(target)
  t = np.full((n,), int(t)) if t.ndim == 0 else t
  if t.shape != (n,) or t.dtype.kind not in "iu" or t.min() < 0:
    raise ValueError(f"target {target!r} is invalid; expected a nonnegative int or ({n},) ints")
  x0 = jnp.full(shape, float(init), jnp.float32) if np.ndim(init) == 0 else jnp.asarray(init, jnp.float32)
  if x0.shape != shape:
    raise ValueError(f"init has shape {x0.shape}; expected {shape}")
  key = jax.random.key(0) if key is None else key
  clip = None if clip is None else (float(clip[0]), float(clip[1]))
  images, trace, final = _ascend(model, _core.strip_perturbations(variables), x0, jnp.asarray(t, jnp.int32), key,
                                 jnp.float32(lr), jnp.float32(l2), jnp.float32(tv), objective, int(steps),
                                 int(blur_every), float(blur_sigma), int(jitter), clip, bool(normalize_grad))
  return {"images": np.asarray(images), "score": np.asarray(final), "trace": np.asarray(trace)}
