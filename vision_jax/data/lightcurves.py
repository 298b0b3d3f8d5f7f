"""Transit light curves -> 201-point "global views" (Shallue & Vanderburg 2018 style), step by step.

Each step is one function on numpy arrays; `global_view` chains them in the order of the exoplanet
vetting pipeline (seed 002 article 12, Section 3.1.3):

1. `stitch_segments` + `median_normalize`: append the quarters / sectors, divide by the global median;
2. `clean`: drop NaN / inf and points beyond +-3 sigma of the flux (points under the transit mask are
   exempt, see its docstring);
3. `savgol_detrend`: divide by a Savitzky-Golay trend (scipy.signal.savgol_filter, polyorder 3,
   window 11 cadences) fitted to the out-of-transit points only (`transit_mask`);
4. `phase_fold` on the TCE period (transit at phase 0) and `bin_phase` at 30 minutes (median per bin);
5. `fill_empty_bins` (linear interpolation) and `resample_view` to 201 points;
6. `normalize_view`: median 0 and maximum transit depth -1;
7. `reflect_view`: the horizontal reflection used to double the planet-candidate class.

Units: time and period in days, duration in days, flux relative (dimensionless).
`load_global_views` reads real global views (an .npz or .csv of 201-point rows with labels).
"""

from __future__ import annotations

import csv
import os

import numpy as np
from scipy import signal

VIEW_LENGTH = 201
MINUTES_PER_DAY = 1440.0


def stitch_segments(times, fluxes) -> tuple[np.ndarray, np.ndarray]:
  """Appends segments (lists of 1-D arrays, one per quarter / sector) -> (time (T,), flux (T,)),
  sorted by time."""
  if len(times) != len(fluxes) or not len(times):
    raise ValueError(f"got {len(times)} time and {len(fluxes)} flux segments; expected the same number >= 1")
  t = np.concatenate([np.asarray(s, np.float64) for s in times])
  f = np.concatenate([np.asarray(s, np.float64) for s in fluxes])
  if t.shape != f.shape:
    raise ValueError(f"time has {t.size} points and flux {f.size}; expected equal lengths")
  order = np.argsort(t, kind="stable")
  return t[order], f[order]


def median_normalize(flux: np.ndarray) -> np.ndarray:
  """flux / nanmedian(flux): the light curve in units of its median (NaN kept)."""
  flux = np.asarray(flux, np.float64)
  med = np.nanmedian(flux) if np.isfinite(flux).any() else np.nan
  if not np.isfinite(med) or med <= 0:
    raise ValueError(f"light curve median is {med}; expected a positive finite flux level")
  return flux / med


def transit_mask(time: np.ndarray, period: float, t0: float, duration: float, width: float = 1.5) -> np.ndarray:
  """(T,) bool: points within width * duration / 2 of a transit centre t0 + k * period."""
  if period <= 0 or duration <= 0:
    raise ValueError(f"period={period}, duration={duration}; expected both > 0 (days)")
  return np.abs(phase_fold(time, period, t0)) < 0.5 * width * duration


def clean(time: np.ndarray, flux: np.ndarray, n_sigma: float = 3.0,
          protect: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Drops non-finite points and points with |flux - median| > n_sigma * std (one pass).

  Median and std are taken over the finite points outside `protect` (T,) bool, and protected points
  are never dropped: the paper clips +-3 sigma of the stellar flux, which would otherwise delete
  every in-transit point of a transit deeper than 3 sigma. Returns (time, flux, kept) with kept (T,)
  the boolean mask of the points kept.
  """
  time, flux = np.asarray(time, np.float64), np.asarray(flux, np.float64)
  protect = np.zeros(flux.shape, bool) if protect is None else np.asarray(protect, bool)
  if protect.shape != flux.shape or time.shape != flux.shape:
    raise ValueError(f"time {time.shape}, flux {flux.shape}, protect {protect.shape}; expected equal shapes")
  finite = np.isfinite(flux) & np.isfinite(time)
  ref = flux[finite & ~protect]
  if ref.size < 2:
    raise ValueError(f"only {ref.size} finite out-of-transit points; expected at least 2")
  med, std = np.median(ref), np.std(ref)
  kept = finite & (protect | (np.abs(flux - med) <= n_sigma * std))
  return time[kept], flux[kept], kept


def savgol_detrend(time: np.ndarray, flux: np.ndarray, mask: np.ndarray | None = None, window: int = 11,
                   polyorder: int = 3) -> tuple[np.ndarray, np.ndarray]:
  """(flux / trend, trend): the trend is scipy.signal.savgol_filter(window, polyorder) of the points
  outside `mask` (in time order), linearly interpolated in time onto the masked (in-transit) points."""
  time, flux = np.asarray(time, np.float64), np.asarray(flux, np.float64)
  mask = np.zeros(flux.shape, bool) if mask is None else np.asarray(mask, bool)
  out = ~mask
  if out.sum() < window:
    raise ValueError(f"{int(out.sum())} out-of-transit points; the Savitzky-Golay window needs >= {window}")
  trend_out = signal.savgol_filter(flux[out], window, polyorder)
  trend = np.interp(time, time[out], trend_out)
  return flux / trend, trend


def phase_fold(time: np.ndarray, period: float, t0: float) -> np.ndarray:
  """Phase in days in [-period / 2, period / 2), transit centres t0 + k * period at 0."""
  if period <= 0:
    raise ValueError(f"period={period}; expected > 0 (days)")
  return np.mod(np.asarray(time, np.float64) - t0 + 0.5 * period, period) - 0.5 * period


def bin_phase(phase: np.ndarray, flux: np.ndarray, period: float,
              bin_minutes: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
  """(centres (B,), medians (B,)): the folded curve in bins of bin_minutes covering
  [-period / 2, period / 2); an empty bin is NaN. B = ceil(period / bin width)."""
  width = bin_minutes / MINUTES_PER_DAY
  if width <= 0:
    raise ValueError(f"bin_minutes={bin_minutes}; expected > 0")
  nbins = max(int(np.ceil(period / width)), 1)
  edges = -0.5 * period + width * np.arange(nbins + 1)
  idx = np.clip(np.floor((np.asarray(phase) + 0.5 * period) / width).astype(int), 0, nbins - 1)
  order = np.argsort(idx, kind="stable")
  idx_sorted, flux_sorted = idx[order], np.asarray(flux, np.float64)[order]
  starts = np.searchsorted(idx_sorted, np.arange(nbins), "left")
  stops = np.searchsorted(idx_sorted, np.arange(nbins), "right")
  medians = np.array([np.median(flux_sorted[a:b]) if b > a else np.nan for a, b in zip(starts, stops)])
  centres = 0.5 * (edges[:-1] + edges[1:])
  return centres, medians


def fill_empty_bins(centres: np.ndarray, values: np.ndarray) -> np.ndarray:
  """Linear interpolation over NaN bins (the nearest filled value beyond the ends)."""
  values = np.asarray(values, np.float64)
  good = np.isfinite(values)
  if not good.any():
    raise ValueError("every phase bin is empty; expected at least one filled bin")
  return np.where(good, values, np.interp(centres, centres[good], values[good]))


def resample_view(centres: np.ndarray, values: np.ndarray, period: float,
                  num_points: int = VIEW_LENGTH) -> np.ndarray:
  """(num_points,) linear interpolation of the binned curve on num_points phases evenly spaced over
  [-period / 2, period / 2] (the middle point is the transit centre)."""
  grid = np.linspace(-0.5 * period, 0.5 * period, num_points)
  return np.interp(grid, centres, values)


def normalize_view(view: np.ndarray) -> np.ndarray:
  """view - median, divided by the depth of its minimum: median 0, minimum -1 (float32, (..., L)).

  A view without a dip below its median (constant) raises ValueError."""
  view = np.asarray(view, np.float64)
  v = view - np.median(view, axis=-1, keepdims=True)
  depth = -v.min(axis=-1, keepdims=True)
  if np.any(depth <= 0):
    raise ValueError("a view has no point below its median; cannot normalise the transit depth to -1")
  return (v / depth).astype(np.float32)


def reflect_view(view: np.ndarray) -> np.ndarray:
  """Horizontal reflection (phase -> -phase) of (..., L) views: the planet-candidate augmentation."""
  return np.ascontiguousarray(np.asarray(view)[..., ::-1])


def global_view(time: np.ndarray, flux: np.ndarray, period: float, t0: float, duration: float, *,
                n_sigma: float = 3.0, window: int = 11, polyorder: int = 3, bin_minutes: float = 30.0,
                mask_width: float = 1.5, num_points: int = VIEW_LENGTH) -> np.ndarray:
  """The whole preparation of one stitched light curve -> (num_points,) float32 global view."""
  flux = median_normalize(flux)
  in_transit = transit_mask(time, period, t0, duration, mask_width)
  time, flux, kept = clean(time, flux, n_sigma, protect=in_transit)
  detrended, _ = savgol_detrend(time, flux, in_transit[kept], window, polyorder)
  centres, binned = bin_phase(phase_fold(time, period, t0), detrended, period, bin_minutes)
  view = resample_view(centres, fill_empty_bins(centres, binned), period, num_points)
  return normalize_view(view)


# ----------------------------------------------------------------------------- real global views
def _labels_to_ids(raw: np.ndarray, class_names, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
  """String or integer labels -> (int32 ids, class names)."""
  if raw.dtype.kind in "iu":
    top = int(raw.max(initial=-1))
    names = tuple(class_names) if class_names else tuple(str(c) for c in range(top + 1))
    if raw.size and (raw.min() < 0 or top >= len(names)):
      raise ValueError(f"{where} has labels in [{raw.min()}, {top}]; expected 0..{len(names) - 1} for {names}")
    return raw.astype(np.int32), names
  text = np.asarray([str(s).strip() for s in raw.tolist()])
  names = tuple(class_names) if class_names else tuple(sorted(set(text.tolist())))
  unknown = sorted(set(text.tolist()) - set(names))
  if unknown:
    raise ValueError(f"{where} has labels {unknown} outside the class names {names}")
  lookup = {n: i for i, n in enumerate(names)}
  return np.asarray([lookup[s] for s in text], np.int32), names


def load_global_views(path: str, class_names=None,
                      num_points: int = VIEW_LENGTH) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
  """Real global views: (views (N, num_points) float32, labels (N,) int32, class names).

  .npz: arrays "views" (N, num_points) and "labels" (N,) (integers, or strings such as "PC"), and
  optionally "class_names"; loaded with allow_pickle=False. .csv: a header row with a "label" column;
  every other column is one of the num_points flux values. String labels map to `class_names` (or
  their sorted set).
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"global-view file not found: {path!r}")
  if path.endswith(".npz"):
    with np.load(path, allow_pickle=False) as f:
      for key in ("views", "labels"):
        if key not in f.files:
          raise ValueError(f"{path!r} has no array {key!r}; arrays present: {', '.join(sorted(f.files))}")
      views, raw = np.asarray(f["views"], np.float64), np.asarray(f["labels"])
      if class_names is None and "class_names" in f.files:
        class_names = tuple(str(s) for s in f["class_names"].tolist())
  elif path.endswith(".csv"):
    with open(path, newline="") as fh:
      rows = list(csv.reader(fh))
    if not rows or "label" not in rows[0]:
      raise ValueError(f"{path!r} has no 'label' column in its header; expected label + {num_points} flux columns")
    col = rows[0].index("label")
    try:
      views = np.asarray([[float(v) for j, v in enumerate(r) if j != col] for r in rows[1:]], np.float64)
    except ValueError as e:
      raise ValueError(f"{path!r} has a non-numeric flux value ({e})") from None
    raw = np.asarray([r[col] for r in rows[1:]])
    if raw.size and all(s.strip().lstrip("-").isdigit() for s in raw.tolist()):
      raw = raw.astype(np.int64)
  else:
    raise ValueError(f"global-view file {path!r} must end in .npz or .csv")
  if views.ndim != 2 or views.shape[1] != num_points:
    raise ValueError(f"{path!r} holds views of shape {views.shape}; expected (N, {num_points})")
  if raw.shape != (views.shape[0],):
    raise ValueError(f"{path!r} has {raw.shape} labels for {views.shape[0]} views; expected one label per view")
  if not np.isfinite(views).all():
    raise ValueError(f"{path!r} has non-finite flux values; expected finite global views")
  labels, names = _labels_to_ids(raw, class_names, repr(path))
  return views.astype(np.float32), labels, names
