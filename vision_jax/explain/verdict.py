"""Pass/fail verdicts for explanation methods, from per-image check values.

A method is called trustworthy on a model when no check fails and a faithfulness check passes:

- randomization (Adebayo et al. 2018): the mean over images of the Spearman rho between its map
  and its map after every layer is re-initialised is below `rho_threshold` (default 0.5), i.e.
  the map depends on the learned weights;
- deletion (Petsiuk et al. 2018): per image, d_i = AUC(random map) - AUC(method) of the target
  probability as the top-ranked pixels are deleted; passes when the one-sided 95% lower confidence
  bound of mean(d) (paired t: mean - t_{0.95, N-1} sd / sqrt(N)) exceeds `min_margin` (default
  0.02 AUC): the margin is larger than its spread over the images allows by chance, and larger
  than a practically nil effect; fails when the upper bound is below min_margin (the map does not
  beat random maps by that much); inconclusive in between;
- insertion: the same with d_i = AUC(method) - AUC(random map) as pixels are restored.

An image whose curve cannot move (|p(end) - p(start)| of the target probability below MIN_RANGE =
0.1: insertion when the blurred image is already recognised, any curve when the model ignores its
input) is left out of that check; with fewer than MIN_IMAGES = 3 informative images the check reads
"n/a". A verdict needs at least one informative faithfulness check.

Reports give mean ± sd over the images (sd: the spread of the images, not the uncertainty of the
mean). The random map is one uniform random map per image, scored by the same curves on the same
images; with fewer than 2 images the spread is undefined and the faithfulness checks fail.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["RHO_THRESHOLD", "MIN_MARGIN", "CONFIDENCE", "MIN_RANGE", "MIN_IMAGES", "mean_sd", "paired_margin", "judge", "trust_summary", "VERDICT_COLUMNS"]

RHO_THRESHOLD = 0.5
MIN_MARGIN = 0.02
CONFIDENCE = 0.95
MIN_RANGE = 0.1  # an image whose curve moves the target probability less than this cannot judge a map
MIN_IMAGES = 3  # informative images a faithfulness check needs
VERDICT_COLUMNS = ("randomization", "deletion_vs_random", "insertion_vs_random", "verdict")


def mean_sd(values) -> tuple[float, float]:
  """(mean, sample standard deviation (ddof=1; nan for one value)) of a 1-D array."""
  v = np.asarray(values, np.float64).ravel()
  if v.size == 0:
    raise ValueError("mean_sd got an empty array; expected at least one value")
  return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def paired_margin(method, random, lower_is_better: bool, min_margin: float = MIN_MARGIN,
                  confidence: float = CONFIDENCE, informative=None) -> dict:
  """Per-image margin of a method over the random map:
  {"margin", "margin_sd", "margin_low", "margin_high", "passed", "status", "images"}.

  method, random: (N,) values on the same images; margin_i = random_i - method_i when lower is
  better (deletion AUC), method_i - random_i otherwise (insertion AUC); informative: optional (N,)
  bool, the images the statistics use (all by default), counted in "images". margin_low /
  margin_high are the one-sided `confidence` lower / upper bounds of the mean margin (paired t with
  n - 1 degrees of freedom; scipy.stats.t). status: "pass" iff margin_low > min_margin (passed),
  "fail" iff margin_high < min_margin (it does not beat random by min_margin), else "inconclusive"
  (too few or too spread images to tell; always with fewer than 2 images).
  """
  a, b = np.asarray(method, np.float64).ravel(), np.asarray(random, np.float64).ravel()
  if a.shape != b.shape:
    raise ValueError(f"method values have shape {a.shape} but random-map values {b.shape}; expected one per image")
  if not 0.5 <= float(confidence) < 1.0:
    raise ValueError(f"confidence={confidence!r} is invalid; expected 0.5 <= confidence < 1")
  d = b - a if lower_is_better else a - b
  if informative is not None:
    d = d[np.asarray(informative, bool).ravel()]
  nan = float("nan")
  if d.size == 0:
    return {"margin": nan, "margin_sd": nan, "margin_low": nan, "margin_high": nan, "passed": False,
            "status": "inconclusive", "images": 0}
  m, sd = mean_sd(d)
  half = float(stats.t.ppf(confidence, d.size - 1)) * sd / np.sqrt(d.size) if d.size > 1 else nan
  low, high = m - half, m + half
  passed = bool(np.isfinite(low) and low > min_margin)
  status = "pass" if passed else ("fail" if np.isfinite(high) and high < min_margin else "inconclusive")
  return {"margin": m, "margin_sd": sd, "margin_low": low, "margin_high": high, "passed": passed, "status": status,
          "images": int(d.size)}


def _word(ok) -> str:
  return "-" if ok is None else ("pass" if ok else "fail")


def judge(deletion, insertion, random_deletion, random_insertion, rho_all=None,
          rho_threshold: float = RHO_THRESHOLD, min_margin: float = MIN_MARGIN, deletion_range=None,
          insertion_range=None, min_range: float = MIN_RANGE, min_images: int = MIN_IMAGES) -> dict:
  """The verdict columns of one method from per-image (N,) values.

  rho_all: per-image Spearman rho after full randomization, or None when the randomization
  check was not run (then the verdict rests on faithfulness only and says so).
  deletion_range / insertion_range: per image (N,), |p(end) - p(start)| of the target probability
  along the curve (the same for every map: fully deleted vs original image, blurred vs original).
  An image whose curve moves less than `min_range` cannot tell maps apart and is left out of that
  check; with fewer than `min_images` informative images the check reads "n/a" (e.g. insertion on a
  model that already recognises the blurred images, any check on a model that ignores its input).
  Returns {"randomization": "pass"/"fail"/"-", "deletion_vs_random", "insertion_vs_random":
  "pass"/"fail"/"inconclusive"/"n/a" (see paired_margin), "verdict": "pass"/"fail"/"inconclusive",
  "failed": [reasons], plus per check the margin, its sd, its bounds and the number of images
  used}. Verdict: "fail" when a check fails or no faithfulness check is informative; else "pass"
  when at least one faithfulness check passes; else "inconclusive".
  """
  if not 0.0 < float(rho_threshold) <= 1.0:
    raise ValueError(f"rho_threshold={rho_threshold!r} is invalid; expected 0 < threshold <= 1")
  inf = lambda span: None if span is None else np.asarray(span, np.float64).ravel() >= min_range  # noqa: E731
  dele = paired_margin(deletion, random_deletion, True, min_margin, informative=inf(deletion_range))
  ins = paired_margin(insertion, random_insertion, False, min_margin, informative=inf(insertion_range))
  rand_ok = None if rho_all is None else bool(mean_sd(rho_all)[0] < rho_threshold)
  words = {"randomization": _word(rand_ok)}
  faith = ("deletion_vs_random", "insertion_vs_random")
  for name, r in zip(faith, (dele, ins)):
    words[name] = "n/a" if r["images"] < min_images else r["status"]
  failed = [k for k, w in words.items() if w == "fail"]
  if all(words[k] == "n/a" for k in faith):
    failed.append("no informative faithfulness check")
  verdict = "fail" if failed else ("pass" if any(words[k] == "pass" for k in faith) else "inconclusive")
  return {**words, "verdict": verdict, "failed": failed,
          **{f"{name}_{k}": r[k] for name, r in (("deletion", dele), ("insertion", ins))
             for k in ("margin", "margin_sd", "margin_low", "margin_high")},
          "deletion_images": dele["images"], "insertion_images": ins["images"]}


def trust_summary(verdicts: dict, model: str, checked: Sequence[str] = ("randomization", "deletion", "insertion")) -> str:
  """One line: which methods are trustworthy on `model`, which cannot be told, and why the others fail.

  verdicts: {method: judge(...) result}.
  """
  good = [m for m, v in verdicts.items() if v["verdict"] == "pass"]
  unsure = [m for m, v in verdicts.items() if v["verdict"] == "inconclusive"]
  bad = [f"{m} ({', '.join(v['failed'])})" for m, v in verdicts.items() if v["verdict"] == "fail"]
  head = (f"Trustworthy on {model} (no check of {', '.join(checked)} fails, one faithfulness check passes): "
          f"{', '.join(good)}." if good else f"No method is shown trustworthy on {model}.")
  return (head + (f" Inconclusive (too few or too spread images): {', '.join(unsure)}." if unsure else "")
          + (f" Not trustworthy: {'; '.join(bad)}." if bad else ""))
