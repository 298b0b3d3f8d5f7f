"""vision_jax.metrics.cost: FLOPs from XLA's cost analysis against closed forms, sizes in MB, and
the min/max int8 quantizer (round trip within half a step)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax.metrics import cost
from vision_jax.models.conv import Conv


def valid_taps(n, k):
  """Number of (output position, kernel tap) pairs inside the input for a 'SAME' stride-1 1-D conv."""
  half = k // 2
  return sum(min(n - 1, i + half) - max(0, i - half) + 1 for i in range(n))


@pytest.mark.parametrize("cin,cout,k,hw", [(3, 32, 3, 28), (8, 16, 5, 12), (1, 4, 3, 9)])
def test_conv_flops_closed_form(cin, cout, k, hw):
  x = jnp.zeros((1, hw, hw, cin))
  valid = Conv(cout, (k, k), padding="VALID", use_bias=True)
  v = cost.abstract_variables(_Wrap(valid), x.shape)
  ho = hw - k + 1
  # 2 FLOPs per multiply-add, plus one add per output for the bias
  assert cost.model_flops(_Wrap(valid), v, x.shape) == 2 * ho * ho * cout * k * k * cin + ho * ho * cout
  same = Conv(cout, (k, k), padding="SAME", use_bias=False)
  v = cost.abstract_variables(_Wrap(same), x.shape)
  assert cost.model_flops(_Wrap(same), v, x.shape) == 2 * cout * cin * valid_taps(hw, k) ** 2


class _Wrap(nn.Module):
  """Lets a bare layer be called with train= and return (y, aux) like a classifier."""
  layer: nn.Module

  @nn.compact
  def __call__(self, x, train=False):
    return self.layer(x), {}


def test_flops_do_not_depend_on_the_cpu_conv_route(monkeypatch):
  x = jnp.zeros((1, 16, 16, 8))
  dw = Conv(8, (3, 3), padding="SAME", feature_group_count=8, use_bias=False)
  v = cost.abstract_variables(_Wrap(dw), x.shape)
  counts = []
  for mode in ("auto", "matmul", "xla"):
    monkeypatch.setenv("VISION_JAX_CONV", mode)
    counts.append(cost.model_flops(_Wrap(dw), v, x.shape))
  assert counts[0] == counts[1] == counts[2] == 2 * 8 * valid_taps(16, 3) ** 2


def test_dense_flops_and_sizes():
  d = _Wrap(nn.Dense(10))
  v = cost.abstract_variables(d, (1, 100))  # shapes only
  assert cost.lowered_flops(lambda vv, x: d.apply(vv, x)[0], v, jax.ShapeDtypeStruct((1, 100), jnp.float32)) == 2010
  assert cost.num_values(v) == 1010
  assert cost.size_mb(v) == pytest.approx(1010 * 4 / 2 ** 20)
  # the paper's B1: 1,618,345 float32 parameters are 6.17 MB
  assert round(1_618_345 * 4 / cost.MB, 2) == 6.17


@pytest.mark.parametrize("seed", range(4))
def test_minmax_round_trip_within_half_a_step(seed):
  rng = np.random.default_rng(seed)
  w = rng.normal(loc=[0.0, 0.3, -0.2, 0.05][seed], scale=0.1, size=(3, 3, 16, 8)).astype(np.float32)
  scale, zp = cost.minmax_calibrate(w)
  assert scale == pytest.approx((max(w.max(), 0) - min(w.min(), 0)) / 255)
  q = cost.quantize(w, scale, zp)
  assert q.dtype == np.int8
  back = cost.dequantize(q, scale, zp)
  assert np.max(np.abs(back - w)) <= scale / 2 * (1 + 1e-5)
  assert cost.dequantize(cost.quantize(np.zeros(1), scale, zp), scale, zp)[0] == 0.0  # zero is exact
  params = {"conv": {"kernel": jnp.asarray(w), "bias": jnp.asarray(rng.normal(size=8), jnp.float32)}}
  qp, worst = cost.quantize_weights(params)
  assert worst <= 0.5 + 1e-5
  np.testing.assert_array_equal(qp["conv"]["bias"], params["conv"]["bias"])  # biases stay float32
  assert len(np.unique(np.asarray(qp["conv"]["kernel"]))) <= 256


def test_int8_size_is_about_a_quarter():
  v = {"params": {"k": jax.ShapeDtypeStruct((256, 1024), jnp.float32), "b": jax.ShapeDtypeStruct((1024,), jnp.float32)}}
  fp32 = cost.size_mb(v)
  int8 = cost.quantized_size_mb(v)
  assert int8 == pytest.approx((256 * 1024 + 8 + 4 * 1024) / cost.MB)
  assert 3.9 < fp32 / int8 < 4.0
