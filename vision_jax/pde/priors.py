"""PDE priors: right-hand sides F(u) of u_t = F(u) on images (..., H, W), registered by name.

Each prior has two forms:
  * `rhs(u, *, bc="neumann", h=1.0, **params)`: the finite-difference F on the pixel grid
    (operators.py; edge-midpoint scheme, second order, except "tv" which uses the adjoint
    forward/backward pair so that it is the exact gradient of the discrete TV energy).
  * `field_rhs(u_xy, p, **params)`: the same F at one point p = (x, y) of a differentiable function
    u_xy: (2,) -> scalar, by exact automatic differentiation (used by residuals.autodiff_residual).

Intensities are on the [0, 1] scale and lengths in pixels (h = 1), so every contrast parameter K of
a gradient is in intensity per pixel (K = 0.05 is about 13/255 per pixel).

Explicit-Euler stability limits (unit spacing; with spacing h multiply by h^order). For u_t = A u
with A symmetric negative semi-definite, u + dt A u is stable iff dt <= 2 / rho(A). The 5-point
Laplacian has rho = 8 (Gershgorin: |-4| + 4 * 1), and a diffusion div(g grad u) with 0 <= g <= 1 on
every edge has rho <= 8, hence dt <= 1/4 (this is also the maximum-principle limit: the centre weight
1 - dt * sum(g) stays >= 0). The biharmonic is the square of the Laplacian, rho = 8^2 = 64, hence
dt <= 2/64 = 1/32. For "zg", rho <= 8 lambda1 + 64 lambda2, so dt <= 2 / (8 lambda1 + 64 lambda2)
= 1 / (4 lambda1 + 32 lambda2). For "tv", the Hessian of sqrt(|p|^2 + eps^2) is bounded by 1/eps and
||gradient||^2 = 8, so rho <= 8/eps and dt <= eps/4 (which also guarantees that the TV energy
decreases). The nonlinear priors are bounded with their coefficients frozen, the usual practice.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
from types import MappingProxyType
from typing import Callable, Mapping

import jax
import jax.numpy as jnp

from vision_jax.pde import operators as ops

EDGE_STOPPING = ("exponential", "rational")
WEICKERT_C4 = 3.31488  # C_m for m = 4: the flux s * lambda1(s) peaks at s = K (Weickert 1998, p. 111)


# ----------------------------------------------------------------------------- diffusivities
def edge_stopping(s2, K, kind: str = "exponential"):
  """Perona-Malik diffusivity of a squared magnitude s2 = s^2 (any shape), values in (0, 1].

  "exponential": exp(-(s/K)^2); "rational": 1 / (1 + (s/K)^2). K has the units of s.
  """
  if kind not in EDGE_STOPPING:
    raise ValueError(f"unknown edge-stopping function g={kind!r}; valid: {', '.join(EDGE_STOPPING)}")
  r = s2 * (1.0 / K**2)  # one scalar reciprocal, then multiplies (K may be traced)
  return jnp.exp(-r) if kind == "exponential" else 1.0 / (1.0 + r)


def weickert_diffusivity(s2, K, m=4.0, C=WEICKERT_C4):
  """Edge-enhancing diffusivity 1 - exp(-C / (s^2/K^2)^m) of s2 = s^2, and 1 at s = 0; in [0, 1].

  Weickert's convention: m is the power of s^2 (so s/K enters to the power 2m = 8), and C_4 = 3.31488
  makes the flux s * lambda1(s) increase for s < K and decrease for s > K (edges steeper than K are
  enhanced). Written so that it and its derivatives stay finite (no NaN under grad) at s = 0.
  """
  pos = s2 > 0
  if isinstance(m, (int, float)) and float(m).is_integer():
    m = int(m)  # integer_pow: multiplications instead of exp(m log x)
  r = jnp.where(pos, jnp.where(pos, s2, 1.0) * (1.0 / K**2), 0.0) ** m
  big = r > 1e-15
  return jnp.where(big, 1.0 - jnp.exp(-C / jnp.where(big, r, 1.0)), 1.0)


# ----------------------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True, eq=False)
class Prior:
  """A PDE prior u_t = F(u).

  name: registry key. rhs: grid F, rhs(u, *, bc, h, **params) -> array like u. defaults: the
  parameter names and default values (read-only). stability_limit: params -> largest stable explicit
  Euler dt at unit spacing. order: order of the stability-determining term (dt scales as h^order).
  doc: one line. field_rhs: pointwise autodiff F (see module doc) or None. static_params: names that
  must be static under jit (strings, Gaussian widths).
  """
  name: str
  rhs: Callable
  defaults: Mapping
  stability_limit: Callable[[Mapping], float]
  order: int
  doc: str
  field_rhs: Callable | None = None
  static_params: tuple = ()

  def __post_init__(self):
    object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

  def resolve_params(self, params: Mapping) -> dict:
    """Defaults updated by params; ValueError on an unknown name or an invalid concrete value."""
    unknown = sorted(set(params) - set(self.defaults))
    if unknown:
      valid = ", ".join(sorted(self.defaults)) or "(none)"
      raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for prior '{self.name}'; valid: {valid}")
    out = {**self.defaults, **params}
    for k, v in out.items():
      if k in self.static_params and isinstance(v, numbers.Number):
        out[k] = float(v)
      _check_value(self.name, k, out[k])
    return out

  def split_params(self, params: Mapping):
    """(static, dynamic): a sorted tuple of (name, value) for static_params and a dict of the rest."""
    static = tuple(sorted((k, v) for k, v in params.items() if k in self.static_params))
    return static, {k: v for k, v in params.items() if k not in self.static_params}

  def __call__(self, u, *, bc: str = "neumann", h: float = 1.0, **params):
    """F(u) on the grid (jitted) with parameters validated against `defaults`."""
    ops.check_bc(bc)
    static, dynamic = self.split_params(self.resolve_params(params))
    return _apply_rhs(ops.as_image(u), dynamic, prior=self, bc=bc, h=float(h), static=static)


@functools.partial(jax.jit, static_argnames=("prior", "bc", "h", "static"))
def _apply_rhs(u, dynamic, *, prior, bc, h, static):
  return prior.rhs(u, bc=bc, h=h, **dynamic, **dict(static))


_POSITIVE = ("K", "eps")
_NONNEGATIVE = ("lambda1", "lambda2", "sigma", "rho", "m", "C")


def _check_value(prior, key, value):
  if key == "g" and value not in EDGE_STOPPING:
    raise ValueError(f"unknown edge-stopping function g={value!r} for prior '{prior}'; "
                     f"valid: {', '.join(EDGE_STOPPING)}")
  try:
    v = float(value)
  except Exception:  # a tracer or a string: nothing to check here
    return
  if key in _POSITIVE and not v > 0:
    raise ValueError(f"{key}={value!r} for prior '{prior}' is invalid; expected > 0")
  if key in _NONNEGATIVE and not (v >= 0 and math.isfinite(v)):
    raise ValueError(f"{key}={value!r} for prior '{prior}' is invalid; expected a finite number >= 0")


def _keyword_defaults(fn) -> dict:
  skip = ("bc", "h")
  return {n: p.default for n, p in inspect.signature(fn).parameters.items()
          if p.kind is p.KEYWORD_ONLY and n not in skip}


PRIORS: dict[str, Prior] = {}


def register(name, *, field_rhs, stability_limit, order, doc, static_params=()):
  """Decorator adding a grid rhs to PRIORS; its keyword-only defaults become Prior.defaults."""
  def deco(fn):
    PRIORS[name] = Prior(name, fn, _keyword_defaults(fn), stability_limit, order, doc, field_rhs,
                         tuple(static_params))
    return fn
  return deco


def get_prior(name) -> Prior:
  """The Prior registered under name (a Prior passes through); ValueError lists valid names."""
  if isinstance(name, Prior):
    return name
  if name not in PRIORS:
    raise ValueError(f"unknown prior {name!r}; valid: {', '.join(sorted(PRIORS))}")
  return PRIORS[name]


# ----------------------------------------------------------------------------- autodiff helpers
def _grad(u_xy, p):
  return jax.grad(u_xy)(p)


def _div(flux, p):
  """Exact divergence of a vector field flux: (2,) -> (2,) at p."""
  return jnp.trace(jax.jacfwd(flux)(p))


def _lap(u_xy, p):
  return jnp.trace(jax.hessian(u_xy)(p))


def _field_curvature(u_xy, p, eps):
  def normal(q):
    gq = _grad(u_xy, q)
    return gq * jax.lax.rsqrt(jnp.sum(gq**2) + eps**2)
  return _div(normal, p)


def _const(value):
  return lambda params: value


# ----------------------------------------------------------------------------- priors
def _heat_field(u_xy, p):
  return _lap(u_xy, p)


@register("heat", field_rhs=_heat_field, stability_limit=_const(0.25), order=2,
          doc="linear heat equation u_t = Laplacian(u) (Gaussian scale space, t = sigma^2 / 2)")
def heat_rhs(u, *, bc="neumann", h=1.0):
  """Laplacian(u) (5-point), (..., H, W) -> (..., H, W)."""
  return ops.laplacian(u, bc, h)


def _pm_field(u_xy, p, *, K, g):
  def flux(q):
    gq = _grad(u_xy, q)
    return edge_stopping(jnp.sum(gq**2), K, g) * gq
  return _div(flux, p)


@register("perona_malik", field_rhs=_pm_field, stability_limit=_const(0.25), order=2,
          static_params=("g",), doc="Perona-Malik u_t = div(g(|grad u|) grad u)")
def perona_malik_rhs(u, *, bc="neumann", h=1.0, K=0.05, g="exponential"):
  """div(g(|grad u|) grad u) with g = edge_stopping(., K, g); K in intensity / pixel ([0, 1] scale).

  g is evaluated at each edge midpoint from the second-order edge gradient (not the 1990 paper's
  one-sided |u_E - u| only), so the scheme converges to the isotropic-magnitude PDE.
  """
  return ops.nonlinear_diffusion(u, lambda s2: edge_stopping(s2, K, g), bc, h)


def _mpmc_field(u_xy, p, *, K, g, eps):
  def flux(q):
    kappa = _field_curvature(u_xy, q, eps)
    return edge_stopping(kappa**2, K, g) * _grad(u_xy, q)
  return _div(flux, p)


@register("mpmc", field_rhs=_mpmc_field, stability_limit=_const(0.25), order=2,
          static_params=("g",), doc="curvature Perona-Malik u_t = div(g(|kappa|) grad u), seed Eq. 1")
def mpmc_rhs(u, *, bc="neumann", h=1.0, K=0.5, g="rational", eps=0.01):
  """div(g(|kappa|) grad u), kappa = div(grad u / sqrt(|grad u|^2 + eps^2)) the level-line curvature.

  K is a curvature in 1 / pixel: a level line of radius r pixels has |kappa| = 1/r, so with K = 0.5
  contours of radius >= 2 px diffuse at more than half rate (rational g), while the tightly curled
  level lines of pixel noise and corners (|kappa| ~ 1) are slowed. eps (intensity / pixel) keeps kappa
  finite in flat regions. The diffusivity is computed at the pixels and averaged onto the edges.
  """
  kappa = ops.curvature(u, eps, bc, h)
  return ops.node_diffusion(u, edge_stopping(kappa**2, K, g), bc, h)


def _zg_limit(params):
  rho = 8.0 * float(params["lambda1"]) + 64.0 * float(params["lambda2"])
  return math.inf if rho == 0 else 2.0 / rho


def _zg_field(u_xy, p, *, lambda1, lambda2, K, g):
  bih = jnp.trace(jax.hessian(lambda q: _lap(u_xy, q))(p))
  return lambda1 * _pm_field(u_xy, p, K=K, g=g) - lambda2 * bih


@register("zg", field_rhs=_zg_field, stability_limit=_zg_limit, order=4, static_params=("g",),
          doc="Zhichang Guo u_t = lambda1 div(g1(|grad u|) grad u) - lambda2 Biharmonic(u), seed Eq. 2")
def zg_rhs(u, *, bc="neumann", h=1.0, lambda1=1.0, lambda2=0.05, K=0.05, g="exponential"):
  """lambda1 * perona_malik_rhs(u, K, g) - lambda2 * biharmonic(u); K as in perona_malik."""
  out = -lambda2 * ops.biharmonic(u, bc, h)
  return out + lambda1 * perona_malik_rhs(u, bc=bc, h=h, K=K, g=g)


def _tensor_field(u_xy, p, *, K, sigma, rho, m, C):
  del sigma, rho  # continuous limit: D from grad u itself, see tensor_rhs
  def flux(q):
    gq = _grad(u_xy, q)
    return weickert_diffusivity(jnp.sum(gq**2), K, m, C) * gq
  return _div(flux, p)


def _principal_projector(j11, j12, j22):
  """v1 v1^T for the principal eigenvector v1 of the symmetric 2x2 field [[j11, j12], [j12, j22]]."""
  tr = j11 + j22
  dd = (j11 - j22) ** 2 + 4.0 * j12**2
  ok = dd > (1e-6 * tr) ** 2 + 1e-30
  disc = jnp.sqrt(jnp.where(ok, dd, 1.0))
  cos2 = jnp.where(ok, (j11 - j22) / disc, 0.0)
  sin2 = jnp.where(ok, 2.0 * j12 / disc, 0.0)
  return 0.5 * (1.0 + cos2), 0.5 * sin2, 0.5 * (1.0 - cos2)


@register("tensor", field_rhs=_tensor_field, stability_limit=_const(0.25), order=2,
          static_params=("sigma", "rho", "m"),
          doc="Weickert edge-enhancing diffusion u_t = div(D(J_rho(grad u_sigma)) grad u), seed Eq. 5")
def tensor_rhs(u, *, bc="neumann", h=1.0, K=0.05, sigma=1.0, rho=0.0, m=4.0, C=WEICKERT_C4):
  """div(D grad u), D = lambda1 v1 v1^T + v2 v2^T.

  u_sigma = Gaussian blur of u (sigma, length units; static); J_rho = Gaussian blur (rho) of
  grad u_sigma grad u_sigma^T (central differences); v1 = principal eigenvector of J_rho (across
  edges), v2 orthogonal (along edges); lambda1 = weickert_diffusivity(|grad u_sigma|^2, K, m, C)
  = 1 - exp(-C / (|grad u_sigma| / K)^(2m)), lambda2 = 1; K in intensity / pixel. rho = 0 is classic
  edge-enhancing diffusion (Weickert 1998). Discretised with operators.tensor_diffusion (D averaged
  onto edges, both derivatives at the edge). In the continuous autodiff form (sigma = rho = 0)
  D grad u reduces to lambda1(|grad u|) grad u, since grad u is then itself the eigenvector v1.
  """
  us = ops.gaussian_smooth(u, sigma / h, bc)
  gx, gy = ops.central_gradient(us, bc, h)
  j11, j12, j22 = (ops.gaussian_smooth(t, rho / h, bc) for t in (gx * gx, gx * gy, gy * gy))
  p11, p12, p22 = _principal_projector(j11, j12, j22)
  lam = weickert_diffusivity(gx**2 + gy**2, K, m, C) - 1.0
  return ops.tensor_diffusion(u, 1.0 + lam * p11, lam * p12, 1.0 + lam * p22, bc, h)


def _tv_field(u_xy, p, *, eps):
  return _field_curvature(u_xy, p, eps)


@register("tv", field_rhs=_tv_field, stability_limit=lambda params: float(params["eps"]) / 4.0, order=2,
          doc="total-variation flow u_t = div(grad u / sqrt(|grad u|^2 + eps^2))")
def tv_rhs(u, *, bc="neumann", h=1.0, eps=0.1):
  """-d/du of total_variation(u, eps): divergence(gradient u / sqrt(|gradient u|^2 + eps^2)).

  Forward gradient and its adjoint divergence (first order, but the exact gradient of the discrete
  energy, so explicit steps with dt <= eps/4 decrease it monotonically). eps in intensity / pixel.
  """
  ux, uy = ops.gradient(u, bc, h)
  n = jax.lax.rsqrt(ux**2 + uy**2 + eps**2)
  return ops.divergence(ux * n, uy * n, bc, h)
