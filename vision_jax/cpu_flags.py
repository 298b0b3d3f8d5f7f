"""XLA:CPU settings vision_jax applies before JAX starts its backend (issue 18).

jax 0.10's XLA:CPU hands each convolution to YNNPACK (fusion type ``individual_convolution``),
which runs it on one core. With that fusion type removed, XLA's Eigen convolution runs on every
core of the intra-op pool, while YNNPACK keeps the reductions and elementwise ops it is fast at.
`benchmarks/bench_xla_flags.py` on the idle 2-core development machine, 16x64x64x64 -> 64 3x3,
fwd / dx / dw GFLOP/s (three runs): XLA's default 111-124 / 108-115 / 28-32 with the forward on
1.00 cores (CPU time / wall time); CONV_FLAG 194-223 / 179-229 / 107-122 on 1.96 cores. Removing
every YNN fusion instead gives the same convolutions but makes a batch normalisation's forward and
backward pass about 13x slower (93-104 ms against 7-9).

On a host with AVX-512 it also sets ``VECTOR_FLAG``: XLA:CPU compiles its own loops (every fused
elementwise op, so every explicit PDE step and the tap routes of models/conv.py) for 256-bit vectors
otherwise. `benchmarks/bench_pde.py --cpu-devices 2` on the 2-core AVX-512 EPYC, two alternating runs
each with XLA_FLAGS=--xla_cpu_prefer_vector_width=256 and with this default: Mpix-it/s on one 256^2
image, heat 3106 / 3372 -> 4881 / 4861, Perona-Malik 547 / 611 -> 959 / 937, zg 458 / 448 -> 793 / 750,
exp 3073 / 3448 -> 9335 / 5807 M/s; the train steps of benchmarks/bench_trainstep.py do not slow down
(benchmarks/results/bench_pde.md and trainstep.md, 2026-12-03).

`apply()` (called by ``import vision_jax``) appends `default_flags()` to XLA_FLAGS, each one unless
XLA_FLAGS already sets that flag (a user's choice is kept), and only when
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
VECTOR_FLAG = "--xla_cpu_prefer_vector_width=512"
ENV_VAR = "VISION_JAX_XLA_DEFAULTS"


def host_has_avx512(cpuinfo: str | None = None) -> bool:
  """Whether the CPU flags in /proc/cpuinfo (or the given text) include avx512f; False where unreadable."""
  if cpuinfo is None:
    try:
      with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    except OSError:
      return False
  return any(line.split(":", 1)[0].strip() == "flags" and "avx512f" in line.split(":", 1)[1].split()
             for line in cpuinfo.splitlines() if ":" in line)


def default_flags(cpuinfo: str | None = None) -> list[str]:
  """The flags vision_jax sets on this host (see the module doc): CONV_FLAG, and VECTOR_FLAG with AVX-512."""
  return [CONV_FLAG] + ([VECTOR_FLAG] if host_has_avx512(cpuinfo) else [])


def _backend_started() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):  # a JAX without the query: assume started, change nothing
    return True


def _flag_name(item: str) -> str:
  return item.split("=", 1)[0]


def apply() -> bool:
  """Appends default_flags() to os.environ["XLA_FLAGS"] when allowed (see the module doc); True if it added any."""
  flags = os.environ.get("XLA_FLAGS", "")
  if os.environ.get(ENV_VAR, "1").strip() == "0" or _backend_started():
    return False
  user = {_flag_name(item) for item in flags.split()}
  added = [f for f in default_flags() if _flag_name(f) not in user]
  if added:
    os.environ["XLA_FLAGS"] = " ".join([flags] + added).strip()
  return bool(added)


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
