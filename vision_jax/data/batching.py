"""Batches as pure functions of the step, and inference over an array in fixed-size batches.

Every classification-style training loop of the projects draws its batches the same way: epoch
e = step // (epoch_length // B) visits the examples in the order ``order(np.random.default_rng([seed, e]))``
(a permutation unless a project balances its classes), and batch i of that epoch is positions
[i B, (i + 1) B) of it. A resumed run therefore sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np


def epoch_batches(n: int, batch_size: int, seed: int, order: Callable[[np.random.Generator], np.ndarray] | None = None,
                  epoch_length: int | None = None) -> Callable[[int], tuple[int, int, np.ndarray]]:
  """indices(step) -> (epoch, i, idx): idx (<= batch_size,) int indices of the step's batch.

  Args:
    n: number of examples. batch_size: B >= 1. seed: the run's seed.
    order: rng -> one epoch's index sequence (default ``rng.permutation(n)``).
    epoch_length: length of that sequence (default n). An epoch has max(epoch_length // B, 1)
      batches; when epoch_length < B its one batch is the whole (shorter) sequence.
  """
  bs = int(batch_size)
  if bs < 1 or n < 1:
    raise ValueError(f"epoch_batches got n={n}, batch_size={batch_size}; expected both >= 1")
  length = int(n if epoch_length is None else epoch_length)
  per_epoch = max(length // bs, 1)
  order = order or (lambda rng: rng.permutation(n))

  @functools.lru_cache(maxsize=2)
  def epoch_order(epoch: int) -> np.ndarray:
    return order(np.random.default_rng([seed, epoch]))

  def indices(step: int):
    epoch, i = divmod(int(step), per_epoch)
    return epoch, i, epoch_order(epoch)[i * bs:(i + 1) * bs]

  return indices


def predict_in_batches(fn: Callable, inputs, batch_size: int):
  """fn over inputs in batches of min(batch_size, N) along their leading axis, the last one zero-padded.

  One program (one batch shape) serves every batch. inputs: an array (N, ...) or a tuple of arrays
  with the same N, passed to fn in the same structure; fn returns an array or a tuple of arrays with
  leading axis B. Returns that structure as NumPy arrays of leading axis N.
  """
  many = isinstance(inputs, (tuple, list))
  arrays = tuple(np.asarray(a) for a in (inputs if many else (inputs,)))
  n = int(arrays[0].shape[0])
  if n == 0 or any(a.shape[0] != n for a in arrays):
    raise ValueError(f"predict_in_batches got inputs of shapes {[tuple(a.shape) for a in arrays]}; "
                     "expected N >= 1 rows in each")
  bs = max(1, min(int(batch_size), n))
  parts, single = [], False
  for start in range(0, n, bs):
    chunks = [a[start:start + bs] for a in arrays]
    pad = bs - chunks[0].shape[0]
    if pad:
      chunks = [np.concatenate([c, np.zeros((pad, *c.shape[1:]), c.dtype)]) for c in chunks]
    out = fn(*chunks) if many else fn(chunks[0])
    single = not isinstance(out, (tuple, list))
    parts.append([np.asarray(o)[:bs - pad] for o in ((out,) if single else out)])
  joined = tuple(np.concatenate(p) for p in zip(*parts))
  return joined[0] if single else joined
