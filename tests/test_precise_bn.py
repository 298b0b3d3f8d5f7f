"""train.precise_bn: the recomputed BatchNorm statistics are the dropout-free input moments, averaged over batches."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax.train import precise_bn


class DropThenNorm(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.Dense(4, name="dense")(x)
    h = nn.Dropout(0.5, deterministic=not train)(h)
    return nn.BatchNorm(use_running_average=not train, name="bn")(h)


def test_precise_stats_are_the_dropout_free_moments_averaged_over_batches():
  model = DropThenNorm()
  x = np.random.default_rng(0).standard_normal((2, 16, 3)).astype(np.float32)
  v = model.init({"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}, x[0], train=False)
  state = {"params": v["params"], "batch_stats": v["batch_stats"]}
  got = precise_bn.precise_batch_stats(model, state, [x[0], x[1]])
  w, b = np.asarray(v["params"]["dense"]["kernel"]), np.asarray(v["params"]["dense"]["bias"])
  h = [xi @ w + b for xi in x]  # no dropout: what the layer sees at inference
  np.testing.assert_allclose(got["bn"]["mean"], np.mean([hi.mean(0) for hi in h], 0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got["bn"]["var"], np.mean([hi.var(0) for hi in h], 0), rtol=1e-5, atol=1e-6)
  bad = {**state, "batch_stats": {"bn": state["batch_stats"]["bn"], "other": state["batch_stats"]["bn"]}}
  with pytest.raises(ValueError, match="precise BN found 2 statistics but the model has 4"):
    precise_bn.precise_batch_stats(model, bad, [x[0]])
