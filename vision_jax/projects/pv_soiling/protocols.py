"""The evaluation protocols of the PV soiling project, one registry (config field `protocols`).

- heldout: the test split of each seed's stratified 70/15/15 partition: images no fit and no model
  selection has seen. The number that counts (and what Table 6 claims to report).
- paper: the full seen set, training and validation images included, as the paper's Figure 8
  confusion matrix ("on the full seen dataset (N = 383)"). An optimistic number, labelled so.
Both read the same trained models of a seed; only the evaluated images differ.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vision_jax.data import classification as data_lib


@dataclasses.dataclass(frozen=True)
class Protocol:
  """name: config value; label: shown in every row; splits: the seen-set splits it evaluates."""
  name: str
  label: str
  splits: tuple[str, ...]

  def indices(self, labels: np.ndarray, seed: int) -> np.ndarray:
    """Sorted indices of the seen set this protocol evaluates for a seed."""
    return np.sort(np.concatenate([data_lib.stratified_split(labels, s, seed) for s in self.splits]))


PROTOCOLS = {
    "heldout": Protocol("heldout", "held-out test split", ("test",)),
    "paper": Protocol("paper", "full seen set incl. training images (paper's Fig. 8)", ("train", "val", "test")),
}


def get_protocol(name: str) -> Protocol:
  if name not in PROTOCOLS:
    raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
  return PROTOCOLS[name]
