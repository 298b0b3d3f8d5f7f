"""Fast explicit-Euler steps for the registered priors: ghost cells, masked edge differences, in-place buffers.

The reference solver (solvers.py with method="reference") re-pads the image every step
(jnp.pad mode="symmetric" lowers to concatenates: two full copies per step) and XLA:CPU emits the
fusions that read a pad or a concatenate in their minor (x) dimension as scalar code with a branch
per element. The profile of the reference (HLO in benchmarks/bench_pde.py) shows that, plus one more
full copy per step from the fusion result back into the loop buffer. This module removes all three:

  * Ghost layout. The state is an array (..., H + 2, W + 2) whose one-pixel ghost ring is zero
    ("neumann", "dirichlet") or wrapped ("periodic", refreshed after each step). Every stencil reads
    plain slices of it, which vectorise.
  * Masked edge differences. Under "neumann" the difference across a border edge is multiplied by a
    constant 0 (a 1-D mask), which is what the mirrored ghost of the reference scheme gives; the ghost
    values themselves are never used. Under "dirichlet" the zero ghosts are the boundary values.
    Every operator below is the same discretisation as operators.py (edge-midpoint scheme, TV's
    forward/backward pair), written with these differences, so results agree to float32 rounding.
  * In-place ping-pong. Two state buffers alternate (two steps per loop iteration) and each step
    writes only the interior of the other one (dynamic_update_slice, done in place by XLA), so no
    step copies a full image. Intermediates that are expensive to recompute (fluxes with exp, the
    curvature, the Laplacian of zg, the tensor coefficients) are written in place into scratch
    buffers carried by the loop: XLA would otherwise fuse them into every consumer and recompute
    them per neighbour (on CPU, XLA drops lax.optimization_barrier before fusion, so carried buffers
    are the way to materialise).

All parameters (K, dt, eps, lambda1, ...) stay traced, so jax.grad / jax.jvp / jax.vmap work through
the solver as before. Grid spacing h = 1 (the solver's convention); fast_rhs takes h for tests.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.pde import operators as ops
from vision_jax.pde.priors import _principal_projector, edge_stopping, weickert_diffusivity


class Grid(NamedTuple):
  """Static geometry of a ghosted array (..., H + 2, W + 2): interior size, bc, spacing, masks.

  mx (W + 1,) / my (H + 1,) multiply the differences across the W + 1 x-edges / H + 1 y-edges of
  the interior (edge 0 lies between the ghost column and the first pixel); None when no edge is
  masked (dirichlet, periodic).
  """
  H: int
  W: int
  bc: str
  h: float
  mx: np.ndarray | None
  my: np.ndarray | None


def make_grid(H: int, W: int, bc: str, h: float = 1.0) -> Grid:
  """The Grid of an (H, W) image; under "neumann" the two border edges of each axis are masked."""
  ops.check_bc(bc)
  if bc != "neumann":
    return Grid(H, W, bc, float(h), None, None)
  def mask(n):
    m = np.ones(n + 1, np.float32)
    m[0] = m[-1] = 0.0
    return m
  return Grid(H, W, bc, float(h), mask(W), mask(H))


# ----------------------------------------------------------------------------- ghost layout
def to_ghost(u, bc: str) -> jax.Array:
  """(..., H, W) -> (..., H + 2, W + 2): zero ghosts, or wrapped ones under "periodic"."""
  widths = [(0, 0)] * (u.ndim - 2) + [(1, 1)] * 2
  return jnp.pad(u, widths, mode="wrap") if bc == "periodic" else jnp.pad(u, widths)


def interior(P) -> jax.Array:
  """The (..., H, W) interior of a ghosted array."""
  return P[..., 1:-1, 1:-1]


def _put(buf, value, row: int, col: int) -> jax.Array:
  """buf with value written at (row, col) of its last two axes (in place under jit)."""
  start = (0,) * (buf.ndim - 2) + (row, col)
  return jax.lax.dynamic_update_slice(buf, value.astype(buf.dtype), start)


def refresh(P, mode: str | None) -> jax.Array:
  """Fills the ghost ring of P from its interior: "wrap" (periodic), "edge" (replicate) or None.

  Columns first (interior rows), then rows over the full width, so the corners are right too.
  """
  if mode is None:
    return P
  H, W = P.shape[-2] - 2, P.shape[-1] - 2
  if mode == "wrap":
    src = (W, 1, H, 1)  # ghost col 0 <- col W, col W+1 <- col 1, row 0 <- row H, row H+1 <- row 1
  elif mode == "edge":
    src = (1, W, 1, H)
  else:
    raise ValueError(f"unknown ghost refresh mode {mode!r}; valid: edge, wrap")
  P = _put(P, P[..., 1:H + 1, src[0]:src[0] + 1], 1, 0)
  P = _put(P, P[..., 1:H + 1, src[1]:src[1] + 1], 1, W + 1)
  P = _put(P, P[..., src[2]:src[2] + 1, :], 0, 0)
  return _put(P, P[..., src[3]:src[3] + 1, :], H + 1, 0)


def _ghost_refresh_mode(bc: str, state: bool) -> str | None:
  """Ghost rule of the state (state=True) or of a node field averaged onto edges (state=False)."""
  if bc == "periodic":
    return "wrap"
  return None if (state or bc == "neumann") else "edge"


class Scratch:
  """Buffers for materialised intermediates, carried through the solver loop.

  keep(name, value) writes value in place into its buffer and returns the stored copy, so XLA reads
  it instead of recomputing it inside each consumer. A Scratch without buffers (record mode) only
  records the shapes (what the solver allocates before the loop) and returns values unchanged.
  """

  def __init__(self, buffers: dict | None = None):
    self.record = buffers is None
    self.buffers = {} if buffers is None else dict(buffers)
    self.specs = {}

  def keep(self, name: str, value):
    """Plain intermediate (..., r, c): stored in a (..., r, c + 1) buffer (a partial, in-place write)."""
    if self.record:
      self.specs[name] = (value.shape[:-1] + (value.shape[-1] + 1,), value.dtype)
      return value
    self.buffers[name] = _put(self.buffers[name], value, 0, 0)
    return self.buffers[name][..., :value.shape[-1]]

  def keep_ghosted(self, name: str, value, mode: str | None):
    """Node field (..., H, W) stored as a ghosted (..., H + 2, W + 2) array, ghosts by `mode`."""
    if self.record:
      self.specs[name] = (value.shape[:-2] + (value.shape[-2] + 2, value.shape[-1] + 2), value.dtype)
      return refresh(to_ghost(value, "dirichlet"), mode)
    self.buffers[name] = refresh(_put(self.buffers[name], value, 1, 1), mode)
    return self.buffers[name]

  def allocate(self, like) -> dict:
    """Zero buffers of the recorded shapes, typed like `like` (inside shard_map: varying over its axes)."""
    return {k: jax.lax.full_like(like, 0, dtype, shape) for k, (shape, dtype) in self.specs.items()}


# ----------------------------------------------------------------------------- masked differences
def _dx(P, g: Grid, rows: slice):
  """Differences across the W + 1 x-edges adjacent to the interior, for the given rows: (..., r, W + 1)."""
  d = (P[..., rows, 1:] - P[..., rows, :-1]) * (1.0 / g.h)
  return d if g.mx is None else d * jnp.asarray(g.mx, d.dtype)


def _dy(P, g: Grid, cols: slice):
  """Differences across the H + 1 y-edges, for the given columns: (..., H + 1, c)."""
  d = (P[..., 1:, cols] - P[..., :-1, cols]) * (1.0 / g.h)
  return d if g.my is None else d * jnp.asarray(g.my[:, None], d.dtype)


def edge_gradients(P, g: Grid, s: Scratch | None = None):
  """operators.edge_gradients on a ghosted state: ((u_x, u_y) on x-edges (H, W+1), (u_x, u_y) on y-edges (H+1, W)).

  The tangential derivative at an edge is the mean of the central differences at its two pixels;
  a central difference is the mean of the two masked edge differences around the pixel (under
  "neumann" this equals the reference's difference against the mirrored ghost). With a Scratch the
  central differences are stored once (each is read by 4 edges; measured 22 % less CPU per
  Perona-Malik step than recomputing them inside the flux fusions).
  """
  H, W = g.H, g.W
  dy = _dy(P, g, slice(0, W + 2))                             # (H + 1, W + 2)
  cy = 0.5 * (dy[..., 1:, :] + dy[..., :-1, :])               # (H, W + 2), central y-difference at pixels
  dx = _dx(P, g, slice(0, H + 2))                             # (H + 2, W + 1)
  cx = 0.5 * (dx[..., 1:] + dx[..., :-1])                     # (H + 2, W)
  if s is not None:
    cy, cx = s.keep("cy", cy), s.keep("cx", cx)
  ux, vy = normal_differences(P, g)
  uy = 0.5 * (cy[..., :-1] + cy[..., 1:])                     # (H, W + 1)
  vx = 0.5 * (cx[..., :-1, :] + cx[..., 1:, :])               # (H + 1, W)
  return (ux, uy), (vx, vy)


def normal_differences(P, g: Grid):
  """The normal derivatives alone: u_x on the x-edges (H, W+1), u_y on the y-edges (H+1, W)."""
  return _dx(P, g, slice(1, g.H + 1)), _dy(P, g, slice(1, g.W + 1))


def flux_divergence(fx, fy, g: Grid, zero_border: bool = True):
  """operators.flux_divergence: (..., H, W+1), (..., H+1, W) -> (..., H, W); "neumann" zeroes border fluxes.

  zero_border=False skips that multiply where the border fluxes are exactly 0 already (a flux that is a
  finite factor times the masked normal difference).
  """
  if g.mx is not None and zero_border:
    fx, fy = fx * jnp.asarray(g.mx, fx.dtype), fy * jnp.asarray(g.my[:, None], fy.dtype)
  return (fx[..., 1:] - fx[..., :-1] + fy[..., 1:, :] - fy[..., :-1, :]) * (1.0 / g.h)


def laplacian(P, g: Grid):
  """5-point Laplacian of the interior (operators.laplacian, every bc)."""
  H, W = g.H, g.W
  dx = _dx(P, g, slice(1, H + 1))
  dy = _dy(P, g, slice(1, W + 1))
  return (dx[..., 1:] - dx[..., :-1] + dy[..., 1:, :] - dy[..., :-1, :]) * (1.0 / g.h)


def _edges_of(C, H: int, W: int):
  """Mean of a ghosted node field onto the x-edges (H, W+1) and y-edges (H+1, W) (operators.nodes_to_edges)."""
  cx = 0.5 * (C[..., 1:H + 1, :-1] + C[..., 1:H + 1, 1:])
  cy = 0.5 * (C[..., :-1, 1:W + 1] + C[..., 1:, 1:W + 1])
  return cx, cy


# ----------------------------------------------------------------------------- priors
def _heat(P, g, s):
  return laplacian(P, g)


def _perona_malik(P, g, s, *, K, g_kind="exponential"):
  (ux, uy), (vx, vy) = edge_gradients(P, g, s)
  fx = s.keep("fx", edge_stopping(ux * ux + uy * uy, K, g_kind) * ux)
  fy = s.keep("fy", edge_stopping(vx * vx + vy * vy, K, g_kind) * vy)
  return flux_divergence(fx, fy, g, zero_border=False)


def _curvature(P, g, s, eps):
  (ux, uy), (vx, vy) = edge_gradients(P, g, s)
  e2 = eps**2
  return flux_divergence(ux * jax.lax.rsqrt(ux * ux + uy * uy + e2), vy * jax.lax.rsqrt(vx * vx + vy * vy + e2), g,
                         zero_border=False)


def _mpmc(P, g, s, *, K, g_kind="rational", eps=0.01):
  kappa = _curvature(P, g, s, eps)
  C = s.keep_ghosted("c", edge_stopping(kappa * kappa, K, g_kind), _ghost_refresh_mode(g.bc, False))
  cx, cy = _edges_of(C, g.H, g.W)
  ux, vy = normal_differences(P, g)
  return flux_divergence(cx * ux, cy * vy, g, zero_border=False)


def _zg(P, g, s, *, lambda1=1.0, lambda2=0.05, K=0.05, g_kind="exponential"):
  L = s.keep_ghosted("lap", laplacian(P, g), _ghost_refresh_mode(g.bc, True))
  return -lambda2 * laplacian(L, g) + lambda1 * _perona_malik(P, g, s, K=K, g_kind=g_kind)


def _tensor(P, g, s, *, K=0.05, sigma=1.0, rho=0.0, m=4.0, C=3.31488):
  u = interior(P)
  us = ops.gaussian_smooth(u, sigma / g.h, g.bc)
  gx, gy = ops.central_gradient(us, g.bc, g.h)
  j11, j12, j22 = (ops.gaussian_smooth(t, rho / g.h, g.bc) for t in (gx * gx, gx * gy, gy * gy))
  p11, p12, p22 = _principal_projector(j11, j12, j22)
  lam = weickert_diffusivity(gx**2 + gy**2, K, m, C) - 1.0
  mode = _ghost_refresh_mode(g.bc, False)
  A = s.keep_ghosted("a", 1.0 + lam * p11, mode)
  B = s.keep_ghosted("b", lam * p12, mode)
  D = s.keep_ghosted("d", 1.0 + lam * p22, mode)
  (ux, uy), (vx, vy) = edge_gradients(P, g, s)
  a_x, _ = _edges_of(A, g.H, g.W)
  b_x, b_y = _edges_of(B, g.H, g.W)
  _, d_y = _edges_of(D, g.H, g.W)
  return flux_divergence(a_x * ux + b_x * uy, b_y * vx + d_y * vy, g)


def _tv(P, g, s, *, eps=0.1):
  """divergence(gradient u / sqrt(|gradient u|^2 + eps^2)): forward differences at the pixels, backward divergence.

  p = (p_x, p_y) is needed at the interior pixels and at the ghost column / row before them (the
  backward difference's p_{-1}): zero under "neumann" (masked difference) and "dirichlet" (masked
  below), the wrapped value under "periodic".
  """
  H, W = g.H, g.W
  ux = _dx(P, g, slice(1, H + 1))[..., :W + 1]                # forward x-difference at cols -1..W-1, (H, W + 1)
  uy_x = _dy(P, g, slice(0, W + 1))[..., 1:H + 1, :]          # forward y-difference at those pixels
  px = ux * jax.lax.rsqrt(ux * ux + uy_x * uy_x + eps**2)
  uy = _dy(P, g, slice(1, W + 1))[..., :H + 1, :]             # forward y-difference at rows -1..H-1, (H + 1, W)
  ux_y = _dx(P, g, slice(0, H + 1))[..., 1:W + 1]
  py = uy * jax.lax.rsqrt(ux_y * ux_y + uy * uy + eps**2)
  if g.bc == "dirichlet":  # p_{-1} = 0
    px = px * np.concatenate([[0.0], np.ones(W, np.float32)]).astype(px.dtype)
    py = py * np.concatenate([[0.0], np.ones(H, np.float32)])[:, None].astype(py.dtype)
  px, py = s.keep("px", px), s.keep("py", py)
  return (px[..., 1:] - px[..., :-1] + py[..., 1:, :] - py[..., :-1, :]) * (1.0 / g.h)


# name -> (fast rhs, {prior parameter name: keyword of the fast rhs})
FAST_RHS: dict[str, tuple[Callable, dict]] = {
  "heat": (_heat, {}),
  "perona_malik": (_perona_malik, {"g": "g_kind"}),
  "mpmc": (_mpmc, {"g": "g_kind"}),
  "zg": (_zg, {"g": "g_kind"}),
  "tensor": (_tensor, {}),
  "tv": (_tv, {}),
}


def _call(name: str, P, g: Grid, s: Scratch, params: dict):
  fn, rename = FAST_RHS[name]
  return fn(P, g, s, **{rename.get(k, k): v for k, v in params.items()})


def fast_rhs(u, name: str, *, bc: str = "neumann", h: float = 1.0, **params) -> jax.Array:
  """F(u) of a registered prior computed the fast way, (..., H, W) -> (..., H, W); for tests and checks.

  params must be complete (Prior.resolve_params); it equals PRIORS[name](u, bc=bc, h=h, **params)
  to float32 rounding.
  """
  u = ops.as_image(u)
  g = make_grid(u.shape[-2], u.shape[-1], bc, h)
  return _call(name, to_ghost(u, bc), g, Scratch(), params)


# ----------------------------------------------------------------------------- solver
# Per-image evolution of a batch pays once the batch no longer fits the caches together with the
# solver's scratch buffers (about 6 arrays of the batch's size): images of at least this many pixels,
# batches of more pixels than PER_IMAGE_MIN_BATCH_PIXELS.
PER_IMAGE_MIN_PIXELS = 128 * 128
PER_IMAGE_MIN_BATCH_PIXELS = 2 * 256 * 256
BATCH_MODES = ("auto", "joint", "per_image")
# The priors whose step keeps scratch buffers (tests check this against Scratch's record): only they
# gain from per-image loops. Heat's step is one fusion; there the joint loop was faster (bench_pde,
# 16 x 256^2, idle 2-core EPYC: joint 3036 vs per-image 2502 Mpix-it/s; PM 379 vs 516, zg 263 vs 428).
SCRATCH_PRIORS = frozenset({"perona_malik", "mpmc", "zg", "tensor", "tv"})


def check_batch(batch: str) -> None:
  """ValueError unless batch is one of BATCH_MODES."""
  if batch not in BATCH_MODES:
    raise ValueError(f"batch={batch!r} is invalid; expected one of {', '.join(BATCH_MODES)}")


def use_per_image(shape: tuple, batch: str = "auto", backend: str | None = None, name: str | None = None) -> bool:
  """Whether a (..., H, W) batch is evolved one image at a time (lax.map) rather than all at once.

  "auto": per image on CPU for a prior with scratch buffers (SCRATCH_PRIORS; name=None counts as one)
  when there are >= 2 images of >= PER_IMAGE_MIN_PIXELS pixels and more than
  PER_IMAGE_MIN_BATCH_PIXELS in all (each image's steps then run in cache; the joint loop
  streams the whole batch and its scratch buffers through memory on every step); never on GPU/TPU,
  where the joint loop is what fills the device. Both give identical values.
  """
  check_batch(batch)
  n, px = int(np.prod(shape[:-2], dtype=np.int64)), int(shape[-2]) * int(shape[-1])
  if batch == "auto":
    backend = backend or jax.default_backend()
    return (backend == "cpu" and (name is None or name in SCRATCH_PRIORS) and n >= 2 and px >= PER_IMAGE_MIN_PIXELS
            and n * px > PER_IMAGE_MIN_BATCH_PIXELS)
  return batch == "per_image" and n >= 2


def evolve(u0, name: str, steps: int, dt, fidelity, params: dict, bc: str, emit: Callable | None = None,
           use_fidelity: bool = True, batch: str = "auto", ref=None):
  """`steps` explicit-Euler steps of u_t = F(u) + fidelity (ref - u), the fast way (ref defaults to u0).

  Args:
    u0: (..., H, W) float. name: a key of FAST_RHS. dt, fidelity: scalars (traced or not).
    params: the prior's complete parameters. bc: boundary condition.
    emit: optional function of u after each step, (..., H, W) -> pytree; its values are stacked.
      It sees the whole batch, so a batch with emit is always evolved jointly.
    use_fidelity: False drops the fidelity term (when it is a concrete 0).
    batch: "auto", "joint" or "per_image" (see use_per_image); the values are identical.
  Returns:
    u after `steps` steps, and (if emit) the stacked emit outputs with a leading axis of length steps.
  """
  if emit is None and use_per_image(u0.shape, batch, name=name):
    flat = lambda a: a.reshape((-1,) + a.shape[-2:])
    one = lambda u, r: _evolve_joint(u, name, steps, dt, fidelity, params, bc, None, use_fidelity, r)[0]
    # one device runs these loops one after another; map over u0 alone when it is its own reference
    out = (jax.lax.map(lambda u: one(u, u), flat(u0)) if ref is None
           else jax.lax.map(lambda ur: one(*ur), (flat(u0), flat(ref))))
    return out.reshape(u0.shape), None
  return _evolve_joint(u0, name, steps, dt, fidelity, params, bc, emit, use_fidelity, u0 if ref is None else ref)


def _evolve_joint(u0, name: str, steps: int, dt, fidelity, params: dict, bc: str, emit: Callable | None,
                  use_fidelity: bool, ref):
  """evolve() on the whole (..., H, W) array at once (one loop; every step touches every image)."""
  H, W = u0.shape[-2:]
  g = make_grid(H, W, bc)
  mode = _ghost_refresh_mode(bc, True)
  P0 = to_ghost(u0, bc)
  rec = Scratch()
  _call(name, P0, g, rec, params)  # traced for the intermediate shapes only; XLA drops the values
  scratch = rec.allocate(P0)

  def step(src, dst, scratch):
    s = Scratch(scratch)
    F = _call(name, src, g, s, params)
    u = interior(src)
    if use_fidelity:
      F = F + fidelity * (ref - u)
    dst = refresh(_put(dst, u + dt * F, 1, 1), mode)
    return dst, s.buffers

  def out(P):
    return emit(interior(P)) if emit is not None else None

  def pair(carry, _):
    A, B, scratch = carry
    B, scratch = step(A, B, scratch)
    e1 = out(B)
    A, scratch = step(B, A, scratch)
    return (A, B, scratch), (e1, out(A))

  carry = (P0, P0, scratch)
  n_pairs, odd = divmod(int(steps), 2)
  emitted = None
  if n_pairs:
    if emit is None:
      carry = jax.lax.fori_loop(0, n_pairs, lambda i, c: pair(c, None)[0], carry)
    else:
      carry, (e1, e2) = jax.lax.scan(pair, carry, None, length=n_pairs)
      emitted = jax.tree.map(lambda a, b: jnp.stack([a, b], 1).reshape((-1,) + a.shape[1:]), e1, e2)
  A, B, scratch = carry
  if odd:
    B, scratch = step(A, B, scratch)
    A = B
    if emit is not None:
      last = jax.tree.map(lambda x: x[None], out(A))
      emitted = last if emitted is None else jax.tree.map(lambda a, b: jnp.concatenate([a, b]), emitted, last)
  return interior(A), emitted


def has_fast_path(prior) -> bool:
  """True for the registered priors (a Prior built by hand falls back to the reference solver)."""
  from vision_jax.pde.priors import PRIORS
  return prior.name in FAST_RHS and PRIORS.get(prior.name) is prior

