"""Late-fusion ensembles and their selection: softmax averaging, ensemble costs, Pareto fronts and
weighted radar-area scoring (Prvan et al., MedMNIST ensembles; seed 002 article 5), plus a stacking
meta-learner (scikit-learn MLP) on the members' probabilities.

All functions are NumPy in, NumPy out (they run on tables of results, never inside jit).

Selection, the paper's two stages:
  Stage 1 (per category: CNN-only, DNN-only, hybrid): for each cost c in (size, FLOPs, time) the 2-D
    Pareto front of (wS, c^C) with c^C = 1 - c / max c (Eq. 4), P1, P2, P3; Q = P1 & P2 & P3,
    U = P1 | P2 | P3.
  Stage 2: F = union of the categories' Q; F' = members of F whose size is <= the cap (34 MB); each
    member of F' is scored by the area of its 7-axis radar polygon (wS, wP, BA, AUC, Size^C, FLOPs^C,
    Time^C) with Eq. 5's complement c^C = 1 - (1 / mean c) (c / max c), max and mean taken over F';
    the largest area wins overall, and per category among F'.
Equal wS values are broken by row order (an earlier row counts as better), which is what the paper's
rounded tables need to give its Q sets.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Mapping, Sequence

import numpy as np

COSTS = ("size", "flops", "time")
RADAR_AXES = ("wS", "wP", "BA", "AUC", "size", "flops", "time")  # the last three enter as Eq. 5 complements
CATEGORIES = ("CNN", "DNN", "HYB")


# ----------------------------------------------------------------------------- fusion and costs
def average_probabilities(member_probs: Sequence[np.ndarray]) -> np.ndarray:
  """Unweighted late fusion: the mean of M members' class probabilities (M, N, K) -> (N, K)."""
  probs = np.asarray(member_probs, np.float64)
  if probs.ndim != 3 or probs.shape[0] < 1:
    raise ValueError(f"member probabilities have shape {probs.shape}; expected (M >= 1, N, K)")
  return probs.mean(axis=0)


def ensemble_cost(sizes: Sequence[float], flops: Sequence[float], times: Sequence[float]) -> dict:
  """An ensemble's cost from its members': size and FLOPs add up, time is the slowest member's
  (members run in parallel). Units are the inputs' (MB, FLOPs, seconds)."""
  if not (len(sizes) == len(flops) == len(times) >= 1):
    raise ValueError(f"got {len(sizes)} sizes, {len(flops)} FLOPs, {len(times)} times; expected one of each per member")
  return {"size": float(np.sum(sizes)), "flops": float(np.sum(flops)), "time": float(np.max(times))}


def combinations(names: Sequence[str], min_size: int = 2, max_size: int = 4) -> list[tuple[str, ...]]:
  """Every combination of `names` with min_size..max_size members, in itertools order."""
  if min_size < 1 or max_size < min_size:
    raise ValueError(f"ensemble sizes {min_size}..{max_size} are invalid; expected 1 <= min <= max")
  return [c for k in range(min_size, min(max_size, len(names)) + 1) for c in itertools.combinations(names, k)]


# ----------------------------------------------------------------------------- Pareto (stage 1)
def complement(cost: Sequence[float]) -> np.ndarray:
  """Eq. 4: c^C = 1 - c / max(c), so that larger is better; (n,) -> (n,)."""
  c = np.asarray(cost, np.float64)
  top = c.max()
  if top <= 0:
    raise ValueError(f"costs {c.tolist()} have max {top}; expected a positive maximum")
  return 1.0 - c / top


def pareto_front(performance: Sequence[float], benefit: Sequence[float]) -> np.ndarray:
  """Boolean mask (n,) of the points on the 2-D Pareto front maximising (performance, benefit).

  Ties in performance are broken by position (an earlier point counts as better), so the order is
  strict: a point is on the front iff its benefit is strictly larger than that of every point
  ranked above it.
  """
  perf = np.asarray(performance, np.float64)
  ben = np.asarray(benefit, np.float64)
  if perf.shape != ben.shape or perf.ndim != 1:
    raise ValueError(f"performance {perf.shape} and benefit {ben.shape} must be equal 1-D shapes")
  order = sorted(range(len(perf)), key=lambda i: (-perf[i], i))
  mask = np.zeros(len(perf), bool)
  best = -np.inf
  for i in order:
    if ben[i] > best:
      mask[i] = True
      best = ben[i]
  return mask


def pareto_sets(rows: Sequence[Mapping], performance: str = "wS") -> dict:
  """Stage 1 for one category: {"P": {cost: [names]}, "Q": [names], "U": [names]} (row order kept).

  rows: dicts with "name", `performance` and the COSTS ("size" MB, "flops", "time" s).
  """
  if not rows:
    return {"P": {c: [] for c in COSTS}, "Q": [], "U": []}
  names = [str(r["name"]) for r in rows]
  perf = [float(r[performance]) for r in rows]
  fronts = {c: pareto_front(perf, complement([float(r[c]) for r in rows])) for c in COSTS}
  q = np.logical_and.reduce([fronts[c] for c in COSTS])
  u = np.logical_or.reduce([fronts[c] for c in COSTS])
  return {"P": {c: [n for n, m in zip(names, fronts[c]) if m] for c in COSTS},
          "Q": [n for n, m in zip(names, q) if m], "U": [n for n, m in zip(names, u) if m]}


# ----------------------------------------------------------------------------- radar (stage 2)
def radar_complement(cost: Sequence[float]) -> np.ndarray:
  """Eq. 5: c^C = 1 - (1 / mean(c)) * (c / max(c)), over the set being scored; (n,) -> (n,).

  Unit-dependent: c^C lies in [1 - 1 / mean(c), 1), negative for the costliest rows when mean(c) < 1.
  The paper's units (MB, MFLOPs, seconds on its test sets) all have means > 1; keep that property
  (e.g. time in milliseconds for small test sets)."""
  c = np.asarray(cost, np.float64)
  if c.size == 0 or c.max() <= 0:
    raise ValueError(f"costs {c.tolist()} are invalid; expected at least one and a positive maximum")
  return 1.0 - (c / c.max()) / c.mean()


def polygon_area(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Shoelace area of closed polygons with vertices (x, y) along the last axis; (..., V) -> (...)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  return 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1))


def radar_area(radii: np.ndarray) -> np.ndarray:
  """Area of radar polygons with K equally spaced axes: 1/2 sin(2 pi / K) sum_i r_i r_{i+1}
  (cyclic), the shoelace area of the vertices r_i (cos 2 pi i / K, sin 2 pi i / K); (..., K) -> (...)."""
  r = np.asarray(radii, np.float64)
  k = r.shape[-1]
  if k < 3:
    raise ValueError(f"a radar polygon needs at least 3 axes, got {k}")
  return 0.5 * math.sin(2 * math.pi / k) * np.sum(r * np.roll(r, -1, axis=-1), axis=-1)


def radar_radii(rows: Sequence[Mapping], axes: Sequence[str] = RADAR_AXES) -> np.ndarray:
  """(n, K) radar coordinates of rows: performance axes as they are, cost axes (COSTS) as Eq. 5
  complements over these rows."""
  cols = []
  for axis in axes:
    values = [float(r[axis]) for r in rows]
    cols.append(radar_complement(values) if axis in COSTS else np.asarray(values, np.float64))
  return np.stack(cols, axis=-1)


@dataclasses.dataclass(frozen=True)
class Selection:
  """The two stages' result.

  stage1: {category: pareto_sets(...)}; F / F_prime: names (category order, then row order);
  areas: {name: radar area over F'}; best: {category: name or None} among F'; overall: name;
  areas_F / best_F / overall_F: the same scoring over F (no size cap), for reference.
  """
  stage1: dict
  F: list
  F_prime: list
  areas: dict
  best: dict
  overall: str | None
  areas_F: dict
  best_F: dict
  overall_F: str | None


def _score(rows: list[Mapping], categories: Mapping[str, str]) -> tuple[dict, dict, str | None]:
  if not rows:
    return {}, {c: None for c in CATEGORIES}, None
  areas = dict(zip([r["name"] for r in rows], radar_area(radar_radii(rows)).tolist()))
  best = {}
  for cat in CATEGORIES:
    inside = [n for n in areas if categories[n] == cat]
    best[cat] = max(inside, key=lambda n: areas[n]) if inside else None
  return areas, best, max(areas, key=lambda n: areas[n])


def select(rows_by_category: Mapping[str, Sequence[Mapping]], size_cap: float = 34.0) -> Selection:
  """Both stages on rows grouped by category ("CNN", "DNN", "HYB"); rows as in pareto_sets plus the
  radar's performance axes wP, BA, AUC. size_cap: the largest implementable size (same unit as "size")."""
  unknown = sorted(set(rows_by_category) - set(CATEGORIES))
  if unknown:
    raise ValueError(f"unknown ensemble categories {unknown}; expected some of {', '.join(CATEGORIES)}")
  stage1, chosen, categories = {}, [], {}
  for cat in CATEGORIES:
    rows = list(rows_by_category.get(cat, []))
    stage1[cat] = pareto_sets(rows)
    by_name = {str(r["name"]): r for r in rows}
    for name in stage1[cat]["Q"]:
      chosen.append(by_name[name])
      categories[name] = cat
  implementable = [r for r in chosen if float(r["size"]) <= size_cap]
  areas, best, overall = _score(implementable, categories)
  areas_f, best_f, overall_f = _score(chosen, categories)
  return Selection(stage1, [r["name"] for r in chosen], [r["name"] for r in implementable], areas, best, overall,
                   areas_f, best_f, overall_f)


# ----------------------------------------------------------------------------- stacking
HIDDEN_GRID = ((8,), (16,), (32,), (64,), (8, 16), (8, 32), (8, 64), (16, 32), (16, 64), (32, 64))


def stacking_features(member_probs: Sequence[np.ndarray]) -> np.ndarray:
  """Concatenated member probabilities (M, N, K) -> (N, M K), the meta-learner's input."""
  probs = np.asarray(member_probs, np.float64)
  if probs.ndim != 3:
    raise ValueError(f"member probabilities have shape {probs.shape}; expected (M, N, K)")
  return np.transpose(probs, (1, 0, 2)).reshape(probs.shape[1], -1)


def fit_stacker(member_probs: Sequence[np.ndarray], labels: np.ndarray, hidden_grid=HIDDEN_GRID, *, seed: int = 0,
                cv: int = 3, max_iter: int = 500):
  """A stacking meta-learner: scikit-learn MLPClassifier (ReLU, Adam) on the concatenated member
  probabilities of a held-out split, its hidden layers chosen from hidden_grid by stratified cv-fold
  log loss on that same split. Returns (fitted estimator, chosen hidden sizes)."""
  from sklearn.model_selection import GridSearchCV, StratifiedKFold
  from sklearn.neural_network import MLPClassifier
  x = stacking_features(member_probs)
  y = np.asarray(labels)
  counts = np.bincount(y)
  folds = max(2, min(cv, int(counts[counts > 0].min())))
  base = MLPClassifier(max_iter=max_iter, random_state=seed)
  search = GridSearchCV(base, {"hidden_layer_sizes": [tuple(h) for h in hidden_grid]}, scoring="neg_log_loss",
                        cv=StratifiedKFold(folds, shuffle=True, random_state=seed), refit=True)
  search.fit(x, y)
  return search.best_estimator_, tuple(search.best_params_["hidden_layer_sizes"])


def stacker_probabilities(estimator, member_probs: Sequence[np.ndarray], num_classes: int) -> np.ndarray:
  """(N, K) probabilities of a fitted stacker, with zero columns for classes it never saw."""
  part = estimator.predict_proba(stacking_features(member_probs))
  out = np.zeros((part.shape[0], num_classes))
  out[:, estimator.classes_] = part
  return out


# ----------------------------------------------------------------------------- metrics
def paper_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
  """The paper's metrics from labels (N,) and probabilities (N, K): wS (= weighted recall, which is
  the overall accuracy), wP (support-weighted precision), F1 (support-weighted), BA (mean per-class
  recall) and AUC (macro one-vs-rest; for K = 2 the AUC of p(class 1)), via
  vision_jax.metrics.evaluation.compute_metrics."""
  from vision_jax.metrics.evaluation import compute_metrics
  s = compute_metrics(np.asarray(labels), np.asarray(probs))["summary"]
  return {"wS": s["recall_weighted"], "wP": s["precision_weighted"], "F1": s["f1_weighted"],
          "BA": s["balanced_accuracy"], "AUC": s.get("roc_auc_macro", s.get("roc_auc", float("nan"))),
          "accuracy": s["accuracy"]}
