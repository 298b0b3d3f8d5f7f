"""XLA:CPU flags against the convolution (issue 18): fwd / dx / dw GFLOP/s of one conv per XLA_FLAGS value.

Each value runs in its own process (XLA reads XLA_FLAGS once, at start-up):

    .venv/bin/python benchmarks/bench_xla_flags.py [--shape 16,64,64,64,64,3]

Prints the 2048^2 matmul rate beside each row, the cores the forward conv keeps busy (process CPU time /
wall time), and the milliseconds of a batch normalisation's forward and backward pass (mean / variance
reductions) on the conv's output, which some flags slow down.
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


def measure(shape: str, rounds: int = 5) -> None:
  """Prints matmul and conv fwd / dx / dw GFLOP/s (best of `rounds`) under this process's XLA_FLAGS."""
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import bench_convops
  import jax
  import jax.numpy as jnp
  from jax import lax
  n, h, w_, c, f, k = (int(v) for v in shape.split(","))
  spec = {"x": (n, h, w_, c), "w": (k, k, c, f), "strides": (1, 1), "padding": "SAME",
          "dilation": (1, 1), "groups": 1}
  flop = 2 * n * h * w_ * c * f * k * k
  secs = bench_convops.op_seconds(spec, "xla", rounds=rounds)
  rates = " ".join(f"{op} {flop / t / 1e9:6.1f}" for op, t in zip(("fwd", "dx", "dw"), secs))

  def batch_norm(y):
    mean = jnp.mean(y, axis=(0, 1, 2))
    return (y - mean) * lax.rsqrt(jnp.var(y, axis=(0, 1, 2)) + 1e-5)

  y = jax.random.normal(jax.random.PRNGKey(1), (n, h, w_, f), jnp.float32)
  bn = jax.jit(lambda y, g: jax.vjp(batch_norm, y)[1](g)[0])
  bn_ms = bench_convops.best_seconds(bn, (y, jnp.ones_like(y)), rounds=rounds) * 1e3
  print(f"{os.environ.get('XLA_FLAGS', '') or '(default)':80s} matmul {bench_convops.matmul_gflops():6.1f}  "
        f"{rates} GFLOP/s  fwd cores {fwd_cores(spec, rounds):4.2f}  bn f+b {bn_ms:5.1f} ms", flush=True)


def fwd_cores(spec, rounds: int) -> float:
  """Process CPU seconds / wall seconds over `rounds` forward convs: how many cores XLA kept busy."""
  import time
  import jax
  from jax import lax
  x = jax.random.normal(jax.random.PRNGKey(0), spec["x"])
  w = jax.random.normal(jax.random.PRNGKey(1), spec["w"])
  conv = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                                       dimension_numbers=("NHWC", "HWIO", "NHWC")))
  jax.block_until_ready(conv(x, w))
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(rounds):
    jax.block_until_ready(conv(x, w))
  return (time.process_time() - cpu) / (time.perf_counter() - wall)


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
