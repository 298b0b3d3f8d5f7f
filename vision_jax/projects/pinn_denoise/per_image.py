"""Per-image protocols (oracle and zero-shot): a fresh network fitted on each test image, on exactly
the batch its Protocol gives (`fit_batch`), stopped by its rule (`stop`)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.projects.pinn_denoise import coord_pinn, loss as loss_lib
from vision_jax.projects.pinn_denoise.protocols import Protocol
from vision_jax.tasks.denoise import evaluation
from vision_jax.train import loop
from vision_jax.train.state import apply_model


def fit_one(config, model, multiple: int, noisy: np.ndarray, clean: np.ndarray, protocol: Protocol,
            seed: int, shared: dict | None = None) -> tuple[np.ndarray, dict]:
  """Fits one image under `protocol`; returns (denoised (H, W, 1), info).

  shared: a dict reused across the images of one run, so the loss, the jitted train step and the
  jitted forward pass are built (and compiled) once per image shape rather than once per image.
  """
  weights = protocol.loss_weights(config)
  if config.backbone == "coord_mlp":  # the coordinate PINN: IC = noisy image, autodiff PDE residual
    return coord_pinn.fit(noisy, config, weights, seed)
  batch = protocol.fit_batch(noisy, clean, multiple)
  shared = {} if shared is None else shared
  if "loss_fn" not in shared:
    shared["loss_fn"] = loss_lib.make_loss_fn(model, config, weights)
    shared["forward"] = jax.jit(lambda p, bs, x: apply_model(model, p, bs, x, False)[0])
  problem = loop.TrainProblem(model, batch["noisy"], shared["loss_fn"], lambda step: batch)
  h, w = noisy.shape[:2]

  def snapshot(state, step):
    y = shared["forward"](state["params"], state["batch_stats"], jnp.asarray(batch["noisy"]))
    return np.asarray(y[0])[:h, :w]

  steps = int(config[protocol.name].steps)
  state, snaps, metrics = loop.fit_in_memory(problem, config, steps, snapshot_every=protocol.snapshot_every(config),
                                             snapshot_fn=snapshot, seed=seed, desc=f"{protocol.name} fit",
                                             cache=shared.setdefault("trainer", {}))
  step, out = protocol.stop(snaps, noisy, config.noise)
  return out, {"stop_step": step, **metrics}


def run_per_image(config, model, multiple: int, test: evaluation.TestSet, protocol: Protocol) -> tuple[dict, dict]:
  """Runs a per-image protocol on every test image; returns (result, info)."""
  out = {"psnr": [], "ssim": [], "seconds": [], "outputs": []}
  stops, shared = [], {}
  for i, (clean, noisy) in enumerate(zip(test.cleans, test.noisys)):
    t0 = time.perf_counter()
    den, fit_info = fit_one(config, model, multiple, noisy, clean, protocol, config.seed + i, shared)
    out["seconds"].append(time.perf_counter() - t0)
    p, s = evaluation.score(den, clean)  # the clean image is used here only to score
    out["psnr"].append(p)
    out["ssim"].append(s)
    out["outputs"].append(den)
    stops.append(fit_info.get("stop_step"))
  steps = int(config.coord.steps) if config.backbone == "coord_mlp" else int(config[protocol.name].steps)
  info = {"protocol": protocol.name, "steps_per_image": steps, "stop_steps": ",".join(str(s) for s in stops)}
  return out, info
