"""Precise BatchNorm statistics (Wu & Johnson 2021): population mean and variance of every BatchNorm
layer's input, averaged over fixed batches with the current weights, to replace the running averages
(which lag the weights early in training). Every Dropout is skipped in the statistics pass, so the
moments are those the layer sees at inference (no dropout / BatchNorm variance shift, Li et al. 2019).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from vision_jax.train.state import model_variables


@functools.partial(jax.jit, static_argnames=("model",))
def batchnorm_input_moments(model, variables, x):
  """{BatchNorm module path: (mean, biased variance) over all but the channel axis of its input} in a
  train-mode forward pass of x with every Dropout skipped."""
  moments = {}

  def interceptor(next_fun, args, kwargs, context):
    if isinstance(context.module, nn.Dropout) and context.method_name == "__call__":
      return args[0]
    if isinstance(context.module, nn.BatchNorm) and context.method_name == "__call__":
      h = args[0]
      axes = tuple(range(h.ndim - 1))
      moments[tuple(context.module.path)] = (jnp.mean(h, axes), jnp.var(h, axes))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(interceptor):
    model.apply(variables, x, train=True, mutable=["batch_stats"])
  return moments


def precise_batch_stats(model, state: dict, batches) -> dict:
  """The batch_stats tree of `state`'s model recomputed as the average over `batches` (each an input
  array) of batchnorm_input_moments; ValueError if it does not cover exactly the model's layers."""
  variables = model_variables(state)
  sums = None
  for x in batches:
    m = jax.device_get(batchnorm_input_moments(model, variables, jnp.asarray(x)))
    sums = m if sums is None else {k: (sums[k][0] + v[0], sums[k][1] + v[1]) for k, v in m.items()}
  flat = {}
  for path, (mean, var) in sums.items():
    flat[(*path, "mean")] = np.asarray(mean / len(batches), np.float32)
    flat[(*path, "var")] = np.asarray(var / len(batches), np.float32)
  ref = traverse_util.flatten_dict(state["batch_stats"])
  if set(ref) != set(flat):
    raise ValueError(f"precise BN found {len(flat)} statistics but the model has {len(ref)}; expected the same layers")
  return traverse_util.unflatten_dict(flat)
