"""Explanation quality (the seed-001 layer): relevance against a known region, faithfulness, sanity,
and a global surrogate's fidelity, gathered into one table per model.

Definitions (seed 001 names the criteria only; these are ours, see the spec):
- pointing game (Zhang et al. 2018): a map "hits" when its maximum lies inside the ground-truth
  region (dilated by `tolerance` pixels); ties count as a hit if any maximal pixel is inside. A
  uniform random map hits with probability about the region's area share.
- attribution mass in the region: sum(map * region) / sum(map) (`checks.energy_in_mask`); a
  uniform map scores the area share, a map focused on the object scores far above it.
- deletion / insertion AUC (`checks.deletion_insertion_auc`, Petsiuk et al. 2018) next to the same
  curves for a random pixel order (a uniform random map per image).
- randomization sanity (`checks.randomization_sanity`, Adebayo et al. 2018): Spearman rho of the map
  with the map after all layers are re-drawn (near 0 passes).
- global surrogate: a scikit-learn decision tree fitted on the network's pooled features to the
  network's own predictions (training split); fidelity = how often the tree agrees with the network
  on held-out images.

Boxes are xyxy in pixel units, pixel (i, j) covering [j, j + 1) x [i, i + 1): a pixel is inside a
box when its centre (j + 0.5, i + 0.5) is.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import jax
import numpy as np
from scipy import ndimage

from vision_jax.explain import _core, checks

__all__ = ["box_masks", "pointing_game", "mass_in_region", "surrogate_tree", "quality_rows",
           "explanation_quality", "QUALITY_NOTES"]


def box_masks(boxes, hw) -> np.ndarray:
  """(N, H, W) bool masks of xyxy pixel boxes (N, 4): pixels whose centres lie inside."""
  b = np.asarray(boxes, np.float64)
  if b.ndim != 2 or b.shape[1] != 4:
    raise ValueError(f"boxes has shape {b.shape}; expected (N, 4) xyxy pixel boxes")
  h, w = int(hw[0]), int(hw[1])
  cy = np.arange(h) + 0.5
  cx = np.arange(w) + 0.5
  in_y = (cy[None, :] >= b[:, 1:2]) & (cy[None, :] < b[:, 3:4])
  in_x = (cx[None, :] >= b[:, 0:1]) & (cx[None, :] < b[:, 2:3])
  return in_y[:, :, None] & in_x[:, None, :]


def _region(masks, maps_shape) -> np.ndarray:
  m = np.asarray(masks).astype(bool)
  if m.shape != tuple(maps_shape):
    raise ValueError(f"masks have shape {m.shape}; expected {tuple(maps_shape)} (one (H, W) region per map)")
  return m


def pointing_game(maps, masks, tolerance: int = 0) -> np.ndarray:
  """(N,) bool: does each map's maximum fall inside its region (dilated by `tolerance` pixels)?"""
  maps = np.asarray(maps, np.float64)
  if maps.ndim != 3:
    raise ValueError(f"maps has shape {maps.shape}; expected (N, H, W) heatmaps")
  region = _region(masks, maps.shape)
  if int(tolerance) != tolerance or tolerance < 0:
    raise ValueError(f"tolerance={tolerance!r} is invalid; expected a nonnegative integer (pixels)")
  if tolerance:
    disk = np.hypot(*np.mgrid[-tolerance:tolerance + 1, -tolerance:tolerance + 1]) <= tolerance
    region = np.stack([ndimage.binary_dilation(r, disk) for r in region])
  peak = maps >= maps.max(axis=(1, 2), keepdims=True)
  return np.any(peak & region, axis=(1, 2)) & (maps.max(axis=(1, 2)) > 0)


def mass_in_region(maps, masks) -> np.ndarray:
  """(N,) share of each nonnegative map's total inside its region (0 for an all-zero map)."""
  maps = np.asarray(maps, np.float64)
  return checks.energy_in_mask(maps, _region(masks, maps.shape))


def surrogate_tree(train_features, train_predictions, test_features, test_predictions, test_labels=None, *,
                   max_depth: int = 4, seed: int = 0) -> dict:
  """A decision tree mimicking the network (a global surrogate) and its fidelity.

  Fitted on (train_features (N, D), the network's predicted classes on them); evaluated on held-out
  features: fidelity = mean(tree == network), plus the tree's and the network's accuracy on
  test_labels when given. Returns {"fidelity", "tree_accuracy", "network_accuracy", "depth",
  "leaves", "max_depth", "tree"} (tree: the fitted sklearn estimator, for export_text / plotting).
  """
  from sklearn.tree import DecisionTreeClassifier
  xtr, xte = np.asarray(train_features, np.float64), np.asarray(test_features, np.float64)
  ytr, yte = np.asarray(train_predictions), np.asarray(test_predictions)
  if xtr.ndim != 2 or xte.ndim != 2 or xtr.shape[1] != xte.shape[1]:
    raise ValueError(f"features have shapes {xtr.shape} and {xte.shape}; expected (N, D) and (M, D)")
  if ytr.shape != (len(xtr),) or yte.shape != (len(xte),):
    raise ValueError(f"predictions have shapes {ytr.shape} and {yte.shape}; expected ({len(xtr)},) and ({len(xte)},)")
  if int(max_depth) != max_depth or max_depth < 1:
    raise ValueError(f"max_depth={max_depth!r} is invalid; expected a positive integer")
  tree = DecisionTreeClassifier(max_depth=int(max_depth), random_state=seed).fit(xtr, ytr)
  pred = tree.predict(xte)
  out = {"fidelity": float(np.mean(pred == yte)), "depth": int(tree.get_depth()), "leaves": int(tree.get_n_leaves()),
         "max_depth": int(max_depth), "tree": tree}
  if test_labels is not None:
    lab = np.asarray(test_labels)
    out["tree_accuracy"] = float(np.mean(pred == lab))
    out["network_accuracy"] = float(np.mean(yte == lab))
  return out


QUALITY_NOTES = (
    "- deletion / insertion AUC: target probability as the top-ranked pixels are removed (set to the deletion "
    "baseline value) / restored into a blurred image; lower deletion, higher insertion = more faithful; the random "
    "row ranks pixels at random.",
    "- pointing: share of images whose map maximum lies in the ground-truth region; mass_in_region: share of the "
    "map's total inside it; a uniform map scores area_share on both (about).",
    "- rho_all_randomized: Spearman rho of the map with the map after every layer is re-drawn (cascading "
    "randomization); near 0 passes, near 1 means the map ignores the learned weights.",
)


def quality_rows(model_fn: Callable, x, maps: Mapping[str, np.ndarray], target, *, masks=None, steps: int = 16,
                 sanity: Mapping[str, float] | None = None, seed: int = 0, tolerance: int = 0,
                 baseline: float = 0.0) -> list[dict]:
  """One row per map (plus "random (baseline)") of the explanation-quality table.

  model_fn: x -> logits or (logits, aux); maps: {name: (N, H, W) nonnegative heatmaps} on images x
  (N, H, W, C) for classes `target` (N,); masks: optional (N, H, W) ground-truth regions (box or
  object); sanity: {name: rho after full randomization}; baseline: the value deleted pixels take
  (0 = black; use the data's mean when black itself is evidence for a class). Columns: deletion_auc, insertion_auc,
  insertion_minus_deletion, and with masks pointing, mass_in_region, area_share; rho_all_randomized.
  """
  x = _core.check_images(x, "quality_rows")
  n, h, w, _ = x.shape
  rng = np.random.default_rng(seed)
  all_maps = dict(maps)
  all_maps["random (baseline)"] = rng.random((n, h, w))
  region = None if masks is None else _region(masks, (n, h, w))
  area = None if region is None else float(region.mean())
  rows = []
  for name, heat in all_maps.items():
    heat = np.asarray(heat, np.float64)
    if heat.shape != (n, h, w):
      raise ValueError(f"map {name!r} has shape {heat.shape}; expected {(n, h, w)}")
    curves = checks.deletion_insertion_auc(model_fn, x, heat, target, steps, baseline=baseline)
    row = {"method": name, "deletion_auc": float(curves["deletion"].mean()),
           "insertion_auc": float(curves["insertion"].mean())}
    row["insertion_minus_deletion"] = row["insertion_auc"] - row["deletion_auc"]
    if region is not None:
      row["pointing"] = float(pointing_game(heat, region, tolerance).mean())
      row["mass_in_region"] = float(mass_in_region(heat, region).mean())
      row["area_share"] = area
    if sanity is not None and name in sanity:
      row["rho_all_randomized"] = float(sanity[name])
    rows.append(row)
  return rows


def explanation_quality(model, variables, x, target=None, methods: Sequence[str] = ("grad_cam", "saliency"), *,
                        masks=None, steps: int = 16, randomize: bool = True, key=None,
                        method_kwargs: Mapping[str, dict] | None = None, extra_maps: Mapping | None = None,
                        tolerance: int = 0, baseline: float = 0.0) -> tuple[list[dict], dict]:
  """The explanation-quality table of a classifier for METHODS names (+ precomputed `extra_maps`, e.g. LIME).

  Returns (rows, maps): rows as `quality_rows` (randomization sanity for the METHODS entries when
  randomize=True, via `checks.randomization_sanity`), maps {name: (N, H, W)}.
  """
  from vision_jax.explain import METHODS
  x = _core.check_images(x, "explanation_quality")
  target = _core.resolve_target(model, variables, x, target)
  method_kwargs = dict(method_kwargs or {})
  maps, sanity = {}, {}
  key = jax.random.key(0) if key is None else key
  for name in methods:
    if name not in METHODS:
      raise ValueError(f"unknown method {name!r}; valid: {', '.join(sorted(METHODS))}")
    kw = method_kwargs.get(name, {})
    maps[name] = np.asarray(METHODS[name](model, variables, x, target, **kw), np.float64)
    if randomize:
      sanity[name] = checks.randomization_sanity(model, variables, x, target, name, key=key, **kw)[-1][1]
  maps.update({k: np.asarray(v, np.float64) for k, v in (extra_maps or {}).items()})
  fn = _core.as_apply_fn(model)
  base = _core.strip_perturbations(variables)
  model_fn = jax.jit(lambda xx: fn(base, xx)[0])
  rows = quality_rows(model_fn, x, maps, np.asarray(target), masks=masks, steps=steps,
                      sanity=sanity if randomize else None, tolerance=tolerance, baseline=baseline)
  return rows, maps
