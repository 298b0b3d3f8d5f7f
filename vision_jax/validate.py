"""Input validation that fails early with one clear line (before anything reaches XLA)."""

from __future__ import annotations

import numpy as np


def check_finite(x, name: str = "image") -> None:
  """Raises ValueError if a concrete array holds NaN or Inf. Tracers are skipped."""
  try:
    arr = np.asarray(x)
  except Exception:  # a jax tracer inside jit: cannot be checked here
    return
  if not np.all(np.isfinite(arr)):
    bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
    raise ValueError(f"{name} contains {bad} NaN/Inf values; expected finite numbers")


def check_rank(x, ranks, name: str = "image", layout: str = "") -> None:
  """Raises ValueError unless x.ndim is one of `ranks` (int or tuple of ints)."""
  ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
  if np.ndim(x) not in ranks:
    want = " or ".join(str(r) for r in ranks)
    extra = f" ({layout})" if layout else ""
    raise ValueError(f"{name} has rank {np.ndim(x)} (shape {tuple(np.shape(x))}); expected rank {want}{extra}")


def check_positive(value, name: str, allow_zero: bool = True) -> None:
  """Raises ValueError if value < 0 (or <= 0 when allow_zero is False)."""
  ok = value >= 0 if allow_zero else value > 0
  if not ok:
    want = ">= 0" if allow_zero else "> 0"
    raise ValueError(f"{name}={value!r} is invalid; expected {want}")


def check_choice(value, choices, name: str) -> None:
  """Raises ValueError if value is not one of choices, listing them."""
  if value not in choices:
    raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(sorted(map(str, choices)))}")
