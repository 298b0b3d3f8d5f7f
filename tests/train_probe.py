"""A tiny training run used by test_train_loop.py in subprocesses (fake device counts, SIGKILL).

Usage: python tests/train_probe.py WORKDIR STEPS [--nan_at STEP] [--sleep S] [--out FILE.npz] [--distributed]
Device count comes from XLA_FLAGS set by the caller.
"""

import argparse
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vision_jax.train import loop, parallel


class TinyNet(nn.Module):
  @nn.compact
  def __call__(self, x, train=False):
    h = nn.Conv(4, (3, 3), use_bias=False)(x)  # a bias before BN has zero gradient
    h = nn.BatchNorm(use_running_average=not train)(h)
    h = nn.relu(h)
    return x - nn.Conv(1, (3, 3))(h), {}


def make_problem(nan_at: int, sleep: float):
  model = TinyNet()

  def loss_fn(params, batch_stats, batch, rng):
    noisy = batch["clean"] + 0.1 * jax.random.normal(rng, batch["clean"].shape)
    (y, _), upd = model.apply({"params": params, "batch_stats": batch_stats}, noisy, train=True,
                              mutable=["batch_stats"])
    loss = jnp.mean((y - batch["clean"]) ** 2) * batch["scale"][0]
    return loss, ({"mse": loss}, upd["batch_stats"])

  def batch_fn(step):
    if sleep:
      time.sleep(sleep)
    rng = np.random.default_rng([7, step])
    scale = np.full((8,), np.nan if step == nan_at else 1.0, np.float32)
    return {"clean": rng.random((8, 8, 8, 1), dtype=np.float32), "scale": scale}

  return loop.TrainProblem(model, np.zeros((1, 8, 8, 1), np.float32), loss_fn, batch_fn)


def make_config(steps: int):
  c = ml_collections.ConfigDict()
  c.seed = 3
  c.train = {"steps": steps, "log_every": 1, "checkpoint_every": 5, "eval_every": 0, "progress": False}
  c.optim = {"name": "adam", "lr": 1e-2, "schedule": "constant"}
  c.mesh = [("data", -1)]
  return c


def main():
  p = argparse.ArgumentParser()
  p.add_argument("workdir")
  p.add_argument("steps", type=int)
  p.add_argument("--nan_at", type=int, default=-1)
  p.add_argument("--sleep", type=float, default=0.0)
  p.add_argument("--out", default="")
  p.add_argument("--distributed", action="store_true", help="join the job named by the environment")
  a = p.parse_args()
  parallel.maybe_initialize_distributed(a.distributed)
  try:
    res = loop.fit(make_problem(a.nan_at, a.sleep), make_config(a.steps), a.workdir)
  except FloatingPointError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(3)
  if a.out:
    if a.distributed:  # one file per process: out-0.npz, out-1.npz, ...
      a.out = a.out.replace(".npz", f"-{jax.process_index()}.npz")
    leaves = jax.tree.leaves(jax.device_get(res.state["params"]))
    # Initial parameters exactly as fit draws them (same key split), to show training moved them.
    init_rng = jax.random.split(jax.random.PRNGKey(3))[0]
    init = jax.tree.leaves(TinyNet().init(init_rng, np.zeros((1, 8, 8, 1), np.float32))["params"])
    np.savez(a.out, *leaves, **{f"init_arr_{i}": v for i, v in enumerate(init)},
             devices=jax.device_count(), loss=res.metrics.get("loss", 0.0), seconds=res.seconds)


if __name__ == "__main__":
  main()
