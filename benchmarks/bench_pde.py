"""Throughput of the explicit PDE solvers: jitted JAX vs a plain NumPy implementation of the same stencils.

For each prior and image configuration it measures Mpixel-iterations per second (pixels x images x
steps / seconds / 1e6) of `vision_jax.pde.solve` (jitted, compile excluded by a warm-up call,
block_until_ready) and of the NumPy reference below, in the same run, and prints a markdown table
with the ratio. The NumPy reference re-implements the grid schemes of vision_jax/pde (Neumann
boundaries) line by line, and the table reports the largest difference between the two results.

    python benchmarks/bench_pde.py                         # all priors, 256 / 512 / 16x256
    python benchmarks/bench_pde.py --steps 200 --priors heat,zg --configs 1x512
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

# ----------------------------------------------------------------------------- NumPy reference
def _pad(u, w=1):
  return np.pad(u, [(0, 0)] * (u.ndim - 2) + [(w, w)] * 2, mode="symmetric")


def np_laplacian(u):
  P = _pad(u)
  return P[..., 1:-1, 2:] + P[..., 1:-1, :-2] + P[..., 2:, 1:-1] + P[..., :-2, 1:-1] - 4 * u


def np_edge_gradients(u):
  P = _pad(u)
  ux_x = P[..., 1:-1, 1:] - P[..., 1:-1, :-1]
  cy = 0.5 * (P[..., 2:, :] - P[..., :-2, :])
  uy_x = 0.5 * (cy[..., 1:] + cy[..., :-1])
  uy_y = P[..., 1:, 1:-1] - P[..., :-1, 1:-1]
  cx = 0.5 * (P[..., :, 2:] - P[..., :, :-2])
  ux_y = 0.5 * (cx[..., 1:, :] + cx[..., :-1, :])
  return ux_x, uy_x, ux_y, uy_y


def np_flux_div(fx, fy):
  fx[..., 0] = fx[..., -1] = 0.0
  fy[..., 0, :] = fy[..., -1, :] = 0.0
  return fx[..., 1:] - fx[..., :-1] + fy[..., 1:, :] - fy[..., :-1, :]


def np_to_edges(c):
  C = np.pad(c, [(0, 0)] * (c.ndim - 2) + [(1, 1)] * 2, mode="edge")
  return 0.5 * (C[..., 1:-1, 1:] + C[..., 1:-1, :-1]), 0.5 * (C[..., 1:, 1:-1] + C[..., :-1, 1:-1])


def np_nonlinear_diffusion(u, cond):
  ux_x, uy_x, ux_y, uy_y = np_edge_gradients(u)
  return np_flux_div(cond(ux_x**2 + uy_x**2) * ux_x, cond(ux_y**2 + uy_y**2) * uy_y)


def np_gauss(u, sigma):
  if sigma == 0:
    return u
  r = int(4.0 * sigma + 0.5)
  w = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
  w /= w.sum()
  H, W = u.shape[-2:]
  P = _pad(u, r)
  P = sum(wk * P[..., :, k:k + W] for k, wk in enumerate(w))
  return sum(wk * P[..., k:k + H, :] for k, wk in enumerate(w))


def np_g(s2, K, kind):
  return np.exp(-s2 / K**2) if kind == "exponential" else 1.0 / (1.0 + s2 / K**2)


def np_heat(u):
  return np_laplacian(u)


def np_perona_malik(u, K=0.05, g="exponential"):
  return np_nonlinear_diffusion(u, lambda s2: np_g(s2, K, g))


def np_mpmc(u, K=0.5, g="rational", eps=0.01):
  kappa = np_nonlinear_diffusion(u, lambda s2: 1.0 / np.sqrt(s2 + eps**2))
  ux_x, _, _, uy_y = np_edge_gradients(u)
  c_x, c_y = np_to_edges(np_g(kappa**2, K, g))
  return np_flux_div(c_x * ux_x, c_y * uy_y)


def np_zg(u, lambda1=1.0, lambda2=0.05, K=0.05, g="exponential"):
  return lambda1 * np_perona_malik(u, K, g) - lambda2 * np_laplacian(np_laplacian(u))


def np_tensor(u, K=0.05, sigma=1.0, rho=0.0, m=4.0, C=3.31488):
  us = np_gauss(u, sigma)
  P = _pad(us)
  gx, gy = 0.5 * (P[..., 1:-1, 2:] - P[..., 1:-1, :-2]), 0.5 * (P[..., 2:, 1:-1] - P[..., :-2, 1:-1])
  j11, j12, j22 = (np_gauss(t, rho) for t in (gx * gx, gx * gy, gy * gy))
  tr, dd = j11 + j22, (j11 - j22) ** 2 + 4 * j12**2
  ok = dd > (1e-6 * tr) ** 2 + 1e-30
  disc = np.sqrt(np.where(ok, dd, 1.0))
  cos2, sin2 = np.where(ok, (j11 - j22) / disc, 0.0), np.where(ok, 2 * j12 / disc, 0.0)
  r = ((gx**2 + gy**2) / K**2) ** m
  with np.errstate(divide="ignore", over="ignore"):
    lam = np.where(r > 1e-15, 1.0 - np.exp(-C / np.where(r > 1e-15, r, 1.0)), 1.0) - 1.0
  a, b, c = 1 + lam * 0.5 * (1 + cos2), lam * 0.5 * sin2, 1 + lam * 0.5 * (1 - cos2)
  ux_x, uy_x, ux_y, uy_y = np_edge_gradients(u)
  a_x, _ = np_to_edges(a)
  b_x, b_y = np_to_edges(b)
  _, c_y = np_to_edges(c)
  return np_flux_div(a_x * ux_x + b_x * uy_x, b_y * ux_y + c_y * uy_y)


def np_tv(u, eps=0.1):
  ux = np.concatenate([u[..., :, 1:] - u[..., :, :-1], np.zeros_like(u[..., :, :1])], axis=-1)
  uy = np.concatenate([u[..., 1:, :] - u[..., :-1, :], np.zeros_like(u[..., :1, :])], axis=-2)
  n = 1.0 / np.sqrt(ux**2 + uy**2 + eps**2)
  px, py = ux * n, uy * n
  px[..., -1] = 0.0
  py[..., -1, :] = 0.0
  div = px.copy()
  div[..., 1:] -= px[..., :-1]
  div[..., 1:, :] += py[..., 1:, :] - py[..., :-1, :]
  div[..., 0, :] += py[..., 0, :]
  return div


NUMPY_RHS = {"heat": np_heat, "perona_malik": np_perona_malik, "mpmc": np_mpmc, "zg": np_zg,
             "tensor": np_tensor, "tv": np_tv}


def np_solve(u0, name, steps, dt):
  u = u0.copy()
  for _ in range(steps):
    u = u + dt * NUMPY_RHS[name](u)
  return u


# ----------------------------------------------------------------------------- timing
def _best(fn, repeats):
  best = math.inf
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t)
  return best


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--steps", type=int, default=100, help="explicit steps per JAX timing")
  ap.add_argument("--numpy-steps", type=int, default=10, help="explicit steps per NumPy timing")
  ap.add_argument("--configs", default="1x256,1x512,16x256", help="comma list of NxSIZE (N images of SIZE^2)")
  ap.add_argument("--priors", default="heat,perona_malik,mpmc,zg,tensor,tv")
  ap.add_argument("--repeats", type=int, default=3, help="timed repeats (best is reported)")
  args = ap.parse_args()

  import jax
  import jax.numpy as jnp

  from vision_jax import pde

  configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}, "
        f"steps jax={args.steps} numpy={args.numpy_steps}, best of {args.repeats}\n")
  print("| prior | images | JAX Mpix-it/s | NumPy Mpix-it/s | JAX / NumPy | max abs diff |")
  print("|---|---|---:|---:|---:|---:|")
  for name in args.priors.split(","):
    dt = 0.5 * pde.stability_limit(name)
    for n, size in configs:
      rng = np.random.default_rng(0)
      u0 = rng.random((n, size, size)).astype(np.float32)
      u0_dev = jnp.asarray(u0)
      run = lambda k: pde.solve(u0_dev, name, k, dt).block_until_ready()
      run(args.steps)  # compile + warm-up
      t_jax = _best(lambda: run(args.steps), args.repeats)
      t_np = _best(lambda: np_solve(u0, name, args.numpy_steps, dt), args.repeats)
      pix = n * size * size / 1e6
      jax_rate, np_rate = pix * args.steps / t_jax, pix * args.numpy_steps / t_np
      diff = float(np.abs(np.asarray(run(args.numpy_steps)) - np_solve(u0, name, args.numpy_steps, dt)).max())
      label = f"{n}x{size}x{size}"
      print(f"| {name} | {label} | {jax_rate:.1f} | {np_rate:.1f} | {jax_rate / np_rate:.1f}x | {diff:.1e} |",
            flush=True)


if __name__ == "__main__":
  main()
