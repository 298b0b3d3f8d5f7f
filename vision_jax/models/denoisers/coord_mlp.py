"""Coordinate network u_theta(x, y, t) for PINN-style fits of one image (autodiff PDE residuals).

Input: coordinates (P, D) (D = in_dim = 3 for (x, y, t) by default; x the column, y the row,
usually normalised to [-1, 1]; t the diffusion time). Optional random Fourier features
(Tancik et al. 2020): gamma(p) = [p, sin(2 pi p B), cos(2 pi p B)] with B (D, num_fourier) ~
N(0, fourier_scale^2). B is NOT a parameter: it is drawn inside __call__ from the fixed key
PRNGKey(fourier_seed), so it is a compile-time constant, identical across init/apply, never
trained and absent from the params tree. Then `depth` hidden Dense layers of `width` with tanh
(smooth, so second and fourth derivatives exist for PDE residuals) and a linear Dense(out_dim).

Output: (P,) when out_dim == 1, else (P, out_dim); aux is {}.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn


class CoordMLP(nn.Module):
  """Coordinate MLP: coords (P, in_dim) -> (values (P,) or (P, out_dim), {}).

  Fields:
    width: hidden units per layer.
    depth: number of hidden tanh layers.
    num_fourier: random Fourier frequencies (0 = raw coordinates only).
    fourier_scale: std of the Fourier matrix entries (cycles per coordinate unit).
    fourier_seed: seed of the fixed PRNGKey that draws the Fourier matrix.
    in_dim: coordinate dimension D (3 for (x, y, t)).
    out_dim: number of output values per point.
  """
  width: int = 64
  depth: int = 4
  num_fourier: int = 0
  fourier_scale: float = 1.0
  fourier_seed: int = 0
  in_dim: int = 3
  out_dim: int = 1

  @nn.compact
  def __call__(self, coords: jax.Array, train: bool = False):
    shape = tuple(np.shape(coords))
    if len(shape) != 2 or shape[-1] != self.in_dim:
      raise ValueError(f"coord_mlp expects coordinates of shape (P, {self.in_dim}), got {shape}")
    if self.depth < 1 or self.width < 1:
      raise ValueError(f"coord_mlp width={self.width}, depth={self.depth} are invalid; "
                       "expected both >= 1")
    h = coords
    if self.num_fourier > 0:
      b = self.fourier_scale * jax.random.normal(
          jax.random.PRNGKey(self.fourier_seed), (self.in_dim, self.num_fourier), jnp.float32)
      b = b.astype(coords.dtype)  # drawn in float32 so the matrix is the same under x64
      proj = 2 * jnp.pi * coords @ b
      h = jnp.concatenate([coords, jnp.sin(proj), jnp.cos(proj)], axis=-1)
    for i in range(self.depth):
      h = jnp.tanh(nn.Dense(self.width, name=f"hidden{i}")(h))
    out = nn.Dense(self.out_dim, name="out")(h)
    if self.out_dim == 1:
      out = out[:, 0]
    return out, {}


def scalar_fn(model: CoordMLP, params):
  """Returns f(x, y, t) -> scalar u_theta(x, y, t) for jax.grad / jax.hessian / vmap.

  params: the model's params tree, or a variables dict {"params": ...}. Works for in_dim == 3
  (pass in_dim scalars in general: f(*coords)); out_dim must be 1.
  """
  if model.out_dim != 1:
    raise ValueError(f"scalar_fn needs a coord_mlp with out_dim == 1, got out_dim={model.out_dim}")
  variables = params if isinstance(params, dict) and "params" in params else {"params": params}

  def f(*coords):
    if len(coords) != model.in_dim:
      raise ValueError(f"scalar_fn expects {model.in_dim} scalar coordinates, got {len(coords)}")
    p = jnp.stack([jnp.asarray(c) for c in coords])[None, :]
    values, _ = model.apply(variables, p)
    return values[0]

  return f
