"""data.batching: the step -> batch indices rule every classification loop shares, and padded batched inference."""

import numpy as np
import pytest

from vision_jax.data import batching


def perm_of_epoch(seed, epoch, n):
  return np.random.default_rng([seed, epoch]).permutation(n)


def test_each_epoch_visits_its_seeded_permutation_in_order():
  n, bs, seed = 23, 5, 7
  indices = batching.epoch_batches(n, bs, seed)
  per_epoch = n // bs  # 4 full batches; the 3 left over are skipped that epoch
  for epoch in range(3):
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    seen = [indices(epoch * per_epoch + i) for i in range(per_epoch)]
    assert [(e, i) for e, i, _ in seen] == [(epoch, i) for i in range(per_epoch)]
    np.testing.assert_array_equal(np.concatenate([idx for _, _, idx in seen]), perm[:per_epoch * bs])
  # a pure function of the step: a fresh sampler (a resumed run) gives the same batch out of order
  np.testing.assert_array_equal(batching.epoch_batches(n, bs, seed)(5)[2], perm_of_epoch(seed, 1, n)[bs:2 * bs])
  assert indices(5)[:2] == (1, 1)


def test_custom_order_and_epoch_length():
  order = lambda rng: np.concatenate([np.arange(4), np.arange(4)])[rng.permutation(8)]  # each index twice
  indices = batching.epoch_batches(4, 3, seed=0, order=order, epoch_length=8)
  assert [indices(s)[:2] for s in range(3)] == [(0, 0), (0, 1), (1, 0)]  # 8 // 3 = 2 batches an epoch
  both = np.concatenate([indices(0)[2], indices(1)[2]])
  assert len(both) == 6 and set(both) <= set(range(4))


def test_a_set_smaller_than_the_batch_is_one_short_batch_and_bad_sizes_raise():
  indices = batching.epoch_batches(3, 8, seed=1)
  np.testing.assert_array_equal(np.sort(indices(0)[2]), [0, 1, 2])
  assert indices(1)[:2] == (1, 0)
  with pytest.raises(ValueError, match="batch_size=0"):
    batching.epoch_batches(3, 0, seed=1)


def test_predict_in_batches_pads_the_last_batch_and_keeps_one_shape():
  x = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
  shapes = []

  def fn(chunk):
    shapes.append(chunk.shape)
    return chunk.sum(1), chunk * 2
  s, d = batching.predict_in_batches(fn, x, batch_size=3)
  assert shapes == [(3, 2)] * 3  # 7 rows: 3 + 3 + (1 + 2 zero rows)
  np.testing.assert_array_equal(s, x.sum(1))
  np.testing.assert_array_equal(d, 2 * x)
  single = batching.predict_in_batches(lambda a, b: a[:, 0] + b, (x, np.ones(7, np.float32)), batch_size=4)
  np.testing.assert_array_equal(single, x[:, 0] + 1)
  with pytest.raises(ValueError, match="N >= 1"):
    batching.predict_in_batches(fn, x[:0], 3)
  with pytest.raises(ValueError, match=r"\[\(7, 2\), \(6,\)\]"):
    batching.predict_in_batches(lambda a, b: a, (x, np.ones(6)), 3)
