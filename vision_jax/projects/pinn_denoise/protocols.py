"""The four protocols of the PINN denoising project, each one object read once per run.

- heldout: train once on training images (disjoint from every test image and the validation image)
  with fresh noise every step; report on test images never seen in training. The number that counts.
- oracle: the paper's Algorithm 1 as written: fit a fresh network on each test pair (noisy input,
  CLEAN TARGET) and report on that same image. An upper bound, labelled so everywhere.
- zeroshot: only the noisy test image. Two stopping rules (config.zeroshot.stop):
    "sure" (default): the image is variance-stabilised (identity for AWGN, generalized Anscombe for
      Poisson-Gaussian, unbiased log for speckle; vision_jax.noise_transforms), the prior's parameter
      and the implicit step's tau are chosen by SURE on the flow of the prior from that image
      (zeroshot.py), the network is fitted to SURE + PDE residual + boundary term, and the snapshot
      with the smallest SURE is kept and mapped back.
    "discrepancy": PDE residual + initial-condition fidelity + boundary term on the raw noisy image
      with the configured K and tau, and the snapshot whose mean (x_hat - y)^2 is closest to the
      expected noise energy (estimated from y and the noise model).
  No clean image trains, tunes or stops either.
- selfsup: train once on the training images' NOISY versions only (one fixed noisy draw per image,
  seed config.selfsup.noise_seed; no clean image enters the loss), with SURE (config.selfsup.loss =
  "sure", variance-stabilised for non-AWGN noise) or Noise2Self masking ("noise2self", needs no
  sigma), plus the configured PDE and boundary terms; report on the held-out test images.

A Protocol says which data a fit sees (`fit_batch`: None for a training pool, else the fixed batch
of one per-image fit), which loss weights apply, how the kept snapshot is chosen, and how rows are
labelled.
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
  return snapshots[-1][:2]


def discrepancy_stop(snapshots, noisy, noise_cfg) -> tuple[int, np.ndarray]:
  """(step, image) of the snapshot whose mean (x - noisy)^2 is closest to the expected noise energy."""
  target = noise_lib.expected_noise_mse(noisy, noise_cfg)
  gaps = [abs(float(np.mean((s[1] - noisy) ** 2)) - target) for s in snapshots]
  k = int(np.argmin(gaps))
  return snapshots[k][:2]


def sure_stop(snapshots, noisy, noise_cfg) -> tuple[int, np.ndarray]:
  """(step, image) of the snapshot (step, image, sure) with the smallest SURE (NaN never wins)."""
  del noisy, noise_cfg
  risks = np.array([np.nan if s[2] is None else float(s[2]) for s in snapshots])
  if np.all(np.isnan(risks)):
    raise ValueError("no snapshot carries a SURE value; expected (step, image, sure) snapshots")
  return snapshots[int(np.nanargmin(risks))][:2]


STOP_RULES = {"final": last_snapshot, "discrepancy": discrepancy_stop, "sure": sure_stop}
ZEROSHOT_STOPS = ("sure", "discrepancy")


def zeroshot_stop_rule(config) -> str:
  rule = str(config.zeroshot.get("stop", "discrepancy"))
  if rule not in ZEROSHOT_STOPS:
    raise ValueError(f"zeroshot.stop={rule!r} is invalid; expected one of {', '.join(ZEROSHOT_STOPS)}")
  return rule


def all_weights(config) -> dict:
  return {k: float(v) for k, v in dict(config.loss.weights).items()}


def without_clean_terms(config) -> dict:
  """Zero-shot has no clean target: the data and perceptual weights are 0."""
  return {**all_weights(config), "data": 0.0, "perc": 0.0}


def self_supervised_terms(config) -> dict:
  """Training on noisy images only: SURE / Noise2Self replaces the data term (weight
  config.loss.weights.data) and, since it already scores f(y) against y, the IC term; perc needs a
  clean image. The PDE and boundary terms keep their weights."""
  return {**all_weights(config), "data": 0.0, "perc": 0.0, "ic": 0.0}


def zeroshot_weights(config) -> dict:
  """The zero-shot weights of the configured stopping rule (SURE also replaces the IC term)."""
  return self_supervised_terms(config) if zeroshot_stop_rule(config) == "sure" else without_clean_terms(config)


def selfsup_label(config) -> str:
  loss = str(config.get("selfsup", {}).get("loss", "sure"))
  return {"sure": "SURE-trained", "noise2self": "Noise2Self-trained"}.get(loss, loss) + ", noisy training images only"


@dataclasses.dataclass(frozen=True)
class Protocol:
  """name: config value; label: shown in every row; data: what a fit sees (for reports);
  fit_batch: (noisy, clean, multiple) -> the fixed batch of one per-image fit, or None (a training
  pool); weights: config -> loss weights; stop: config -> a STOP_RULES name (each rule maps
  (snapshots, noisy, noise_cfg) -> (step, image)); snapshot_every: config -> steps between snapshots
  of a per-image fit (0: only the end); self_supervised: the training pool is noisy images only;
  label_fn: config -> label, when the label depends on the config."""
  name: str
  label: str
  data: str
  fit_batch: Callable | None
  weights: Callable
  stop: Callable
  snapshot_every: Callable = lambda config: 0
  self_supervised: bool = False
  label_fn: Callable | None = None

  @property
  def per_image(self) -> bool:
    return self.fit_batch is not None

  def loss_weights(self, config) -> dict:
    """The protocol's weights, with the PDE term off when there is no prior."""
    w = self.weights(config)
    return {**w, "pde": 0.0} if config.prior == "none" else w

  def label_for(self, config) -> str:
    return self.label_fn(config) if self.label_fn is not None else self.label

  def stop_fn(self, config) -> Callable:
    return STOP_RULES[self.stop(config)]


PROTOCOLS = {
    "heldout": Protocol("heldout", "held-out", "training images only (disjoint from test and validation images)",
                        None, all_weights, lambda config: "final"),
    "oracle": Protocol("oracle", "ORACLE (fits clean test target)", "each test image's noisy input AND clean target",
                       oracle_batch, all_weights, lambda config: "final"),
    "zeroshot": Protocol("zeroshot", "zero-shot", "each noisy test image alone", zeroshot_batch, zeroshot_weights,
                         zeroshot_stop_rule, lambda config: int(config.zeroshot.get("snapshot_every", 0))),
    "selfsup": Protocol("selfsup", "self-supervised, noisy training images only",
                        "one fixed noisy draw of each training image, never a clean image (disjoint from test and "
                        "validation images)", None, self_supervised_terms, lambda config: "final",
                        self_supervised=True, label_fn=selfsup_label),
}


def get_protocol(name: str) -> Protocol:
  if name not in PROTOCOLS:
    raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
  return PROTOCOLS[name]
