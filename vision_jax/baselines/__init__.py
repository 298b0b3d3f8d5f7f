"""Reference methods measured in the same run as the models (classical denoisers, ...)."""

from vision_jax.baselines.classical import (
  CLASSICAL_BASELINES,
  available_baselines,
  bm3d,
  nl_means,
  run_baseline,
  tv_chambolle,
  wavelet,
)

__all__ = ["CLASSICAL_BASELINES", "available_baselines", "bm3d", "nl_means", "run_baseline", "tv_chambolle", "wavelet"]
