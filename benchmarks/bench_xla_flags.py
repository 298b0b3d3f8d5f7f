"""XLA:CPU flags against the convolution (issue 18): fwd / dx / dw GFLOP/s of one conv per XLA_FLAGS value.

Each value runs in its own process (XLA reads XLA_FLAGS once, at start-up):

    .venv/bin/python benchmarks/bench_xla_flags.py [--shape 16,64,64,64,64,3]

Prints the 2048^2 matmul rate beside each row, and the milliseconds of a batch normalisation's forward
and backward pass (mean / variance reductions) on the conv's output, which some flags slow down.
vision_jax's own default (vision_jax/cpu_flags.py) is the `-individual_convolution` row.
Results: benchmarks/results/trainstep.md.
"""

import argparse
import os
import subprocess
import sys

YNN = "--xla_cpu_experimental_ynn_fusion_type="
FLAGS = ["", YNN + "-individual_convolution", YNN, YNN + "reduce",
         YNN + "individual_dot,individual_convolution",
         "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
         "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
         "--xla_cpu_use_xnnpack=true"]


def measure(shape: str) -> None:
  """Prints matmul and conv fwd / dx / dw GFLOP/s (best of 5) under this process's XLA_FLAGS."""
  import time
  import jax
  import jax.numpy as jnp
  import numpy as np
  from jax import lax
  n, h, w_, c, f, k = (int(v) for v in shape.split(","))
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(n, h, w_, c)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(k, k, c, f)), jnp.float32)
  a = jnp.asarray(rng.normal(size=(2048, 2048)), jnp.float32)
  conv = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                               dimension_numbers=("NHWC", "HWIO", "NHWC"))
  g = jnp.ones((n, h, w_, f), jnp.float32)
  fns = {"fwd": (jax.jit(conv), (x, w)),
         "dx": (jax.jit(lambda x, w, g: jax.vjp(lambda x: conv(x, w), x)[1](g)[0]), (x, w, g)),
         "dw": (jax.jit(lambda x, w, g: jax.vjp(lambda w: conv(x, w), w)[1](g)[0]), (x, w, g))}

  def best(fn, args):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(5):
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times.append(time.perf_counter() - t0)
    return min(times)

  def batch_norm(y):
    mean = jnp.mean(y, axis=(0, 1, 2))
    return (y - mean) * lax.rsqrt(jnp.var(y, axis=(0, 1, 2)) + 1e-5)

  bn = jax.jit(lambda y, g: jax.vjp(batch_norm, y)[1](g)[0])
  flop = 2 * n * h * w_ * c * f * k * k
  rates = " ".join(f"{op} {flop / best(fn, args) / 1e9:6.1f}" for op, (fn, args) in fns.items())
  mm = 2 * 2048 ** 3 / best(jax.jit(lambda a: a @ a), (a,)) / 1e9
  y = jnp.asarray(rng.normal(size=g.shape), jnp.float32)
  bn_ms = best(bn, (y, g)) * 1e3
  print(f"{os.environ.get('XLA_FLAGS', '') or '(default)':80s} matmul {mm:6.1f}  {rates} GFLOP/s  "
        f"bn f+b {bn_ms:5.1f} ms", flush=True)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--shape", default="16,64,64,64,64,3", help="N,H,W,C,F,k of a SAME stride-1 conv")
  p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.measure:
    return measure(args.shape)
  for flags in FLAGS:
    env = dict(os.environ, XLA_FLAGS=flags, VISION_JAX_XLA_DEFAULTS="0")
    subprocess.run([sys.executable, __file__, "--measure", "--shape", args.shape], env=env, check=True)


if __name__ == "__main__":
  main()
