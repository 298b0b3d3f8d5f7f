"""Per-image protocols of the PINN denoising task: the paper's oracle and the honest zero-shot one.

oracle: fits a fresh network on (noisy test image, its clean target) - Algorithm 1 as written.
zeroshot: fits on the noisy test image alone (PDE residual + initial-condition fidelity + boundary
term); the snapshot kept is the one whose mean (x_hat - y)^2 is closest to the expected noise energy
(Morozov's discrepancy principle; the energy is estimated from y and the noise model), so no clean
image is used for training or stopping. The batches below are the only data each fit sees.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.tasks import denoise_common as common, pinn_model
from vision_jax.train import loop


def per_image_batch(noisy: np.ndarray, clean: np.ndarray | None, multiple: int) -> dict:
  """The fixed batch of one per-image fit: {'noisy'} (+ {'clean'} for the oracle), padded, (1, H, W, 1)."""
  batch = {"noisy": pinn_model.pad_to_multiple(noisy, multiple)[0][None]}
  if clean is not None:
    batch["clean"] = pinn_model.pad_to_multiple(clean, multiple)[0][None]
  return batch


def discrepancy_choice(snapshots: list, noisy: np.ndarray, target_mse: float) -> tuple[int, np.ndarray]:
  """(step, image) of the snapshot whose mean (x - noisy)^2 is closest to target_mse."""
  gaps = [abs(float(np.mean((img - noisy) ** 2)) - target_mse) for _, img in snapshots]
  k = int(np.argmin(gaps))
  return snapshots[k][0], snapshots[k][1]


def fit_one(config, model, multiple: int, noisy: np.ndarray, clean: np.ndarray | None, protocol: str,
            seed: int, shared: dict | None = None) -> tuple[np.ndarray, dict]:
  """Fits one image under `protocol`; returns (denoised (H, W, 1), info).

  shared: a dict reused across the images of one run, so the loss, the jitted train step and the
  jitted forward pass are built (and compiled) once per image shape rather than once per image.
  """
  if config.backbone == "coord_mlp":  # the coordinate PINN: IC = noisy image, autodiff PDE residual
    from vision_jax.tasks import coord_pinn
    return coord_pinn.fit(noisy, config, seed)
  batch = per_image_batch(noisy, clean if protocol == "oracle" else None, multiple)
  shared = {} if shared is None else shared
  if "loss_fn" not in shared:
    shared["loss_fn"] = pinn_model.make_loss_fn(model, config, pinn_model.loss_weights(config, protocol))
    shared["forward"] = jax.jit(lambda p, bs, x: pinn_model.apply_model(model, p, bs, x, False)[0])
  pcfg = config[protocol]
  problem = loop.TrainProblem(model, batch["noisy"], shared["loss_fn"], lambda step: batch)
  h, w = noisy.shape[:2]

  def snapshot(state, step):
    y = shared["forward"](state["params"], state["batch_stats"], jnp.asarray(batch["noisy"]))
    return np.asarray(y[0])[:h, :w]

  every = int(pcfg.get("snapshot_every", 0)) if protocol == "zeroshot" else 0
  state, snaps, metrics = loop.fit_in_memory(problem, config, int(pcfg.steps), snapshot_every=every,
                                             snapshot_fn=snapshot, seed=seed, desc=f"{protocol} fit",
                                             cache=shared.setdefault("trainer", {}))
  if protocol == "zeroshot":
    step, out = discrepancy_choice(snaps, noisy, common.expected_noise_mse(noisy, config.noise))
    return out, {"stop_step": step, **metrics}
  return snaps[-1][1], metrics


def run_per_image(config, model, multiple: int, test: common.TestSet) -> tuple[dict, dict]:
  """Runs the oracle or zero-shot protocol on every test image; returns (results, info)."""
  out = {"psnr": [], "ssim": [], "seconds": [], "outputs": []}
  info = {"protocol": config.protocol, "steps_per_image": int(config[config.protocol].steps)}
  stops, shared = [], {}
  for i, (clean, noisy) in enumerate(zip(test.cleans, test.noisys)):
    t0 = time.perf_counter()
    den, fit_info = fit_one(config, model, multiple, noisy, clean, config.protocol, config.seed + i, shared)
    out["seconds"].append(time.perf_counter() - t0)
    p, s = common.score(den, clean)  # the clean image is used here only to score
    out["psnr"].append(p)
    out["ssim"].append(s)
    out["outputs"].append(den)
    stops.append(fit_info.get("stop_step"))
  if config.protocol == "zeroshot":
    info["discrepancy_stop_steps"] = ",".join(str(s) for s in stops)
  return out, info
