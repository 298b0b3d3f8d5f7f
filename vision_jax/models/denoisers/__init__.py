"""Denoiser registry (filled in by the denoiser modules)."""
DENOISERS = {}


def get_denoiser(name, **kwargs):
  if name not in DENOISERS:
    raise ValueError(f"unknown denoiser {name!r}; valid: {', '.join(sorted(DENOISERS))}")
  return DENOISERS[name](**kwargs)
