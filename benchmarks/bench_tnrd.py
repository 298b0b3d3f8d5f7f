"""TNRD training-step time: piecewise-linear vs Gaussian-RBF influence functions, same run, same batch.

  .venv/bin/python benchmarks/bench_tnrd.py [--batch 16] [--patch 64] [--stages 5] [--filters 24]

Times one jitted value-and-grad of the MSE (the work of a training step without the optimizer) for
each influence kind and prints the ratio (Gaussian / linear, > 1 means linear is faster).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.models.denoisers import get_denoiser


def step_seconds(influence: str, x, y, stages: int, filters: int, repeats: int) -> float:
  model = get_denoiser("tnrd", stages=stages, num_filters=filters, kernel_size=5, influence=influence)
  params = model.init(jax.random.PRNGKey(0), x)
  grad = jax.jit(jax.value_and_grad(lambda p: jnp.mean((model.apply(p, x)[0] - y) ** 2)))
  jax.block_until_ready(grad(params))  # compile
  t0 = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(grad(params))
  return (time.perf_counter() - t0) / repeats


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--patch", type=int, default=64)
  p.add_argument("--stages", type=int, default=5)
  p.add_argument("--filters", type=int, default=24)
  p.add_argument("--repeats", type=int, default=5)
  a = p.parse_args()
  rng = np.random.default_rng(0)
  clean = rng.random((a.batch, a.patch, a.patch, 1), dtype=np.float32)
  x = jnp.asarray(clean + 0.1 * rng.standard_normal(clean.shape, dtype=np.float32))
  y = jnp.asarray(clean)
  print(f"TNRD {a.stages} stages x {a.filters} 5x5 filters, batch {a.batch} x {a.patch}^2, {jax.devices()[0].platform}")
  times = {kind: step_seconds(kind, x, y, a.stages, a.filters, a.repeats) for kind in ("gaussian", "linear")}
  for kind, t in times.items():
    print(f"  {kind:>8}: {t * 1e3:8.1f} ms per value-and-grad")
  print(f"  ratio gaussian / linear: {times['gaussian'] / times['linear']:.2f}x")


if __name__ == "__main__":
  main()
