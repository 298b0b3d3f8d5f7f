"""PDE residuals for physics-informed losses: on the pixel grid and, exactly, for coordinate networks.

Coordinates are (x, y, t) with x along columns and y along rows, in the same length unit as the grid
spacing h: pixel (i, j) of a grid with spacing h sits at (x, y) = (x0 + j h, y0 + i h). A grid
residual computed with spacing h therefore approaches the autodiff residual of the underlying smooth
function as h -> 0 (second order for every prior except "tv", which is first order).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vision_jax.pde import operators as ops
from vision_jax.pde.priors import get_prior


def grid_residual(u, prior, *, u_prev=None, tau=None, bc: str = "neumann", h: float = 1.0, **params):
  """Finite-difference residual of the prior on images u (..., H, W).

  Two forms:
    * u_prev and tau given: the one-implicit-step residual (u - u_prev) / tau - F(u). It is zero iff
      u is one backward-Euler step of length tau of the flow started at u_prev (e.g. u_prev = the
      noisy input and u = the denoised output: u is then the prior's diffusion of the input over a
      time tau, without the instability of explicit steps).
    * neither given: the steady-state residual -F(u), i.e. u_t - F(u) with u_t = 0. Its mean square
      is small when u is an equilibrium of the flow (for "heat": a harmonic image, so it penalises
      roughness); this is the PINN-style L_PDE term on a single image.

  Args:
    u: image(s) (..., H, W). u_prev: same shape. tau: time step (> 0), same time units as the flow.
    prior: name or Prior. bc: boundary condition. h: grid spacing (a Python float: static under jit).
    **params: prior parameters.
  Returns: residual, same shape as u.
  """
  prior = get_prior(prior)
  ops.check_bc(bc)
  if (u_prev is None) != (tau is None):
    raise ValueError("pass both u_prev and tau (one-implicit-step residual) or neither (steady-state residual); "
                     f"got u_prev={'None' if u_prev is None else 'array'}, tau={tau!r}")
  u = ops.as_image(u)
  F = prior(u, bc=bc, h=h, **params)  # validated and jitted (h is static)
  if u_prev is None:
    return -F
  u_prev = ops.as_image(u_prev, "u_prev")
  if u_prev.shape != u.shape:
    raise ValueError(f"u_prev has shape {tuple(u_prev.shape)}; expected the shape of u {tuple(u.shape)}")
  return (u - u_prev) / tau - F


def autodiff_residual(u_fn, points, prior, **params):
  """Exact residual u_t - F(u) of a differentiable field at collocation points.

  Args:
    u_fn: u_fn(x, y, t) -> scalar, e.g. a coordinate network closed over its parameters. x runs
      along columns, y along rows, in grid-spacing units (see module doc).
    points: (P, 3) array of (x, y, t).
    prior: name or Prior with a continuous form (field_rhs); **params its parameters.
  Returns:
    (P,) residuals. u_t comes from jax.grad; F from jax.grad / jax.hessian / nested jax.jacfwd: the
    nonlinear priors build the flux (e.g. g(|grad u|) grad u) as a function of (x, y) and take its
    exact divergence, and the biharmonic is the trace of the Hessian of the Laplacian (fourth
    derivatives). For "tensor" the continuous form uses the structure tensor of grad u itself
    (sigma = rho = 0 limit), where D grad u = lambda1(|grad u|) grad u; sigma and rho are ignored.
  """
  prior = get_prior(prior)
  if prior.field_rhs is None:
    raise ValueError(f"prior '{prior.name}' has no continuous (autodiff) form")
  params = prior.resolve_params(params)
  points = jnp.asarray(points)
  if points.ndim != 2 or points.shape[-1] != 3:
    raise ValueError(f"points has shape {tuple(points.shape)}; expected (P, 3) rows of (x, y, t)")
  if not jnp.issubdtype(points.dtype, jnp.floating):
    points = points.astype(jnp.result_type(float))

  def one(pt):
    t = pt[2]
    u_t = jax.grad(u_fn, argnums=2)(pt[0], pt[1], t)
    return u_t - prior.field_rhs(lambda q: u_fn(q[0], q[1], t), pt[:2], **params)

  return jax.jit(jax.vmap(one))(points)  # compiled per call (u_fn is a closure); inlined under an outer jit


def grid_points(shape, h: float = 1.0, t: float = 0.0, origin=(0.0, 0.0)):
  """(H*W, 3) points (x, y, t) of the pixels of an (H, W) grid, row-major (pixel (i, j) at row i*W + j)."""
  H, W = shape
  y, x = jnp.meshgrid(origin[1] + h * jnp.arange(H), origin[0] + h * jnp.arange(W), indexing="ij")
  return jnp.stack([x.ravel(), y.ravel(), jnp.full(H * W, t, x.dtype)], axis=-1)


def sample_grid(u_fn, shape, h: float = 1.0, t: float = 0.0, origin=(0.0, 0.0)):
  """Renders u_fn(x, y, t) on an (H, W) grid of spacing h: returns (H, W)."""
  pts = grid_points(shape, h, t, origin)
  return jax.jit(jax.vmap(lambda p: u_fn(p[0], p[1], p[2])))(pts).reshape(shape)
