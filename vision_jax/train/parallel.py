"""Device mesh and shardings for data-parallel jit (no pmap).

The mesh comes from the config as a list of (axis_name, size) pairs, size -1 meaning "all remaining
devices", e.g. [("data", -1)]. Parameters are replicated; batches are split along their first axis
over the "data" axis. With jit on global arrays, a mean over the batch inside the loss is already the
global mean, so no explicit psum is needed.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def maybe_initialize_distributed(enabled: bool) -> None:
  """Starts multi-process JAX only when the launcher asks for it (config.distributed = True).

  Cluster launchers (SLURM, Open MPI, Kubernetes, Cloud TPU) are auto-detected by JAX. Otherwise the
  environment names the job, as launch/local.py sets it: JAX_COORDINATOR_ADDRESS (host:port),
  VISION_JAX_NUM_PROCESSES and VISION_JAX_PROCESS_ID.
  """
  if not enabled:
    return
  import os
  count, index = os.environ.get("VISION_JAX_NUM_PROCESSES"), os.environ.get("VISION_JAX_PROCESS_ID")
  if count is None and index is None:
    jax.distributed.initialize()
    return
  if count is None or index is None or not (count.isdigit() and index.isdigit()) or int(index) >= int(count):
    raise ValueError(f"VISION_JAX_NUM_PROCESSES={count!r}, VISION_JAX_PROCESS_ID={index!r} are invalid; "
                     "expected both, as integers with 0 <= id < count")
  jax.distributed.initialize(num_processes=int(count), process_id=int(index))


def make_mesh(axes=(("data", -1),), devices=None) -> Mesh:
  """Builds a Mesh from [(name, size)] pairs; at most one size may be -1 (fills the rest)."""
  devices = list(jax.devices() if devices is None else devices)
  names = tuple(str(a[0]) for a in axes)
  sizes = [int(a[1]) for a in axes]
  if sizes.count(-1) > 1:
    raise ValueError(f"mesh {list(axes)} has more than one axis of size -1; expected at most one")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"mesh {list(axes)} does not divide {len(devices)} devices")
    sizes[sizes.index(-1)] = len(devices) // known
  if math.prod(sizes) != len(devices):
    raise ValueError(f"mesh {list(axes)} needs {math.prod(sizes)} devices; {len(devices)} are available")
  return Mesh(np.asarray(devices).reshape(sizes), names)


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding that keeps a full copy on every device (parameters, optimizer state)."""
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh, axis: str = "data") -> NamedSharding:
  """Sharding that splits the leading (batch) axis over the mesh's data axis."""
  return NamedSharding(mesh, P(axis))


def shard_batch(batch, mesh: Mesh, axis: str = "data"):
  """Places a host batch (pytree of arrays with a leading batch axis) on the mesh, split over `axis`."""
  n = mesh.shape[axis]
  sharding = data_sharded(mesh, axis)

  def put(x):
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] % n:
      raise ValueError(f"batch axis of size {x.shape[0] if x.ndim else 0} is not divisible by the "
                       f"{n} devices of mesh axis {axis!r}; choose a batch size that is a multiple of {n}")
    return jax.device_put(x, sharding)

  return jax.tree.map(put, batch)
