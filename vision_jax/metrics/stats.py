"""Significance tests for comparing methods over folds or runs, as the seed papers run them, through
scipy.stats and statsmodels (never re-implemented here).

- mann_whitney: two independent samples (e.g. wS of averaging vs a stacking meta-learner over ensembles).
- shapiro_wilk: normality of one sample (decides between paired t and Wilcoxon in the EKD paper).
- friedman: k related samples (methods x the same folds), with the average ranks (1 = best).
- wilcoxon_holm: paired Wilcoxon signed-rank tests for chosen method pairs, Holm-Bonferroni adjusted.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def mann_whitney(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> dict:
  """{"U": U statistic of `a`, "p": p-value} of scipy.stats.mannwhitneyu (exact for small samples
  without ties, else the normal approximation, scipy's "auto")."""
  from scipy import stats
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.size < 1 or b.size < 1:
    raise ValueError(f"Mann-Whitney needs two non-empty samples, got sizes {a.size} and {b.size}")
  r = stats.mannwhitneyu(a, b, alternative=alternative)
  return {"U": float(r.statistic), "p": float(r.pvalue), "n_a": int(a.size), "n_b": int(b.size)}


def shapiro_wilk(x: Sequence[float]) -> dict:
  """{"W", "p"} of scipy.stats.shapiro (needs >= 3 values; NaN for a constant sample)."""
  from scipy import stats
  x = np.asarray(x, np.float64)
  if x.size < 3:
    raise ValueError(f"Shapiro-Wilk needs at least 3 values, got {x.size}")
  if np.ptp(x) == 0:
    return {"W": float("nan"), "p": float("nan")}
  r = stats.shapiro(x)
  return {"W": float(r.statistic), "p": float(r.pvalue)}


def average_ranks(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
  """Mean rank of each method (column) over the blocks (rows) of scores (n_blocks, n_methods):
  rank 1 is the best within a block, ties get their average rank (scipy.stats.rankdata)."""
  from scipy import stats
  s = np.asarray(scores, np.float64)
  if s.ndim != 2 or s.shape[1] < 2:
    raise ValueError(f"scores have shape {s.shape}; expected (n_blocks, n_methods >= 2)")
  ranks = stats.rankdata(-s if higher_is_better else s, axis=1)
  return ranks.mean(axis=0)


def friedman(scores: np.ndarray, higher_is_better: bool = True) -> dict:
  """Friedman test over methods (columns) measured on the same blocks (rows, e.g. folds):
  {"chi2", "p", "average_ranks"}; p is NaN when every block ranks all methods equal."""
  from scipy import stats
  s = np.asarray(scores, np.float64)
  if s.ndim != 2 or s.shape[1] < 3 or s.shape[0] < 2:
    raise ValueError(f"scores have shape {s.shape}; Friedman needs (n_blocks >= 2, n_methods >= 3)")
  ranks = average_ranks(s, higher_is_better)
  if np.all(np.ptp(s, axis=1) == 0):
    return {"chi2": float("nan"), "p": float("nan"), "average_ranks": ranks}
  r = stats.friedmanchisquare(*[s[:, j] for j in range(s.shape[1])])
  return {"chi2": float(r.statistic), "p": float(r.pvalue), "average_ranks": ranks}


def wilcoxon_holm(scores: Mapping[str, Sequence[float]], pairs: Sequence[tuple[str, str]],
                  alpha: float = 0.05) -> list[dict]:
  """Paired two-sided Wilcoxon signed-rank tests (scipy.stats.wilcoxon) for each (a, b) in pairs,
  p-values adjusted by Holm-Bonferroni over the pairs that could be tested
  (statsmodels.stats.multitest.multipletests, method="holm"). A pair with all differences zero gets
  p = 1. Returns one dict per pair: {"a", "b", "statistic", "p", "p_holm", "reject"}."""
  from scipy import stats
  from statsmodels.stats.multitest import multipletests
  rows = []
  for a, b in pairs:
    if a not in scores or b not in scores:
      raise ValueError(f"pair ({a!r}, {b!r}) names a method without scores; have {', '.join(scores)}")
    x, y = np.asarray(scores[a], np.float64), np.asarray(scores[b], np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 1:
      raise ValueError(f"scores of {a!r} {x.shape} and {b!r} {y.shape} must be equal-length 1-D samples")
    if np.all(x == y):
      rows.append({"a": a, "b": b, "statistic": 0.0, "p": 1.0})
      continue
    r = stats.wilcoxon(x, y, alternative="two-sided")
    rows.append({"a": a, "b": b, "statistic": float(r.statistic), "p": float(r.pvalue)})
  if rows:
    reject, adjusted, _, _ = multipletests([r["p"] for r in rows], alpha=alpha, method="holm")
    for r, rej, adj in zip(rows, reject, adjusted):
      r.update(p_holm=float(adj), reject=bool(rej))
  return rows


def smallest_wilcoxon_p(n: int) -> float:
  """The smallest two-sided exact Wilcoxon p-value n paired values can reach (all differences of one
  sign): 2 / 2^n. With n = 3 folds it is 0.25, so no fold count below 6 can reach p < 0.05."""
  if n < 1:
    raise ValueError(f"n={n} is invalid; expected >= 1")
  return min(1.0, 2.0 / 2 ** n)
