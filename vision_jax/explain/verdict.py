"""Pass/fail verdicts for explanation methods, from per-image check values.

A method is called trustworthy on a model when it passes all three checks:

- randomization (Adebayo et al. 2018): the mean over images of the Spearman rho between its map
  and its map after every layer is re-initialised is below `rho_threshold` (default 0.5), i.e.
  the map depends on the learned weights;
- deletion (Petsiuk et al. 2018): per image, d_i = AUC(random map) - AUC(method) of the target
  probability as the top-ranked pixels are deleted; passes when the one-sided 95% lower confidence
  bound of mean(d) (paired t: mean - t_{0.95, N-1} sd / sqrt(N)) exceeds `min_margin` (default
  0.02 AUC): the margin is larger than its spread over the images allows by chance, and larger
  than a practically nil effect (a model whose output ignores the pixels, e.g. one with random
  weights, moves its probability by less than that);
- insertion: the same with d_i = AUC(method) - AUC(random map) as pixels are restored.

A faithfulness check reads "n/a" when its curve cannot move: the mean over images of |p(end) -
p(start)| of the target probability is below MIN_RANGE = 0.1 (insertion when the blurred image is
already recognised, any check when the model ignores its input); a verdict needs at least one
informative faithfulness check.

Reports give mean ± sd over the images (sd: the spread of the images, not the uncertainty of the
mean). The random map is one uniform random map per image, scored by the same curves on the same
images; with fewer than 2 images the spread is undefined and the faithfulness checks fail.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["RHO_THRESHOLD", "MIN_MARGIN", "CONFIDENCE", "MIN_RANGE", "mean_sd", "paired_margin", "judge", "trust_summary", "VERDICT_COLUMNS"]

RHO_THRESHOLD = 0.5
MIN_MARGIN = 0.02
CONFIDENCE = 0.95
MIN_RANGE = 0.1  # a curve whose target probability moves less than this (mean over images) cannot judge a map
VERDICT_COLUMNS = ("randomization", "deletion_vs_random", "insertion_vs_random", "verdict")


def mean_sd(values) -> tuple[float, float]:
  """(mean, sample standard deviation (ddof=1; nan for one value)) of a 1-D array."""
  v = np.asarray(values, np.float64).ravel()
  if v.size == 0:
    raise ValueError("mean_sd got an empty array; expected at least one value")
  return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def paired_margin(method, random, lower_is_better: bool, min_margin: float = MIN_MARGIN,
                  confidence: float = CONFIDENCE) -> dict:
  """Per-image margin of a method over the random map: {"margin", "margin_sd", "margin_low", "passed"}.

  method, random: (N,) values on the same images; margin_i = random_i - method_i when lower is
  better (deletion AUC), method_i - random_i otherwise (insertion AUC). margin_low is the
  one-sided `confidence` lower bound of the mean margin (paired t with N - 1 degrees of freedom;
  scipy.stats.t); passed iff margin_low > min_margin (never with N < 2).
  """
  a, b = np.asarray(method, np.float64).ravel(), np.asarray(random, np.float64).ravel()
  if a.shape != b.shape:
    raise ValueError(f"method values have shape {a.shape} but random-map values {b.shape}; expected one per image")
  if not 0.5 <= float(confidence) < 1.0:
    raise ValueError(f"confidence={confidence!r} is invalid; expected 0.5 <= confidence < 1")
  d = b - a if lower_is_better else a - b
  m, sd = mean_sd(d)
  low = m - float(stats.t.ppf(confidence, d.size - 1)) * sd / np.sqrt(d.size) if d.size > 1 else float("nan")
  return {"margin": m, "margin_sd": sd, "margin_low": low, "passed": bool(np.isfinite(low) and low > min_margin)}


def _word(ok) -> str:
  return "-" if ok is None else ("pass" if ok else "fail")


def judge(deletion, insertion, random_deletion, random_insertion, rho_all=None,
          rho_threshold: float = RHO_THRESHOLD, min_margin: float = MIN_MARGIN, deletion_range: float | None = None,
          insertion_range: float | None = None, min_range: float = MIN_RANGE) -> dict:
  """The verdict columns of one method from per-image (N,) values.

  rho_all: per-image Spearman rho after full randomization, or None when the randomization
  check was not run (then the verdict rests on faithfulness only and says so).
  deletion_range / insertion_range: mean over the images of |p(end) - p(start)| of the target
  probability along the curve (the same for every map: fully deleted vs original image, blurred vs
  original); below `min_range` the check cannot tell maps apart and reads "n/a" (e.g. insertion on
  a model that already recognises the blurred image, or any check on a model that ignores its input).
  Returns {"randomization", "deletion_vs_random", "insertion_vs_random": "pass"/"fail"/"n/a"/"-",
  "verdict": "pass"/"fail", "failed": [reasons], plus the margins, their sds and lower bounds}.
  The verdict passes when nothing failed and at least one faithfulness check was informative.
  """
  if not 0.0 < float(rho_threshold) <= 1.0:
    raise ValueError(f"rho_threshold={rho_threshold!r} is invalid; expected 0 < threshold <= 1")
  dele = paired_margin(deletion, random_deletion, lower_is_better=True, min_margin=min_margin)
  ins = paired_margin(insertion, random_insertion, lower_is_better=False, min_margin=min_margin)
  rand_ok = None if rho_all is None else bool(mean_sd(rho_all)[0] < rho_threshold)
  words = {"randomization": _word(rand_ok)}
  for name, r, span in (("deletion_vs_random", dele, deletion_range), ("insertion_vs_random", ins, insertion_range)):
    words[name] = "n/a" if span is not None and span < min_range else _word(r["passed"])
  failed = [k for k, w in words.items() if w == "fail"]
  if all(words[k] == "n/a" for k in ("deletion_vs_random", "insertion_vs_random")):
    failed.append("no informative faithfulness check")
  return {**words, "verdict": "fail" if failed else "pass", "failed": failed,
          **{f"{name}_{k}": r[k] for name, r in (("deletion", dele), ("insertion", ins))
             for k in ("margin", "margin_sd", "margin_low")}}


def trust_summary(verdicts: dict, model: str, checked: Sequence[str] = ("randomization", "deletion", "insertion")) -> str:
  """One line: which methods pass every check on `model`, and why the others fail.

  verdicts: {method: judge(...) result}.
  """
  good = [m for m, v in verdicts.items() if v["verdict"] == "pass"]
  bad = [f"{m} ({', '.join(v['failed'])})" for m, v in verdicts.items() if v["verdict"] != "pass"]
  head = (f"Trustworthy on {model} (pass {', '.join(checked)}): {', '.join(good)}." if good else
          f"No method passes every check ({', '.join(checked)}) on {model}.")
  return head + (f" Not trustworthy: {'; '.join(bad)}." if bad else "")
