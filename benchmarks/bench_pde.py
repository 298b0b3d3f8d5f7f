"""Throughput of the explicit PDE solvers against a NumPy stencil and this machine's limit, in one run.

For each prior and image configuration it prints Mpixel-iterations per second (pixels x images x steps
/ seconds / 1e6) of `vision_jax.pde.solve` with method="fast" (the default) and method="reference",
and of the NumPy implementation below (the same grid schemes, Neumann boundaries, line by line), all
measured in the same run (jitted, compile excluded by a warm-up call, best of --repeats, interleaved).
Rates are wall-clock; the column "CPU time" gives the ratio of process CPU seconds instead, which
other jobs on a shared machine disturb much less (both solvers run on one core, see below). Next to them:
the machine's limit measured in the same run, a streaming copy's bandwidth (B/s: the best of an
in-place jitted x + 1 and numpy.copyto over 256 MiB) and a float32 matmul's FLOP rate, combined per prior as a roofline, limit = min(bandwidth / bytes, flop rate / flops), with the
flops and bytes per pixel-iteration of each prior below. Last, the (K x stopping step) grid search of
one image as one vmapped call (pde.psnr_grid, pde.sure_grid) against the loop of separate solver calls
it replaces (one trajectory per K, then a PSNR per step, as tasks/pde_denoise.tune_prior does).

Flops per pixel-iteration (counted by hand from the schemes in pde/operators.py, one flop per add,
multiply, divide, exp, rsqrt or sqrt; an exp costs ~35 instructions on XLA:CPU, so for the exp priors
the flop roofline is optimistic) and bytes (the compulsory traffic of a step: read u, write u, float32):
    heat           7 flops    8 B   (5-point Laplacian + update)
    perona_malik  27 flops    8 B   (2 edge fluxes: normal + tangential derivative, exp; divergence)
    mpmc          40 flops    8 B   (curvature fluxes with rsqrt, rational g at pixels, edge means)
    zg            42 flops    8 B   (Perona-Malik + biharmonic = two 5-point Laplacians)
    tensor       100 flops    8 B   (9-tap separable Gaussian, structure tensor, eigenvector, exp, 2x2 fluxes)
    tv            14 flops    8 B   (forward gradient, rsqrt, backward divergence)

What the profile showed (jax.jit(...).lower(...).compile().as_text() of the reference solver, and
jax.profiler traces; 256 x 256, 2-core AMD EPYC, XLA:CPU of jax 0.10):
  * jnp.pad(mode="symmetric") lowers to concatenates: every reference step materialised two padded
    copies of the image (concatenate fusions) before the stencil, plus one more full copy of the
    result back into the while-loop buffer (the stencil's output cannot alias its input).
  * XLA:CPU emits fusions that read a pad / concatenate along the minor (x) axis as scalar code (a
    branch per element, seen in the LLVM IR: <1 x float> exp), the stencils themselves vectorise
    (<8 x float>) when they read plain slices.
  * XLA:CPU drops lax.optimization_barrier before fusion and happily fuses a flux with exp into each
    of its consumers (4 exps per pixel instead of 2); unrolling the loop fused step into step and
    recomputed the whole stencil 5x per neighbour (slower, not faster).
  * The exp (~0.5 ns per value on one core) bounds Perona-Malik and zg; the in-place update fusions
    run on one core.
What the fast path (pde/fast.py) does about it: ghost-cell state with a zero ring and masked edge
differences (no pad or concatenate per step), two state buffers updated in place alternately (two
steps per loop iteration, no copy), and the exp / rsqrt fluxes, curvature, Laplacian and tensor
coefficients written in place into loop-carried scratch buffers (computed once per step).
Batches (measured 2026-12-01 on the idle 2-core EPYC; benchmarks/results/bench_pde.md):
  * XLA:CPU runs each of these loops on one thread (process CPU time = wall time), so a batch in one
    loop uses one core. pde.solve_sharded splits it over host devices (--cpu-devices 2, shard_map, no
    communication): 1.4-2.2x on 2 cores for 16 x 256^2 (PM 525 -> 721, TV 871 -> 1671 Mpix-it/s).
  * One large image: pde.solve_strips splits its rows over the devices (halo of reach x k rows, one
    all_gather every k steps). Measured 2026-12-02 on a 2-core EPYC without AVX-512: 1.5-1.9x on
    1024^2 for Perona-Malik, mpmc, zg, tensor and TV (PM 189 -> 353 Mpix-it/s), no gain for heat, and
    a loss on 256^2 for all but zg (the exchange and the halos outweigh the second core).
  * A prior with scratch buffers streams about 6 batch-sized arrays per step; one image at a time
    (lax.map, solve(batch="auto") on CPU) keeps them in cache: PM 428 -> 525, zg 303 -> 416, tensor
    90 -> 149 Mpix-it/s at 16 x 256^2. Heat (no scratch) stays joint (3036 joint vs 2502 per image).
  * --xla_cpu_prefer_vector_width=512 (XLA's default width is 256 bits) runs these loops 1.07-1.70x
    faster on the AVX-512 EPYC (heat 1 x 256^2 3106 / 3372 -> 4881 / 4861, PM 547 / 611 -> 959 / 937
    Mpix-it/s; 2026-12-03, results/bench_pde.md); `import vision_jax` sets it on AVX-512 hosts
    (vision_jax.cpu_flags; XLA_FLAGS=--xla_cpu_prefer_vector_width=256 measures without it).
  * The exp bound (in-cache jnp.exp, 3.8 G/s on one core idle, 1.2-2.2 G/s with other jobs running) is
    not what stops PM: it runs at about 27 % of it.

    python benchmarks/bench_pde.py                        # all priors, 1x256, 1x1024, 16x256, grid search
    python benchmarks/bench_pde.py --priors heat,perona_malik --configs 1x256 --no-grid
    python benchmarks/bench_pde.py --cpu-devices 2        # + the split column: batches by image over 2 CPU
                                                          # devices (pde.solve_sharded), single images by rows
                                                          # (pde.solve_strips, halo exchange every k steps)
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

FLOPS = {"heat": 7, "perona_malik": 27, "mpmc": 40, "zg": 42, "tensor": 100, "tv": 14}
BYTES = {name: 8 for name in FLOPS}
# Transcendentals per pixel-iteration, counted from the schemes (one exp per edge flux of the exponential
# edge-stopping function, one rsqrt per TV / curvature flux); priors whose cost they dominate get a
# second bound, rate of that function (measured now, on in-cache data) / count. heat and tensor: none used.
TRANSCENDENTALS = {"perona_malik": ("exp", 2), "zg": ("exp", 2), "mpmc": ("rsqrt", 2), "tv": ("rsqrt", 2)}


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


def _best_wall_cpu(fn):
  """(wall seconds, CPU seconds of this process) of one call."""
  t, c = time.perf_counter(), time.process_time()
  fn()
  return time.perf_counter() - t, time.process_time() - c


def machine_limits(jax, jnp, repeats):
  """(streaming bytes/s, matmul flop/s) on the default device, measured now."""
  gpu = jax.default_backend() != "cpu"
  n = (1 << 28) if gpu else (1 << 26)  # 1 GiB / 256 MiB of float32: far beyond every cache
  # in place (donated buffer): a fresh output would measure first-touch page faults, not bandwidth
  add = jax.jit(lambda v: v + 1.0, donate_argnums=0)
  state = {"x": add(jnp.zeros((n,), jnp.float32))}

  def stream():
    state["x"] = add(state["x"])
    state["x"].block_until_ready()
  stream()
  bw = 8.0 * n / _best(stream, repeats)  # reads and writes every element once
  a_np, b_np = np.ones(n, np.float32), np.empty(n, np.float32)
  np.copyto(b_np, a_np)
  bw = max(bw, 8.0 * n / _best(lambda: np.copyto(b_np, a_np), repeats)) if not gpu else bw
  del state, a_np, b_np
  m = 8192 if gpu else 2048
  a = jnp.ones((m, m), jnp.float32)
  mm = jax.jit(lambda p: jnp.dot(p, p, precision=jax.lax.Precision.HIGHEST))  # true float32 (no TF32)
  mm(a).block_until_ready()
  flops = 2.0 * m**3 / _best(lambda: mm(a).block_until_ready(), repeats)
  del a
  return bw, flops


def transcendental_rates(jax, jnp, repeats):
  """{"exp": values/s, "rsqrt": values/s} of one jitted fused loop over a 256x256 float32 array (in cache)."""
  x = jnp.asarray(np.random.default_rng(0).random((256, 256), dtype=np.float32)) + 0.5
  out = {}
  for name, fn in (("exp", lambda y: jnp.exp(-y)), ("rsqrt", jax.lax.rsqrt)):
    f = jax.jit(lambda v, fn=fn: jax.lax.fori_loop(0, 100, lambda i, y: fn(y) + 0.5, v))
    f(x).block_until_ready()
    out[name] = 100 * x.size / _best(lambda: f(x).block_until_ready(), repeats)
  return out


def bench_priors(args, jax, jnp, pde, bw, flop_rate):
  configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
  trans = transcendental_rates(jax, jnp, args.repeats)
  print(", ".join(f"{k} {v / 1e6:.0f} M/s" for k, v in trans.items()) + " (one jitted loop, 256x256, in cache): "
        "the 'exp/rsqrt bound' column is that rate / the count per pixel-iteration (TRANSCENDENTALS)\n")
  print(f"| prior | images | ours (fast) | joint loop | split over {jax.device_count()} devices | reference JAX | "
        "NumPy | ours / NumPy | split / NumPy | limit | ours / limit | exp/rsqrt bound | ours / bound | "
        "ours / NumPy, CPU time | max abs diff vs NumPy |")
  print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  for name in args.priors.split(","):
    dt = 0.5 * pde.stability_limit(name)
    limit = min(bw / BYTES[name], flop_rate / FLOPS[name]) / 1e6
    fn_name, count = TRANSCENDENTALS.get(name, (None, 0))
    bound = trans[fn_name] / count / 1e6 if fn_name else None
    for n, size in configs:
      rng = np.random.default_rng(0)
      u0 = rng.random((n, size, size)).astype(np.float32)
      if n == 1:
        u0 = u0[0]
      u0_dev = jnp.asarray(u0)
      pix = n * size * size / 1e6
      steps = max(20, args.steps * 65536 // (n * size * size)) if args.scale_steps else args.steps
      runs = {m: (lambda m=m: pde.solve(u0_dev, name, steps, dt, method=m).block_until_ready())
              for m in ("fast", "reference")}
      if n > 1:  # the batch as one loop over all images (what "auto" replaces with per-image loops)
        runs["joint"] = lambda: pde.solve(u0_dev, name, steps, dt, batch="joint").block_until_ready()
      if n > 1 and jax.device_count() > 1 and n % jax.device_count() == 0:  # one shard per device (core)
        runs["split"] = lambda: pde.solve_sharded(u0_dev, name, steps, dt).block_until_ready()
      if n == 1 and jax.device_count() > 1:  # one image in row strips, one per device, halo exchange
        runs["split"] = lambda: pde.solve_strips(u0_dev, name, steps, dt).block_until_ready()
      for fn in runs.values():
        fn()  # compile + warm-up
      np_steps = args.numpy_steps
      runs["numpy"] = lambda: np_solve(u0, name, np_steps, dt)
      best = {m: math.inf for m in runs}
      best_cpu = dict(best)
      for _ in range(args.repeats):  # interleaved, so that all three see the same machine load
        for m, fn in runs.items():
          w, c = _best_wall_cpu(fn)
          best[m], best_cpu[m] = min(best[m], w), min(best_cpu[m], c)
      rates = {m: pix * (np_steps if m == "numpy" else steps) / t for m, t in best.items()}
      cpu_rates = {m: pix * (np_steps if m == "numpy" else steps) / t for m, t in best_cpu.items()}
      np_rate = rates["numpy"]
      diff = float(np.abs(np.asarray(pde.solve(u0_dev, name, np_steps, dt)) - np_solve(u0, name, np_steps, dt)).max())
      label = f"{n}x{size}x{size}"
      joint = f"{rates['joint']:.0f}" if "joint" in rates else "="
      split = f"{rates['split']:.0f}" if "split" in rates else "-"
      split_ratio = f"{rates['split'] / np_rate:.1f}x" if "split" in rates else "-"
      bnd = f"{bound:.0f} | {100 * rates['fast'] / bound:.0f} %" if bound else "- | -"
      print(f"| {name} | {label} | {rates['fast']:.0f} | {joint} | {split} | {rates['reference']:.0f} | {np_rate:.0f} | "
            f"{rates['fast'] / np_rate:.1f}x | {split_ratio} | {limit:.0f} | {100 * rates['fast'] / limit:.0f} % | {bnd} | "
            f"{cpu_rates['fast'] / cpu_rates['numpy']:.1f}x | {diff:.1e} |",
            flush=True)


def bench_grid(args, jax, jnp, pde):
  """One psnr_grid / sure_grid call over (8 K x steps 0..300) against the loop of separate solve() calls."""
  from vision_jax.data import images
  from vision_jax.metrics import image as image_metrics
  from vision_jax import noise

  clean = jnp.asarray(images.load_images("bundled:camera", max_size=args.grid_size)[0].pixels[..., 0])
  noisy = noise.awgn(jax.random.key(0), clean, 25.0)
  Ks = np.linspace(0.02, 0.16, 8).tolist()
  steps, dt = args.grid_steps, 0.2

  def loop():
    out = []
    for K in Ks:
      traj = pde.solve(noisy, "perona_malik", steps, dt, return_trajectory=True, K=K)
      out.append(np.asarray(jax.vmap(lambda u: image_metrics.psnr(jnp.clip(u, 0, 1)[..., None],
                                                                  clean[..., None]))(traj)))
    return np.stack(out)

  def one_call():
    return np.asarray(pde.psnr_grid(noisy, clean, "perona_malik", steps, dt, grid={"K": Ks}))

  def sure_call():
    return np.asarray(pde.sure_grid(noisy, 25.0, "perona_malik", steps, dt, grid={"K": Ks}, key=jax.random.key(1)))

  ref, got = loop(), one_call()  # warm-up (compiles) and a check that both give the same table
  sure_call()
  t_loop = _best(loop, args.repeats)
  t_grid = _best(one_call, args.repeats)
  t_sure = _best(sure_call, args.repeats)
  H, W = clean.shape
  print(f"\nGrid search, Perona-Malik on camera {H}x{W}, {len(Ks)} K x steps 0..{steps} "
        f"({len(Ks) * steps} explicit steps), best of {args.repeats}:")
  print("| what | seconds | vs loop |")
  print("|---|---:|---:|")
  print(f"| loop of {len(Ks)} solve(return_trajectory) + PSNR per step | {t_loop:.3f} | 1.0x |")
  print(f"| one pde.psnr_grid call (vmapped, jitted) | {t_grid:.3f} | {t_loop / t_grid:.1f}x |")
  print(f"| one pde.sure_grid call (no clean image, 1 probe, jvp) | {t_sure:.3f} | {t_loop / t_sure:.1f}x |")
  print(f"max |PSNR grid - PSNR loop| = {np.abs(ref - got).max():.1e} dB")


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--steps", type=int, default=100, help="explicit steps per JAX timing (1x256 image)")
  ap.add_argument("--numpy-steps", type=int, default=10, help="explicit steps per NumPy timing")
  ap.add_argument("--configs", default="1x256,1x1024,16x256", help="comma list of NxSIZE (N images of SIZE^2)")
  ap.add_argument("--priors", default="heat,perona_malik,mpmc,zg,tensor,tv")
  ap.add_argument("--repeats", type=int, default=5, help="timed repeats, interleaved across methods (best is reported)")
  ap.add_argument("--no-scale-steps", dest="scale_steps", action="store_false",
                  help="use --steps for every size (default: fewer steps for bigger inputs, same work)")
  ap.add_argument("--no-grid", dest="grid", action="store_false", help="skip the grid-search timing")
  ap.add_argument("--grid-size", type=int, default=256)
  ap.add_argument("--grid-steps", type=int, default=300)
  ap.add_argument("--cpu-devices", type=int, default=0,
                  help="expose N CPU devices (jax_num_cpu_devices) so solve_sharded puts one shard per core")
  args = ap.parse_args()

  import jax
  if args.cpu_devices:
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
  import jax.numpy as jnp

  from vision_jax import pde

  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start, steps jax={args.steps} (1x256; scaled by size) "
        f"numpy={args.numpy_steps}, best of {args.repeats}")
  bw, flop_rate = machine_limits(jax, jnp, args.repeats)
  print(f"machine limit, measured now: streaming copy {bw / 1e9:.1f} GB/s, float32 matmul {flop_rate / 1e9:.1f} "
        "GFLOP/s; limit per prior = min(bandwidth / bytes, flop rate / flops) in Mpix-it/s "
        "(measured twice, the larger values are used)")
  bw2, flop2 = machine_limits(jax, jnp, args.repeats) if args.repeats else (bw, flop_rate)
  bw, flop_rate = max(bw, bw2), max(flop_rate, flop2)
  print(f"limit used: {bw / 1e9:.1f} GB/s, {flop_rate / 1e9:.1f} GFLOP/s\n")
  bench_priors(args, jax, jnp, pde, bw, flop_rate)
  if args.grid:
    bench_grid(args, jax, jnp, pde)
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print(f"\nload average {load:.2f} at the end (this run's own threads included)")


if __name__ == "__main__":
  main()
