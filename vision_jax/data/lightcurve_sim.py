"""Simulated threshold-crossing events (TCEs): raw light curves with exact labels.

Every curve is 27-90 days at 30-minute cadence, cut into ~27-day segments (sectors) with a small
flux offset each and a gap between them, with white noise, AR(1) red noise, slow stellar
variability, cosmic-ray spikes and a few NaN cadences. The classes (Kepler DR24 names):

- PC (planet candidate): a limb-darkened transit from the batman-package model (Kreidberg 2015):
  radius ratio 0.015-0.12, impact parameter < 0.85, a/R* from Kepler's third law and a random
  stellar density: U-shaped, shallow.
- AFP (astrophysical false positive, eclipsing binaries): "eb" deep primary eclipse (radius ratio
  0.15-0.45, impact parameter up to grazing, so often V-shaped) with a secondary eclipse at phase
  0.5; "odd_even" two eclipses of different depth at twice the TCE period, so the folded odd and
  even events differ; "blend" a background binary diluted to planet-like depths (V-shaped, with a
  faint secondary).
- NTP (non-transiting phenomenon): "noise" a false alarm on pure noise; "variability" spotted-star
  modulation (two harmonics) with the TCE at the rotation period; "systematics" box-shaped
  instrumental dips of 1-2 cadences at a regular interval plus flux steps.

The TCE's period, epoch t0 and duration (days) are what the pipeline folds on (for "odd_even" the
detected period is half the true one). Depths, SNR-like quantities and kinds are in `params`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vision_jax.data import lightcurves as lc

CLASSES = ("PC", "AFP", "NTP")
# Kepler Q1-Q17 DR24 with Autovetter labels, UNK dropped, before the PC doubling (paper Table 2 / 2).
DR24_COUNTS = {"PC": 3600, "AFP": 9596, "NTP": 2541}
CADENCE_DAYS = 30.0 / lc.MINUTES_PER_DAY
SEGMENT_DAYS = 27.0
G_CGS = 6.674e-8


@dataclasses.dataclass
class SimulatedTCE:
  """One raw light curve. time, flux: lists of per-segment arrays (days, relative flux);
  period, t0, duration: the TCE's ephemeris (days); label: index into CLASSES; params: truth."""
  time: list
  flux: list
  period: float
  t0: float
  duration: float
  label: int
  params: dict


def scaled_semi_major_axis(period_days: float, density_cgs: float) -> float:
  """a / R* = (G rho P^2 / (3 pi))^(1/3) for a circular orbit around a star of mean density rho (g/cm^3)."""
  p = period_days * 86400.0
  return float((G_CGS * density_cgs * p ** 2 / (3 * np.pi)) ** (1.0 / 3.0))


def transit_duration(period: float, a: float, rp: float, b: float) -> float:
  """Total (first to fourth contact) duration in days of a circular transit (Winn 2010, eq. 14)."""
  inc = np.arccos(min(b / a, 1.0))
  arg = np.sqrt(max((1 + rp) ** 2 - b ** 2, 0.0)) / (a * np.sin(inc))
  return float(period / np.pi * np.arcsin(min(arg, 1.0)))


def batman_transit(time: np.ndarray, period: float, t0: float, rp: float, a: float, b: float,
                   u=(0.4, 0.25)) -> np.ndarray:
  """Relative flux (T,) of a quadratic limb-darkened transit (batman), integrated over the cadence."""
  import batman
  params = batman.TransitParams()
  params.t0, params.per, params.rp, params.a = t0, period, rp, a
  params.inc = float(np.degrees(np.arccos(min(b / a, 1.0))))
  params.ecc, params.w, params.limb_dark, params.u = 0.0, 90.0, "quadratic", list(u)
  model = batman.TransitModel(params, np.asarray(time, np.float64), supersample_factor=3, exp_time=CADENCE_DAYS)
  return np.asarray(model.light_curve(params), np.float64)


def _segments(rng, days: float) -> list[np.ndarray]:
  """Cadence times cut into ~SEGMENT_DAYS pieces separated by 0.5-1.5-day gaps."""
  t = np.arange(0.0, days, CADENCE_DAYS)
  n_seg = max(int(round(days / SEGMENT_DAYS)), 1)
  bounds = np.linspace(0, days, n_seg + 1)
  segs = []
  for a, b in zip(bounds[:-1], bounds[1:]):
    gap = rng.uniform(0.5, 1.5) if b < days else 0.0
    segs.append(t[(t >= a) & (t < b - gap)])
  return [s for s in segs if s.size]


def _noise(rng, n: int, white: float) -> np.ndarray:
  """White Gaussian noise plus AR(1) red noise (coefficient 0.9-0.99, amplitude up to the white level)."""
  phi = rng.uniform(0.9, 0.99)
  red_amp = rng.uniform(0.0, 1.0) * white
  e = rng.normal(0.0, red_amp * np.sqrt(1 - phi ** 2), n)
  red = np.zeros(n)
  for i in range(1, n):
    red[i] = phi * red[i - 1] + e[i]
  return rng.normal(0.0, white, n) + red


def _star(rng, t: np.ndarray, white: float) -> np.ndarray:
  """Multiplicative baseline: slow variability (5-30 d) and noise, (T,)."""
  slow = rng.uniform(0, 2e-3) * np.sin(2 * np.pi * t / rng.uniform(5, 30) + rng.uniform(0, 2 * np.pi))
  return 1.0 + slow + _noise(rng, t.size, white)


def _planet(rng, t, baseline_days):
  period = float(np.exp(rng.uniform(np.log(0.7), np.log(baseline_days / 3))))
  rp, b = rng.uniform(0.015, 0.12), rng.uniform(0.0, 0.85)
  a = max(scaled_semi_major_axis(period, 1.41 * rng.uniform(0.4, 2.0)), 2.5)
  u = (rng.uniform(0.3, 0.5), rng.uniform(0.1, 0.3))
  t0 = rng.uniform(0, period)
  model = batman_transit(t, period, t0, rp, a, b, u)
  return model, period, t0, transit_duration(period, a, rp, b), {"kind": "planet", "rp": rp, "b": b, "a": a}


def _binary(rng, t, baseline_days):
  kind = rng.choice(["eb", "odd_even", "blend"], p=[0.4, 0.3, 0.3])
  period = float(np.exp(rng.uniform(np.log(0.7), np.log(baseline_days / 4))))
  a = max(scaled_semi_major_axis(2 * period if kind == "odd_even" else period, 1.41 * rng.uniform(0.3, 1.5)), 2.5)
  t0 = rng.uniform(0, period)
  rp = rng.uniform(0.15, 0.45)
  b = rng.uniform(0.3, 1.0 + 0.8 * rp)  # up to grazing: V-shaped eclipses
  u = (rng.uniform(0.3, 0.6), rng.uniform(0.0, 0.3))
  if kind == "odd_even":  # true period 2P; the detected TCE folds both eclipses at P
    ratio = rng.uniform(0.3, 0.85)
    model = (batman_transit(t, 2 * period, t0, rp, a, b, u)
             * batman_transit(t, 2 * period, t0 + period, rp * np.sqrt(ratio), a, b, u))
  else:
    ratio = rng.uniform(0.05, 0.6) if kind == "eb" else rng.uniform(0.0, 0.4)
    model = (batman_transit(t, period, t0, rp, a, b, u)
             * batman_transit(t, period, t0 + 0.5 * period, max(rp * np.sqrt(ratio), 1e-4), a, b, u))
  if kind == "blend":  # diluted by a brighter foreground star
    model = 1.0 - rng.uniform(0.02, 0.25) * (1.0 - model)
  duration = transit_duration(period if kind != "odd_even" else 2 * period, a, rp, min(b, 1 + rp - 1e-3))
  return model, period, t0, max(duration, 2 * CADENCE_DAYS), {"kind": str(kind), "rp": rp, "b": b,
                                                              "secondary_ratio": ratio}


def _false_alarm(rng, t, baseline_days):
  kind = rng.choice(["noise", "variability", "systematics"], p=[0.3, 0.35, 0.35])
  period = float(np.exp(rng.uniform(np.log(0.5), np.log(baseline_days / 3))))
  t0, duration = rng.uniform(0, period), rng.uniform(1.0, 8.0) / 24.0
  model = np.ones_like(t)
  if kind == "variability":  # spot modulation at the rotation period (the TCE period)
    amp = np.exp(rng.uniform(np.log(5e-4), np.log(1e-2)))
    ph = 2 * np.pi * (t - t0) / period
    model = 1.0 + amp * (np.cos(ph) + rng.uniform(0.2, 0.6) * np.cos(2 * ph + rng.uniform(0, 2 * np.pi)))
  elif kind == "systematics":  # regular 1-2 cadence dips (momentum dumps) and flux steps
    depth = np.exp(rng.uniform(np.log(3e-4), np.log(5e-3)))
    width = rng.integers(1, 3) * CADENCE_DAYS
    model = 1.0 - depth * (np.abs(lc.phase_fold(t, period, t0)) < 0.5 * width)
    for step_t in rng.uniform(t.min(), t.max(), rng.integers(1, 4)):
      model = model * np.where(t > step_t, 1.0 + rng.normal(0, 1e-3), 1.0)
    duration = max(duration * 0.25, width)
  return model, period, t0, duration, {"kind": str(kind)}


SIGNALS = {0: _planet, 1: _binary, 2: _false_alarm}


def simulate_tce(rng: np.random.Generator, label: int, days_range=(27.0, 90.0),
                 white_range=(2e-4, 2e-3)) -> SimulatedTCE:
  """One raw light curve of class `label` (0 PC, 1 AFP, 2 NTP) with its TCE ephemeris."""
  if label not in SIGNALS:
    raise ValueError(f"label={label!r}; expected 0 (PC), 1 (AFP) or 2 (NTP)")
  days = float(rng.uniform(*days_range))
  segs = _segments(rng, days)
  t = np.concatenate(segs)
  white = float(np.exp(rng.uniform(np.log(white_range[0]), np.log(white_range[1]))))
  model, period, t0, duration, params = SIGNALS[label](rng, t, days)
  flux = model * _star(rng, t, white)
  offsets = np.concatenate([np.full(s.size, 1.0 + rng.normal(0, 1e-3)) for s in segs])
  flux = flux * offsets * rng.uniform(1e3, 1e5)  # arbitrary flux units, removed by the median
  spikes = rng.random(t.size) < 2e-3
  flux[spikes] *= 1.0 + rng.uniform(5, 20, spikes.sum()) * white
  flux[rng.random(t.size) < 5e-3] = np.nan
  depth = float(1.0 - model.min())
  n_events = max(int(np.sum(np.abs(lc.phase_fold(t, period, t0)) < 0.5 * duration) * CADENCE_DAYS / duration), 1)
  params.update(depth=depth, white=white, days=days, snr=depth / white * np.sqrt(n_events * duration / CADENCE_DAYS))
  bounds = np.cumsum([0] + [s.size for s in segs])
  return SimulatedTCE([t[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
                      [flux[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
                      period, t0, duration, int(label), params)


def class_counts(total: int, counts=None) -> np.ndarray:
  """Per-class counts (3,) summing to `total` in the proportions of `counts` (default DR24_COUNTS),
  rounded by largest remainders, at least one per class."""
  counts = DR24_COUNTS if counts is None else counts
  w = np.asarray([counts[c] for c in CLASSES], np.float64)
  if total < len(CLASSES):
    raise ValueError(f"total={total}; expected at least {len(CLASSES)} curves (one per class)")
  quota = total * w / w.sum()
  n = np.floor(quota).astype(int)
  n[np.argsort(n - quota)[:total - n.sum()]] += 1
  n = np.maximum(n, 1)
  n[np.argmax(n)] -= n.sum() - total
  return n


def simulate_views(total: int, seed: int, progress: bool = False, **kw) -> dict:
  """`total` TCEs in DR24 proportions, each run through lightcurves.global_view.

  Returns {"views": (N, 201) float32, "labels": (N,) int32, "snr": (N,), "depth": (N,),
  "kind": (N,) str, "period": (N,)}; curve i uses np.random.default_rng([seed, i]).
  """
  from vision_jax.progress import progress_bar
  labels = np.repeat(np.arange(len(CLASSES)), class_counts(total))
  out = {k: [] for k in ("views", "snr", "depth", "kind", "period")}
  for i in progress_bar(range(total), desc="simulate light curves", unit="curve", disable=not progress):
    rng = np.random.default_rng([seed, i])
    tce = simulate_tce(rng, int(labels[i]), **kw)
    time, flux = lc.stitch_segments(tce.time, tce.flux)
    out["views"].append(lc.global_view(time, flux, tce.period, tce.t0, tce.duration))
    for k in ("snr", "depth"):
      out[k].append(tce.params[k])
    out["kind"].append(tce.params["kind"])
    out["period"].append(tce.period)
  return {"views": np.stack(out["views"]).astype(np.float32), "labels": labels.astype(np.int32),
          "snr": np.asarray(out["snr"]), "depth": np.asarray(out["depth"]), "kind": np.asarray(out["kind"]),
          "period": np.asarray(out["period"])}
