"""Noise models: empirical moments against theory, distributions against scipy, keys, jit, errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from vision_jax import noise

N_SIDE = 512  # 262144 samples per test image
N = N_SIDE * N_SIDE
Z = 5.0  # tolerance in standard errors (keys are fixed, so the tests are deterministic)


def _flat(value=0.5):
  return jnp.full((N_SIDE, N_SIDE), value, jnp.float32)


def _check_moments(y, mean, var, fourth_central=None):
  """Sample mean/variance within Z standard errors of theory."""
  y = np.asarray(y, np.float64).ravel()
  se_mean = math.sqrt(var / y.size)
  assert abs(y.mean() - mean) < Z * se_mean, (y.mean(), mean)
  # SE of the sample variance: sqrt((mu4 - var^2) / n); Gaussian mu4 = 3 var^2 unless given.
  mu4 = 3 * var**2 if fourth_central is None else fourth_central
  se_var = math.sqrt((mu4 - var**2) / y.size)
  assert abs(y.var() - var) < Z * se_var, (y.var(), var)


@pytest.mark.parametrize("sigma", [15.0, 25.0, 50.0])
def test_awgn_moments(sigma):
  y = noise.awgn(jax.random.key(0), _flat(0.5), sigma)
  assert y.shape == (N_SIDE, N_SIDE) and y.dtype == jnp.float32
  _check_moments(y, 0.5, (sigma / 255) ** 2)


def test_awgn_zero_sigma_is_identity():
  x = jax.random.uniform(jax.random.key(1), (4, 8, 8, 1))
  np.testing.assert_array_equal(noise.awgn(jax.random.key(0), x, 0.0), x)


@pytest.mark.parametrize("lam,sigma", [(1.0, 0.0), (4.0, 0.0), (8.0, 10.0), (100.0, 5.0)])
def test_poisson_gaussian_moments(lam, sigma):
  c = 0.5
  y = noise.poisson_gaussian(jax.random.key(2), _flat(c), lam, sigma)
  var_p = c / lam  # Var[Poisson(lam c) / lam]
  var_g = (sigma / 255) ** 2
  # fourth central moment of a sum of independent terms: mu4 = mu4_p + 6 var_p var_g + mu4_g
  mu4_p = (lam * c + 3 * (lam * c) ** 2) / lam**4
  mu4 = mu4_p + 6 * var_p * var_g + 3 * var_g**2
  _check_moments(y, c, var_p + var_g, mu4)


def test_poisson_is_counts_over_lambda():
  lam = 4.0
  y = np.asarray(noise.poisson_gaussian(jax.random.key(3), _flat(0.75), lam, 0.0))
  counts = y * lam
  np.testing.assert_allclose(counts, np.round(counts), atol=1e-5)
  # Poisson(3) frequencies of 0..6 against the pmf
  freq = np.bincount(np.round(counts).astype(int).ravel(), minlength=10)[:7] / N
  pmf = stats.poisson(3.0).pmf(np.arange(7))
  assert np.all(np.abs(freq - pmf) < Z * np.sqrt(pmf * (1 - pmf) / N)), (freq, pmf)


@pytest.mark.parametrize("looks", [1, 4, 8, 2.5])
def test_speckle_intensity_moments(looks):
  c = 0.6
  y = noise.speckle_intensity(jax.random.key(4), _flat(c), looks)
  var = c**2 / looks
  # Gamma(k, theta) fourth central moment: 3 k (k + 2) theta^4, theta = c / L
  mu4 = 3 * looks * (looks + 2) * (c / looks) ** 4
  _check_moments(y, c, var, mu4)
  assert float(y.min()) >= 0.0


@pytest.mark.parametrize("looks", [1, 4, 8])
def test_speckle_amplitude_moments(looks):
  y = np.asarray(noise.speckle_amplitude(jax.random.key(5), _flat(1.0), looks), np.float64).ravel()
  mean_theory = math.exp(math.lgamma(looks + 0.5) - math.lgamma(looks)) / math.sqrt(looks)
  var_theory = 1.0 - mean_theory**2
  assert abs(y.mean() - mean_theory) < Z * math.sqrt(var_theory / N)
  # E[n^2] = 1; n^2 ~ Gamma(L, 1/L) has variance 1/L
  assert abs(np.mean(y**2) - 1.0) < Z * math.sqrt(1.0 / looks / N)
  # whole distribution against scipy's Nakagami(nu = L)
  assert stats.kstest(y[:50000], stats.nakagami(looks).cdf).pvalue > 1e-3


def test_speckle_amplitude_is_rayleigh_at_one_look():
  y = np.asarray(noise.speckle_amplitude(jax.random.key(6), _flat(1.0), 1), np.float64).ravel()
  assert abs(y.mean() - math.sqrt(math.pi) / 2) < Z * math.sqrt((1 - math.pi / 4) / N)
  assert stats.kstest(y[:50000], stats.rayleigh(scale=1 / math.sqrt(2)).cdf).pvalue > 1e-3


def test_speckle_scales_with_image():
  x = jnp.linspace(0.1, 1.0, 2 * 16 * 16 * 3).reshape(2, 16, 16, 3)
  key = jax.random.key(7)
  n = noise.speckle_intensity(key, jnp.ones_like(x), 4)
  np.testing.assert_allclose(noise.speckle_intensity(key, x, 4), n * x, rtol=1e-6)


@pytest.mark.parametrize("kind,params", [
  ("awgn", {"sigma": 25}),
  ("poisson_gaussian", {"lam": 4, "sigma": 5}),
  ("speckle", {"looks": 4}),
  ("speckle_amplitude", {"looks": 4}),
])
def test_keys_jit_and_registry(kind, params):
  x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
  fn = noise.NOISE_MODELS[kind]
  a = fn(jax.random.key(1), x, **params)
  b = fn(jax.random.key(1), x, **params)
  c = fn(jax.random.key(2), x, **params)
  assert a.shape == x.shape and a.dtype == x.dtype
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  np.testing.assert_array_equal(noise.add_noise(jax.random.key(1), x, kind, **params), a)
  # traceable with the parameters traced too (they are then not validated); eval_shape traces
  # without compiling (the functions are jit-compiled internally, which the calls above exercised)
  ps = {name: jnp.float32(v) for name, v in params.items()}
  out = jax.eval_shape(lambda k, im, p: noise.add_noise(k, im, kind, **p), jax.random.key(1), x, ps)
  assert out.shape == x.shape and out.dtype == x.dtype


def test_inside_user_jit():
  x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
  jitted = jax.jit(lambda k, im, s: noise.add_noise(k, im, "awgn", sigma=s))
  np.testing.assert_allclose(jitted(jax.random.key(1), x, 25.0), noise.awgn(jax.random.key(1), x, 25),
                             rtol=1e-6, atol=1e-6)


def test_no_clip_by_default_and_clip_option():
  x = jnp.full((64, 64), 0.98, jnp.float32)
  y = noise.awgn(jax.random.key(0), x, 50)
  assert float(y.max()) > 1.0 and float(y.min()) < 1.0
  yc = noise.awgn(jax.random.key(0), x, 50, clip=True)
  assert float(yc.max()) <= 1.0 and float(yc.min()) >= 0.0
  np.testing.assert_array_equal(yc, jnp.clip(y, 0, 1))


def test_bad_parameters():
  key, x = jax.random.key(0), jnp.zeros((8, 8))
  with pytest.raises(ValueError, match=r"sigma=-1"):
    noise.awgn(key, x, -1)
  with pytest.raises(ValueError, match=r"lam=0"):
    noise.poisson_gaussian(key, x, 0)
  with pytest.raises(ValueError, match=r"lam=-2"):
    noise.poisson_gaussian(key, x, -2.0)
  with pytest.raises(ValueError, match=r"sigma=-3"):
    noise.poisson_gaussian(key, x, 4, sigma=-3)
  with pytest.raises(ValueError, match=r"looks=0.5"):
    noise.speckle_intensity(key, x, 0.5)
  with pytest.raises(ValueError, match=r"looks=0"):
    noise.speckle_amplitude(key, x, 0)
  with pytest.raises(ValueError, match=r"sigma=nan"):
    noise.awgn(key, x, float("nan"))
  with pytest.raises(ValueError, match=r"unknown noise kind 'gauss'.*awgn.*speckle"):
    noise.add_noise(key, x, "gauss", sigma=25)
