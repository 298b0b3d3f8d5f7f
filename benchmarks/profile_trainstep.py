"""Where a model's CPU train step spends its time: per-op durations from a jax.profiler trace.

    .venv/bin/python benchmarks/profile_trainstep.py --model xception [--steps 5] [--top 25]

Runs bench_trainstep's jitted step (VISION_JAX_CONV=auto, one device) under
``jax.profiler.trace(create_perfetto_trace=True)`` and sums the trace's complete events per XLA
operation (fusion numbers dropped, so the nine taps of a layer count as one kind), per step. The
durations of ops that run on both cores overlap, so the total exceeds the step's wall time; read
the table as shares. The metadata of a fusion (which model op it came from) is in the compiled
HLO: ``--hlo FILE`` writes the step's HLO text there.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile

# XLA's dispatch and the Python frames around the step, not operations of the step
NOT_OPS = ("ThunkExecutor", "$", "np.", "Pjit", "Common", "Slinky", "PjRt", "ParseArguments")


def op_table(trace_events, steps: int) -> list[tuple[str, float, int]]:
  """(op kind, ms per step, count per step) for the complete ('X') events, longest first."""
  total, count = collections.Counter(), collections.Counter()
  for e in trace_events:
    if e.get("ph") == "X" and not e["name"].startswith(NOT_OPS):
      kind = re.sub(r"\.\d+$", "", e["name"])
      total[kind] += e["dur"]
      count[kind] += 1
  return [(k, us / steps / 1e3, count[k] // steps) for k, us in total.most_common()]


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--model", default="xception", help="a model name of benchmarks/bench_trainstep.py")
  ap.add_argument("--steps", type=int, default=5)
  ap.add_argument("--top", type=int, default=25)
  ap.add_argument("--hlo", default=None, help="write the compiled step's HLO text here")
  args = ap.parse_args(argv)
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import vision_jax  # noqa: F401  (its XLA flags, before JAX starts)
  import bench_trainstep
  if args.model not in bench_trainstep.MODELS:
    raise SystemExit(f"--model {args.model!r} is unknown; expected one of {', '.join(bench_trainstep.MODELS)}")
  import jax
  run, _ = bench_trainstep.prepare_jax(args.model, "auto", 1, hlo_path=args.hlo)  # compiled, warmed up
  with tempfile.TemporaryDirectory() as d:
    with jax.profiler.trace(d, create_perfetto_trace=True):
      for _ in range(args.steps):
        run()
    path = glob.glob(os.path.join(d, "**", "*.json.gz"), recursive=True)[0]
    with gzip.open(path) as f:
      events = json.load(f)
  events = events["traceEvents"] if isinstance(events, dict) else events
  rows = op_table(events, args.steps)
  print(f"{args.model}: op time per step {sum(r[1] for r in rows):.1f} ms over {args.steps} traced steps "
        f"(overlapping ops on both cores count twice)")
  for kind, ms, n in rows[:args.top]:
    print(f"{ms:9.2f} ms  {n:5d}x  {kind}")


if __name__ == "__main__":
  main()
