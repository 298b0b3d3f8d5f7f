"""Occlusion sensitivity (Zeiler & Fergus 2014).

A `patch` x `patch` window (all channels) slides with `stride`; each position is replaced by
`baseline` and the drop of the target logit, Y_c(x) - Y_c(x occluded), is credited to every
pixel of the window. A pixel's value is the mean drop over the windows that cover it. The last
row/column of windows is shifted so the whole image is covered.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.explain import _core

__all__ = ["occlusion", "occlusion_masks"]


def _starts(size: int, patch: int, stride: int) -> list[int]:
  starts = list(range(0, size - patch + 1, stride))
  if starts[-1] != size - patch:
    starts.append(size - patch)
  return starts


def occlusion_masks(height: int, width: int, patch: int, stride: int) -> np.ndarray:
  """(P, H, W) boolean masks, one per window position (row-major)."""
  if not 1 <= patch <= min(height, width):
    raise ValueError(f"patch={patch!r} is invalid; expected 1 <= patch <= {min(height, width)}")
  if stride < 1:
    raise ValueError(f"stride={stride!r} is invalid; expected >= 1")
  masks = []
  for r in _starts(height, patch, stride):
    for c in _starts(width, patch, stride):
      m = np.zeros((height, width), bool)
      m[r:r + patch, c:c + patch] = True
      masks.append(m)
  return np.stack(masks)


def occlusion(model, variables, x, target=None, *, patch: int = 8, stride: int | None = None,
              baseline: float = 0.0, batch_size: int | None = 16) -> jax.Array:
  """Occlusion map (N, H, W): mean logit drop over the windows covering each pixel (signed).

  stride defaults to `patch` (non-overlapping windows); batch_size bounds window positions
  evaluated at once.
  """
  x = _core.check_images(x, "occlusion").astype(jnp.float32)
  t = _core.resolve_target(model, variables, x, target)
  masks = jnp.asarray(occlusion_masks(x.shape[1], x.shape[2], patch, patch if stride is None else stride))
  return _occlusion(model, _core.strip_perturbations(variables), x, t, masks, jnp.float32(baseline), batch_size)


@functools.partial(jax.jit, static_argnames=("model", "batch_size"))
def _occlusion(model, variables, x, target, masks, baseline, batch_size):
  fn = _core.as_apply_fn(model)

  def scores(xx):
    logits, _ = fn(variables, xx)
    return jnp.take_along_axis(logits, target[:, None], axis=1)[:, 0]

  ref = scores(x)
  drops = jax.lax.map(lambda m: ref - scores(jnp.where(m[None, :, :, None], baseline, x)), masks,
                      batch_size=batch_size)  # (P, N)
  m = masks.astype(jnp.float32)
  total = jnp.einsum("pn,phw->nhw", drops, m)
  return total / jnp.maximum(m.sum(axis=0), 1.0)[None]
