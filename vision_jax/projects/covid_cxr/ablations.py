"""The ablations the paper never ran, as one registry: each is the full run with a few config fields
changed (config.study.ablations names them), compared with a control run that differs only there.

| name | change | control | question |
|---|---|---|---|
| no_roi / no_freq / no_vessel / no_lbp | that input channel removed (3-channel Xception) | full | does the channel matter? |
| no_isolation | the image is not multiplied by the lung mask | full | does isolation matter (accuracy, coverage)? |
| shortcut | no isolation + the corner marker on train/val (p 0.9 positives, 0.1 negatives), clean test | no_isolation | does the model take the shortcut: coverage falls, clean-test MCC drops? |
| shortcut_isolated | isolation on + the same marker | full | does lung isolation remove the shortcut (the marker lies outside the lungs)? |
"""

from __future__ import annotations

import dataclasses

from vision_jax.projects.covid_cxr.pipeline import CHANNELS


@dataclasses.dataclass(frozen=True)
class Ablation:
  name: str
  label: str
  overrides: dict
  control: str
  question: str


def _without(channel: str) -> Ablation:
  rest = ",".join(c for c in CHANNELS if c != channel)
  return Ablation(f"no_{channel}", f"without the {channel} channel",
                  {"data.options.channels": rest, "model.in_channels": len(CHANNELS) - 1}, "full",
                  f"does the {channel} channel matter?")


FULL = Ablation("full", "full pipeline (4 channels, lung isolation)", {}, "full", "the paper's pipeline")
ABLATIONS = {a.name: a for a in (
    FULL,
    *(_without(c) for c in CHANNELS),
    Ablation("no_isolation", "no lung isolation", {"data.options.isolate": False}, "full",
             "does multiplying by the lung mask matter?"),
    Ablation("shortcut", "corner-marker shortcut in train/val, no isolation",
             {"data.options.isolate": False, "data.options.marker": True}, "no_isolation",
             "trained with the marker, tested without: does coverage fall and clean-test MCC drop?"),
    Ablation("shortcut_isolated", "corner-marker shortcut in train/val, with isolation",
             {"data.options.marker": True}, "full", "does lung isolation remove the shortcut?"),
)}


def get_ablation(name: str) -> Ablation:
  if name not in ABLATIONS:
    raise ValueError(f"unknown ablation {name!r}; valid: {', '.join(ABLATIONS)}")
  return ABLATIONS[name]


def run_order(names) -> list[str]:
  """"full" first, then every named ablation and the controls they need, each once, in registry order."""
  wanted = {"full"}
  for n in names:
    a = get_ablation(n)
    wanted |= {a.name, a.control}
  return [n for n in ABLATIONS if n in wanted]
