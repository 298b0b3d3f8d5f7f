"""Per-image protocols (oracle and zero-shot): a fresh network fitted on each test image, on exactly
the batch its Protocol gives (`fit_batch`), stopped by its rule (`stop_fn`).

Zero-shot with zeroshot.stop = "sure": the fit runs on the variance-stabilised noisy image, with the
prior's parameter and tau chosen for that image by SURE (zeroshot.pinn_setting), the SURE data term
(selfsup.py) in place of the IC term, a SURE value for every snapshot (the snapshot network's
divergence with respect to its input, by exact jvp), and the output mapped back by the inverse
transform. The clean image is passed in only to be scored by the caller.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.losses import sure as sure_lib
from vision_jax.projects.pinn_denoise import coord_pinn, loss as loss_lib, selfsup, zeroshot
from vision_jax.projects.pinn_denoise.protocols import Protocol, zeroshot_stop_rule
from vision_jax.tasks.denoise import evaluation, self_supervised
from vision_jax.train import loop
from vision_jax.train.state import apply_model


def uses_sure(config, protocol: Protocol) -> bool:
  return protocol.name == "zeroshot" and zeroshot_stop_rule(config) == "sure"


def fit_one(config, model, multiple: int, noisy: np.ndarray, clean: np.ndarray, protocol: Protocol,
            seed: int, shared: dict | None = None, index: int = 0) -> tuple[np.ndarray, dict]:
  """Fits one image under `protocol`; returns (denoised (H, W, 1), info).

  shared: a dict reused across the images of one run, so the loss, the jitted train step and the
  jitted forward pass are built (and compiled) once per image shape rather than once per image.
  index: the image's position in the test set (keys its SURE probes).
  """
  weights = protocol.loss_weights(config)
  if config.backbone == "coord_mlp":  # the coordinate PINN: IC = noisy image, autodiff PDE residual
    return coord_pinn.fit(noisy, config, weights, seed)
  shared = {} if shared is None else shared
  sure = uses_sure(config, protocol)
  info, invert, sigma = {}, None, None
  if sure:
    s = self_supervised.stabilize(noisy, config.noise)
    fit_input, invert, sigma = np.asarray(s.image, np.float32), s.invert, float(s.sigma)
    batch = protocol.fit_batch(fit_input, clean, multiple)
    pde_setting = zeroshot.pinn_setting(fit_input, sigma, config, index) if config.prior != "none" else {}
    batch.update({k: np.float32(v) for k, v in pde_setting.items() if k != "steps"})
    info = {f"sure_{k}": v for k, v in pde_setting.items()}
  else:
    batch = protocol.fit_batch(noisy, clean, multiple)
  if "loss_fn" not in shared:
    if sure:
      shared["loss_fn"] = selfsup.make_loss_fn(model, config, weights, sigma, probes=int(config.zeroshot.probes),
                                               traced_pde=config.prior != "none")
      probes = int(config.zeroshot.stop_probes)
      shared["forward_sure"] = jax.jit(lambda p, bs, x, key: sure_lib.mc_divergence(
          lambda v: apply_model(model, p, bs, v, False)[0], x, key, probes=probes))
    else:
      shared["loss_fn"] = loss_lib.make_loss_fn(model, config, weights)
    shared["forward"] = jax.jit(lambda p, bs, x: apply_model(model, p, bs, x, False)[0])
  problem = loop.TrainProblem(model, batch["noisy"], shared["loss_fn"], lambda step: batch)
  h, w = noisy.shape[:2]
  x_in = jnp.asarray(batch["noisy"])
  n = x_in[0].size
  key = jax.random.PRNGKey(seed)

  def snapshot(state, step):
    if not sure:
      y = shared["forward"](state["params"], state["batch_stats"], x_in)
      return np.asarray(y[0])[:h, :w]
    y, div = shared["forward_sure"](state["params"], state["batch_stats"], x_in, key)  # the same probes at every snapshot
    s2 = (sigma / 255.0) ** 2
    risk = float(jnp.sum((y - x_in) ** 2) / n - s2 + 2.0 * s2 * div[0] / n)
    return np.asarray(y[0])[:h, :w], risk

  steps = int(config[protocol.name].steps)
  state, raw, metrics = loop.fit_in_memory(problem, config, steps, snapshot_every=protocol.snapshot_every(config),
                                           snapshot_fn=snapshot, seed=seed, desc=f"{protocol.name} fit",
                                           cache=shared.setdefault("trainer", {}))
  snaps = [(s, *v) if isinstance(v, tuple) else (s, v, None) for s, v in raw]
  step, out = protocol.stop_fn(config)(snaps, noisy, config.noise)
  if invert is not None:
    out = np.asarray(invert(jnp.asarray(out)), np.float32)
  return out, {"stop_step": step, **info, **metrics}


def run_per_image(config, model, multiple: int, test: evaluation.TestSet, protocol: Protocol) -> tuple[dict, dict]:
  """Runs a per-image protocol on every test image; returns (result, info)."""
  out = {"psnr": [], "ssim": [], "seconds": [], "outputs": []}
  stops, shared, tuned = [], {}, []
  for i, (clean, noisy) in enumerate(zip(test.cleans, test.noisys)):
    t0 = time.perf_counter()
    den, fit_info = fit_one(config, model, multiple, noisy, clean, protocol, config.seed + i, shared, index=i)
    out["seconds"].append(time.perf_counter() - t0)
    p, s = evaluation.score(den, clean)  # the clean image is used here only to score
    out["psnr"].append(p)
    out["ssim"].append(s)
    out["outputs"].append(den)
    stops.append(fit_info.get("stop_step"))
    tuned.append({k[5:]: round(float(v), 4) for k, v in fit_info.items() if k.startswith("sure_")})
  steps = int(config.coord.steps) if config.backbone == "coord_mlp" else int(config[protocol.name].steps)
  info = {"protocol": protocol.name, "steps_per_image": steps, "stop_steps": ",".join(str(s) for s in stops)}
  if protocol.name == "zeroshot" and config.backbone != "coord_mlp":
    info["stop_rule"] = zeroshot_stop_rule(config)
    if any(tuned):
      info["sure_tuned_pde"] = "; ".join(", ".join(f"{k}={v:g}" for k, v in t.items()) for t in tuned)
  return out, info
