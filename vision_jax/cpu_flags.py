"""XLA:CPU settings vision_jax applies before JAX starts its backend (issue 18).

jax 0.10's XLA:CPU hands each convolution to YNNPACK (fusion type ``individual_convolution``),
which runs it on one core. With that fusion type removed, XLA's Eigen convolution runs on every
core of the intra-op pool, while YNNPACK keeps the reductions and elementwise ops it is fast at.
`benchmarks/bench_xla_flags.py` on the idle 2-core development machine, 16x64x64x64 -> 64 3x3,
fwd / dx / dw GFLOP/s (three runs): XLA's default 111-124 / 108-115 / 28-32 with the forward on
1.00 cores (CPU time / wall time); CONV_FLAG 194-223 / 179-229 / 107-122 on 1.96 cores. Removing
every YNN fusion instead gives the same convolutions but makes a batch normalisation's forward and
backward pass about 13x slower (93-104 ms against 7-9).

`apply()` (called by ``import vision_jax``) appends ``CONV_FLAG`` to XLA_FLAGS when
* XLA_FLAGS does not already set the YNN fusion type (a user's choice is kept),
* VISION_JAX_XLA_DEFAULTS is not "0", and
* no JAX backend has started yet (XLA reads XLA_FLAGS once, when its first backend starts; a
  process that ran JAX before importing vision_jax keeps XLA's defaults).
`ynn_convolution()` says, from XLA_FLAGS, whether convolutions are on YNNPACK; models/conv.py
picks its CPU routes by it.
"""

import os
import sys

FLAG = "--xla_cpu_experimental_ynn_fusion_type"
CONV_FLAG = f"{FLAG}=-individual_convolution"
ENV_VAR = "VISION_JAX_XLA_DEFAULTS"


def _backend_started() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):  # a JAX without the query: assume started, change nothing
    return True


def apply() -> bool:
  """Appends CONV_FLAG to os.environ["XLA_FLAGS"] when allowed (see the module doc); True if it did."""
  flags = os.environ.get("XLA_FLAGS", "")
  if os.environ.get(ENV_VAR, "1").strip() == "0" or FLAG in flags or _backend_started():
    return False
  os.environ["XLA_FLAGS"] = f"{flags} {CONV_FLAG}".strip()
  return True


def ynn_fusion_types(flags: str | None = None) -> str | None:
  """The value XLA_FLAGS gives the YNN fusion type (last occurrence), or None when unset."""
  flags = os.environ.get("XLA_FLAGS", "") if flags is None else flags
  value = None
  for item in flags.split():
    if item.startswith(FLAG + "="):
      value = item.split("=", 1)[1]
  return value


def ynn_convolution(flags: str | None = None) -> bool:
  """Whether XLA:CPU runs convolutions on YNNPACK under these XLA_FLAGS (its default: yes).

  A list of '+'/'-' items edits XLA's default list; a plain list replaces it.
  """
  value = ynn_fusion_types(flags)
  if value is None:
    return True
  items = [v for v in value.split(",") if v]
  if items and all(v[0] in "+-" for v in items):
    return "-individual_convolution" not in items
  return "individual_convolution" in items
