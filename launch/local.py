"""Runs one command as N cooperating JAX processes on this machine (multi-process data parallelism).

  python launch/local.py --processes 2 -- python -m vision_jax.main --config=configs/pinn_denoise/default.py:small \
      --workdir=runs/mp --config.distributed=True

Each copy gets JAX_COORDINATOR_ADDRESS (localhost and a free port), VISION_JAX_NUM_PROCESSES and
VISION_JAX_PROCESS_ID; with --config.distributed=True, vision_jax joins the job
(train/parallel.maybe_initialize_distributed) and the mesh spans every process's devices. On CPU the
cross-process collectives use gloo. This is how to rehearse a multi-host run before a cluster; on a
cluster use the scheduler instead (launch/slurm.sbatch: JAX detects SLURM by itself).
If any process fails, the others are stopped and its exit status is returned.
"""

import argparse
import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def launch(command: list[str], processes: int, port: int = 0, quiet_workers: bool = True) -> int:
  """Starts `processes` copies of command with the job environment; returns the first non-zero status."""
  if processes < 1:
    raise ValueError(f"processes={processes} is invalid; expected >= 1")
  if not command:
    raise ValueError("no command given; expected: launch/local.py --processes N -- COMMAND ...")
  address = f"localhost:{port or free_port()}"
  procs = []
  for i in range(processes):
    env = {**os.environ, "JAX_COORDINATOR_ADDRESS": address, "VISION_JAX_NUM_PROCESSES": str(processes),
           "VISION_JAX_PROCESS_ID": str(i)}
    out = subprocess.DEVNULL if (quiet_workers and i > 0) else None  # process 0 speaks for the job
    procs.append(subprocess.Popen(command, env=env, stdout=out))
  status = 0
  while any(p.poll() is None for p in procs):
    failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
    if failed:
      status = failed[0]
      for p in procs:
        if p.poll() is None:
          p.terminate()
      break
    time.sleep(0.2)
  for p in procs:
    p.wait()
  return status or next((p.returncode for p in procs if p.returncode), 0)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--processes", type=int, default=2)
  p.add_argument("--port", type=int, default=0, help="coordinator port (0: pick a free one)")
  p.add_argument("--verbose_workers", action="store_true", help="let processes > 0 print to stdout too")
  p.add_argument("command", nargs=argparse.REMAINDER)
  a = p.parse_args(argv)
  command = a.command[1:] if a.command[:1] == ["--"] else a.command
  try:
    return launch(command, a.processes, a.port, not a.verbose_workers)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
