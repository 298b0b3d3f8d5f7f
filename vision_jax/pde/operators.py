"""Finite-difference operators on images of shape (..., H, W).

Axes: the last axis is x (columns, W), the second-to-last is y (rows, H); leading axes are
batch/channel and are carried through untouched. Grid spacing is `h` (1 = one pixel) in the same
length unit as the coordinates; intensities keep their own unit, so a gradient has units
intensity / length and a Laplacian intensity / length^2.

Boundary conditions (`bc`):
  "neumann"   reflecting / zero flux: the image is mirrored across its border (u_{-1} = u_0).
  "dirichlet" zero outside the image.
  "periodic"  the image wraps around.

Two families of discretisations live here:
  * `gradient` (forward differences) and `divergence` (backward differences) form an exact adjoint
    pair, <gradient u, p> = -<u, divergence p> for every bc. Variational flows (TV) use them, because
    div(f(grad u)) is then the exact gradient of a discrete energy.
  * `edge_gradients` / `flux_divergence` / `nonlinear_diffusion` / `tensor_diffusion` are the
    conservative edge-midpoint ("staggered") scheme: fluxes live on the W+1 x-edges and H+1 y-edges,
    the tangential derivative at an edge is the mean of the two neighbouring central differences, and
    the divergence is the difference of edge fluxes. It is second-order accurate, conserves mass
    exactly under "neumann" and "periodic", and reduces to the 5-point Laplacian for a unit
    diffusivity under every bc. The nonlinear diffusion priors use it.

Every function is pure, has no Python loop over pixels, and works under jit, vmap and grad. The
public operators are themselves jitted with bc, h, axis, sigma (Python values) static, so eager
calls compile once per shape; inside an outer jit they are inlined.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp

BOUNDARY_CONDITIONS = ("dirichlet", "neumann", "periodic")
_PAD_MODE = {"neumann": "symmetric", "dirichlet": "constant", "periodic": "wrap"}
_AXIS_NAMES = {"x": -1, "y": -2}


def _jit(*static):
  """jax.jit with the named arguments static: eager calls compile each operator once per shape
  (instead of primitive by primitive); inside an outer jit it is inlined."""
  return functools.partial(jax.jit, static_argnames=static)


def check_bc(bc) -> None:
  """Raises ValueError unless bc is one of BOUNDARY_CONDITIONS."""
  if not isinstance(bc, str) or bc not in BOUNDARY_CONDITIONS:
    raise ValueError(f"unknown boundary condition bc={bc!r}; valid: {', '.join(BOUNDARY_CONDITIONS)}")


def as_image(u, name: str = "u") -> jax.Array:
  """Returns u as a floating jax array of rank >= 2 (..., H, W); raises ValueError otherwise."""
  u = jnp.asarray(u)
  if u.ndim < 2:
    raise ValueError(f"{name} has rank {u.ndim} (shape {tuple(u.shape)}); expected rank >= 2 (..., H, W)")
  if not jnp.issubdtype(u.dtype, jnp.floating):
    u = u.astype(jnp.result_type(float))
  return u


def _axis(u, axis) -> int:
  """Normalises axis ("x", "y", -1, -2 or the matching positive index) to -1 (x) or -2 (y)."""
  axis = _AXIS_NAMES.get(axis, axis)
  if axis in (u.ndim - 1, u.ndim - 2):
    axis -= u.ndim
  if axis not in (-1, -2):
    raise ValueError(f"axis={axis!r} is invalid; expected 'x' / -1 (columns) or 'y' / -2 (rows)")
  return axis


@_jit('bc', 'width')
def pad(u, bc: str = "neumann", width: int = 1) -> jax.Array:
  """Pads the last two axes by `width` pixels per side: (..., H, W) -> (..., H+2w, W+2w)."""
  check_bc(bc)
  u = as_image(u)
  widths = [(0, 0)] * (u.ndim - 2) + [(width, width)] * 2
  return jnp.pad(u, widths, mode=_PAD_MODE[bc])


def _slice(u, axis, start, stop):
  return jax.lax.slice_in_dim(u, start, stop, axis=u.ndim + axis)


def _pad_axis(u, ax, before, after, mode):
  widths = [(0, 0)] * u.ndim
  widths[u.ndim + ax] = (before, after)
  return jnp.pad(u, widths, mode=mode)


@_jit('axis', 'bc', 'h')
def forward_diff(u, axis="x", bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """Forward difference (u_{i+1} - u_i) / h along axis, same shape as u.

  At the far border u_{n} is u_{n-1} ("neumann", so the difference is 0), 0 ("dirichlet") or
  u_0 ("periodic").
  """
  check_bc(bc)
  u = as_image(u)
  ax = _axis(u, axis)
  mode = {"neumann": "edge", "dirichlet": "constant", "periodic": "wrap"}[bc]
  nxt = _slice(_pad_axis(u, ax, 0, 1, mode), ax, 1, None)
  return (nxt - u) * (1.0 / h)


@_jit('axis', 'bc', 'h')
def backward_diff(p, axis="x", bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """Backward difference (p_i - p_{i-1}) / h along axis, defined as minus the adjoint of forward_diff.

  "periodic": p_{-1} = p_{n-1}. "dirichlet": p_{-1} = 0. "neumann": p_{-1} = 0 and p_{n-1} is
  treated as 0 (the last forward difference is identically zero under Neumann).
  """
  check_bc(bc)
  p = as_image(p)
  ax = _axis(p, axis)
  if bc == "periodic":
    return (p - _slice(_pad_axis(p, ax, 1, 0, "wrap"), ax, 0, -1)) * (1.0 / h)
  if bc == "neumann":  # zero the last entry in place: measured ~3x faster on XLA:CPU than slice + pad
    last = [slice(None)] * p.ndim
    last[p.ndim + ax] = -1
    p = p.at[tuple(last)].set(0.0)
  prev = _pad_axis(_slice(p, ax, 0, -1), ax, 1, 0, "constant")
  return (p - prev) * (1.0 / h)


@_jit('bc', 'h')
def gradient(u, bc: str = "neumann", h: float = 1.0) -> tuple[jax.Array, jax.Array]:
  """Forward-difference gradient: (..., H, W) -> (u_x, u_y), each (..., H, W), intensity / length."""
  return forward_diff(u, "x", bc, h), forward_diff(u, "y", bc, h)


@_jit('bc', 'h')
def divergence(p_x, p_y, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """Backward-difference divergence of the field (p_x, p_y), each (..., H, W).

  It is the negative adjoint of `gradient`: sum(gradient(u) . p) == -sum(u * divergence(p)).
  """
  return backward_diff(p_x, "x", bc, h) + backward_diff(p_y, "y", bc, h)


@_jit('bc', 'h')
def laplacian(u, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """5-point Laplacian (u_E + u_W + u_N + u_S - 4 u) / h^2, (..., H, W) -> (..., H, W).

  Under "neumann" and "periodic" it equals divergence(gradient(u)); under "dirichlet" it is the
  symmetric zero-outside stencil (divergence(gradient(u)) instead treats the near border as zero flux).
  """
  P = pad(u, bc)
  c = P[..., 1:-1, 1:-1]
  return (P[..., 1:-1, 2:] + P[..., 1:-1, :-2] + P[..., 2:, 1:-1] + P[..., :-2, 1:-1] - 4.0 * c) * (1.0 / h**2)


@_jit('bc', 'h')
def biharmonic(u, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """Biharmonic laplacian(laplacian(u)) (13-point stencil), intensity / length^4.

  The bc applies to u and to laplacian(u) ("neumann": zero normal derivative of both; "dirichlet":
  u = laplacian(u) = 0 outside, the simply supported plate). Its spectral radius is 64 / h^4.
  """
  return laplacian(laplacian(u, bc, h), bc, h)


@_jit('bc', 'h')
def central_gradient(u, bc: str = "neumann", h: float = 1.0) -> tuple[jax.Array, jax.Array]:
  """Central-difference gradient (u_{i+1} - u_{i-1}) / 2h: (..., H, W) -> (u_x, u_y)."""
  P = pad(u, bc)
  return (P[..., 1:-1, 2:] - P[..., 1:-1, :-2]) * (0.5 / h), (P[..., 2:, 1:-1] - P[..., :-2, 1:-1]) * (0.5 / h)


@_jit('bc', 'h', 'scheme')
def gradient_magnitude(u, bc: str = "neumann", h: float = 1.0, eps: float = 0.0,
                       scheme: str = "forward") -> jax.Array:
  """sqrt(u_x^2 + u_y^2 + eps^2), (..., H, W), with forward (default) or central differences.

  Use eps > 0 where you need gradients of it at flat pixels (sqrt is not differentiable at 0).
  """
  if scheme not in ("forward", "central"):
    raise ValueError(f"unknown scheme {scheme!r}; valid: central, forward")
  ux, uy = gradient(u, bc, h) if scheme == "forward" else central_gradient(u, bc, h)
  return jnp.sqrt(ux**2 + uy**2 + eps**2)


@_jit('bc', 'h')
def total_variation(u, eps: float = 0.0, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """Sum over pixels of sqrt(|gradient u|^2 + eps^2) (forward differences): (..., H, W) -> (...).

  With eps > 0 this is the smoothed TV energy whose exact negative gradient is the "tv" prior.
  """
  return jnp.sum(gradient_magnitude(u, bc, h, eps), axis=(-2, -1))


@_jit('bc', 'h')
def edge_gradients(u, bc: str = "neumann", h: float = 1.0):
  """Second-order gradient at edge midpoints.

  Returns ((u_x, u_y) on the x-edges (i, j + 1/2), each (..., H, W+1), and (u_x, u_y) on the
  y-edges (i + 1/2, j), each (..., H+1, W)); edge 0 lies between the outer padding and the first
  pixel. The normal derivative is a two-point difference, the tangential one the mean of the
  central differences at the two pixels the edge joins.
  """
  P = pad(u, bc)
  ux_xe = (P[..., 1:-1, 1:] - P[..., 1:-1, :-1]) * (1.0 / h)
  cy = (P[..., 2:, :] - P[..., :-2, :]) * (0.5 / h)
  uy_xe = 0.5 * (cy[..., 1:] + cy[..., :-1])
  uy_ye = (P[..., 1:, 1:-1] - P[..., :-1, 1:-1]) * (1.0 / h)
  cx = (P[..., :, 2:] - P[..., :, :-2]) * (0.5 / h)
  ux_ye = 0.5 * (cx[..., 1:, :] + cx[..., :-1, :])
  return (ux_xe, uy_xe), (ux_ye, uy_ye)


@_jit('bc')
def nodes_to_edges(c, bc: str = "neumann"):
  """Mean of a node field c (..., H, W) over each edge: ((..., H, W+1), (..., H+1, W)).

  Outside the image c is continued by its border value (wrapped under "periodic").
  """
  check_bc(bc)
  c = as_image(c)
  widths = [(0, 0)] * (c.ndim - 2) + [(1, 1)] * 2
  C = jnp.pad(c, widths, mode="wrap" if bc == "periodic" else "edge")
  return 0.5 * (C[..., 1:-1, 1:] + C[..., 1:-1, :-1]), 0.5 * (C[..., 1:, 1:-1] + C[..., :-1, 1:-1])


@_jit('bc', 'h')
def flux_divergence(f_x, f_y, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """Divergence of edge fluxes f_x (..., H, W+1) and f_y (..., H+1, W) -> (..., H, W).

  Under "neumann" the fluxes through the image border are set to zero (no flux), so the sum of the
  result over the image is exactly zero; under "periodic" the two border fluxes coincide.
  """
  check_bc(bc)
  if bc == "neumann":
    zero = [(0, 0)] * (f_x.ndim - 2)
    f_x = jnp.pad(f_x[..., 1:-1], zero + [(0, 0), (1, 1)])
    f_y = jnp.pad(f_y[..., 1:-1, :], zero + [(1, 1), (0, 0)])
  return (f_x[..., 1:] - f_x[..., :-1] + f_y[..., 1:, :] - f_y[..., :-1, :]) * (1.0 / h)


def nonlinear_diffusion(u, conductance: Callable, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """div(c(|grad u|^2) grad u) on the edge-midpoint scheme, (..., H, W) -> (..., H, W).

  conductance maps the squared gradient magnitude at an edge (intensity^2 / length^2) to a
  diffusivity; conductance = 1 gives the 5-point Laplacian exactly, for every bc.
  """
  (ux_x, uy_x), (ux_y, uy_y) = edge_gradients(u, bc, h)
  return flux_divergence(conductance(ux_x**2 + uy_x**2) * ux_x,
                         conductance(ux_y**2 + uy_y**2) * uy_y, bc, h)


@_jit('bc', 'h')
def node_diffusion(u, c, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """div(c grad u) for a diffusivity field c (..., H, W) given at the pixels (averaged onto edges)."""
  (ux_x, _), (_, uy_y) = edge_gradients(u, bc, h)
  c_x, c_y = nodes_to_edges(c, bc)
  return flux_divergence(c_x * ux_x, c_y * uy_y, bc, h)


@_jit('bc', 'h')
def tensor_diffusion(u, a, b, c, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """div(D grad u) with D = [[a, b], [b, c]] given per pixel (each (..., H, W)).

  Standard second-order discretisation: D is averaged onto the edges and the flux through an x-edge
  is a u_x + b u_y with both derivatives taken at that edge (likewise for y-edges).
  """
  (ux_x, uy_x), (ux_y, uy_y) = edge_gradients(u, bc, h)
  a_x, _ = nodes_to_edges(a, bc)
  b_x, b_y = nodes_to_edges(b, bc)
  _, c_y = nodes_to_edges(c, bc)
  return flux_divergence(a_x * ux_x + b_x * uy_x, b_y * ux_y + c_y * uy_y, bc, h)


@_jit('bc', 'h')
def curvature(u, eps: float = 1e-2, bc: str = "neumann", h: float = 1.0) -> jax.Array:
  """Level-line curvature div(grad u / sqrt(|grad u|^2 + eps^2)), (..., H, W), in 1 / length.

  eps (intensity / length) regularises flat regions. Edge-midpoint scheme (second order): the level
  lines of a radial image at radius r have curvature about 1/r (positive when u increases outward).
  """
  return nonlinear_diffusion(u, lambda s2: jax.lax.rsqrt(s2 + eps**2), bc, h)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0):
  """Normalised 1-D Gaussian taps (as in scipy.ndimage): a tuple of floats of length 2r+1."""
  radius = int(truncate * float(sigma) + 0.5)
  w = [math.exp(-0.5 * (k / sigma) ** 2) for k in range(-radius, radius + 1)]
  total = sum(w)
  return tuple(x / total for x in w)


@_jit('sigma', 'bc', 'truncate')
def gaussian_smooth(u, sigma: float, bc: str = "neumann", truncate: float = 4.0) -> jax.Array:
  """Separable Gaussian blur of the last two axes, sigma in pixels (a static Python float >= 0).

  Padding follows bc; "neumann" is scipy.ndimage's mode="reflect" (d c b a | a b c d), so the
  result matches scipy.ndimage.gaussian_filter(u, sigma, mode="reflect", truncate=truncate).
  """
  check_bc(bc)
  u = as_image(u)
  sigma = float(sigma)
  if sigma < 0 or not math.isfinite(sigma):
    raise ValueError(f"sigma={sigma!r} is invalid; expected a finite number >= 0 (pixels)")
  if sigma == 0.0:
    return u
  taps = gaussian_kernel1d(sigma, truncate)
  r = len(taps) // 2
  lead, (H, W) = u.shape[:-2], u.shape[-2:]
  P = jnp.pad(u.reshape((-1, 1, H, W)), [(0, 0), (0, 0), (r, r), (r, r)], mode=_PAD_MODE[bc])
  k = jnp.asarray(taps, u.dtype)
  for kernel in (k.reshape(1, 1, 1, -1), k.reshape(1, 1, -1, 1)):  # x then y, one convolution each
    P = jax.lax.conv_general_dilated(P, kernel, (1, 1), "VALID", precision=jax.lax.Precision.HIGHEST)
  return P.reshape(lead + (H, W))


def on_nhwc(fn: Callable) -> Callable:
  """Adapts fn on (..., H, W) arrays to (..., H, W, C) input: channels become a leading axis.

  Every output leaf of the input's rank is moved back to (..., H, W, C); other leaves (e.g. per-image
  scalars of shape (N, C)) are returned as they are.
  """

  @functools.wraps(fn)
  def wrapped(x, *args, **kwargs):
    x = jnp.asarray(x)
    if x.ndim < 3:
      raise ValueError(f"input has rank {x.ndim} (shape {tuple(x.shape)}); expected (..., H, W, C)")
    out = fn(jnp.moveaxis(x, -1, -3), *args, **kwargs)
    return jax.tree.map(lambda o: jnp.moveaxis(o, -3, -1) if jnp.ndim(o) == x.ndim else o, out)

  return wrapped
