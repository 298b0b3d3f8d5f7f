"""The three protocols of the PINN denoising project, each one object read once per run.

- heldout: train once on training images (disjoint from every test image and the validation image)
  with fresh noise every step; report on test images never seen in training. The number that counts.
- oracle: the paper's Algorithm 1 as written: fit a fresh network on each test pair (noisy input,
  CLEAN TARGET) and report on that same image. An upper bound, labelled so everywhere.
- zeroshot: only the noisy test image: PDE residual + initial-condition fidelity + boundary term,
  stopped by the discrepancy principle (the snapshot whose mean (x_hat - y)^2 is closest to the
  expected noise energy, estimated from y and the noise model); no clean image trains or stops it.

A Protocol says which data a fit sees (`fit_batch`: None for the held-out training pool, else the
fixed batch of one per-image fit), which loss weights apply, how the kept snapshot is chosen, and
how rows are labelled.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from vision_jax import noise as noise_lib
from vision_jax.data import images as images_lib


def padded_batch(image: np.ndarray, multiple: int) -> np.ndarray:
  """(1, H', W', C): one image reflect-padded to the backbone's multiple."""
  return images_lib.pad_to_multiple(image, multiple)[0][None]


def oracle_batch(noisy, clean, multiple) -> dict:
  return {"noisy": padded_batch(noisy, multiple), "clean": padded_batch(clean, multiple)}


def zeroshot_batch(noisy, clean, multiple) -> dict:
  del clean  # never enters a zero-shot fit
  return {"noisy": padded_batch(noisy, multiple)}


def last_snapshot(snapshots, noisy, noise_cfg) -> tuple[int, np.ndarray]:
  """The final state of a fixed-length fit."""
  del noisy, noise_cfg
  return snapshots[-1]


def discrepancy_stop(snapshots, noisy, noise_cfg) -> tuple[int, np.ndarray]:
  """(step, image) of the snapshot whose mean (x - noisy)^2 is closest to the expected noise energy."""
  target = noise_lib.expected_noise_mse(noisy, noise_cfg)
  gaps = [abs(float(np.mean((img - noisy) ** 2)) - target) for _, img in snapshots]
  k = int(np.argmin(gaps))
  return snapshots[k]


def all_weights(config) -> dict:
  return {k: float(v) for k, v in dict(config.loss.weights).items()}


def without_clean_terms(config) -> dict:
  """Zero-shot has no clean target: the data and perceptual weights are 0."""
  return {**all_weights(config), "data": 0.0, "perc": 0.0}


@dataclasses.dataclass(frozen=True)
class Protocol:
  """name: config value; label: shown in every row; data: what a fit sees (for reports);
  fit_batch: (noisy, clean, multiple) -> the fixed batch of one per-image fit, or None (held-out
  training pool); weights: config -> loss weights; stop: (snapshots, noisy, noise_cfg) -> (step, image);
  snapshot_every: config -> steps between snapshots of a per-image fit (0: only the end)."""
  name: str
  label: str
  data: str
  fit_batch: Callable | None
  weights: Callable
  stop: Callable
  snapshot_every: Callable = lambda config: 0

  @property
  def per_image(self) -> bool:
    return self.fit_batch is not None

  def loss_weights(self, config) -> dict:
    """The protocol's weights, with the PDE term off when there is no prior."""
    w = self.weights(config)
    return {**w, "pde": 0.0} if config.prior == "none" else w


PROTOCOLS = {
    "heldout": Protocol("heldout", "held-out", "training images only (disjoint from test and validation images)",
                        None, all_weights, last_snapshot),
    "oracle": Protocol("oracle", "ORACLE (fits clean test target)", "each test image's noisy input AND clean target",
                       oracle_batch, all_weights, last_snapshot),
    "zeroshot": Protocol("zeroshot", "zero-shot", "each noisy test image alone", zeroshot_batch, without_clean_terms,
                         discrepancy_stop, lambda config: int(config.zeroshot.get("snapshot_every", 0))),
}


def get_protocol(name: str) -> Protocol:
  if name not in PROTOCOLS:
    raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
  return PROTOCOLS[name]
