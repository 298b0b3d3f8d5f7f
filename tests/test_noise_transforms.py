"""Variance-stabilising transforms (noise_transforms.py): the generalized Anscombe round trip (exact unbiased
inverse vs the biased algebraic one, Monte Carlo over many draws), variance stabilisation, the tabulated
E[GAT], and the speckle log transform's known bias and variance (digamma / trigamma)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax import noise
from vision_jax import noise_transforms as nt

X = np.array([0.05, 0.1, 0.2, 0.5, 1.0], np.float32)
DRAWS = 100_000


def _mean_gat(lam, sigma, seed=0):
  """Monte-Carlo E[GAT(y)] for each x in X (DRAWS draws each) and its standard error."""
  xs = jnp.asarray(np.repeat(X[:, None], DRAWS, axis=1))
  D = nt.gat_forward(noise.poisson_gaussian(jax.random.key(seed), xs, lam, sigma), lam, sigma)
  return np.asarray(jnp.mean(D, axis=1), np.float64), np.asarray(jnp.std(D, axis=1), np.float64) / math.sqrt(DRAWS)


@pytest.mark.parametrize("lam,sigma", [(2.0, 0.0), (5.0, 10.0), (30.0, 25.0)])
def test_gat_round_trip_exact_unbiased_inverse_recovers_x(lam, sigma):
  ED, se = _mean_gat(lam, sigma)
  table = nt.gat_expected(lam * X, lam, sigma)
  assert np.all(np.abs(ED - table) < 4 * se + 1e-4)  # the tabulated E[D | x] is the Monte-Carlo one
  exact = np.asarray(nt.gat_inverse(jnp.asarray(ED, jnp.float32), lam, sigma, "exact"), np.float64)
  # propagate the Monte-Carlo error through the inverse: dx = se / (dE[D]/dx)
  slope = (nt.gat_expected(lam * X * 1.001, lam, sigma) - table) / (0.001 * X)
  tol = 4 * se / slope + 1e-4
  assert np.all(np.abs(exact - X) < tol), (exact, X, tol)
  closed = np.asarray(nt.gat_inverse(jnp.asarray(ED, jnp.float32), lam, sigma, "closed_form"), np.float64)
  assert np.all(np.abs(closed - X) < tol + 0.01)  # the closed form is an approximation of the exact inverse
  algebraic = np.asarray(nt.gat_inverse(jnp.asarray(ED, jnp.float32), lam, sigma, "algebraic"), np.float64)
  if lam * 0.05 < 5:  # low counts: the algebraic inverse is biased low, far outside the Monte-Carlo band
    assert np.all(algebraic[:2] < X[:2] - 5 * tol[:2])


def test_gat_stabilises_the_variance_and_inverse_of_forward_is_identity_without_noise():
  xs = jnp.full((200_000,), 0.5)
  for lam, sigma in [(30.0, 25.0), (100.0, 5.0)]:
    D = nt.gat_forward(noise.poisson_gaussian(jax.random.key(1), xs, lam, sigma), lam, sigma)
    assert abs(float(jnp.std(D)) - 1.0) < 0.02
  # on a noise-free value the algebraic inverse undoes the forward transform exactly
  y = jnp.linspace(0.0, 1.0, 11)
  assert np.allclose(nt.gat_inverse(nt.gat_forward(y, 20.0, 3.0), 20.0, 3.0, "algebraic"), y, atol=1e-6)
  # exact and closed form agree at high counts (the closed form is asymptotically exact)
  D = jnp.linspace(10.0, 40.0, 7)
  assert np.allclose(nt.gat_inverse(D, 100.0, 5.0, "exact"), nt.gat_inverse(D, 100.0, 5.0, "closed_form"),
                     rtol=2e-3)


@pytest.mark.parametrize("amplitude", [False, True])
def test_speckle_log_transform_is_unbiased_with_known_variance(amplitude):
  L = 4.0
  x = jnp.full((400_000,), 0.3)
  fn = noise.speckle_amplitude if amplitude else noise.speckle_intensity
  v = nt.log_transform(fn(jax.random.key(2), x, L), L, amplitude=amplitude)
  sd = nt.speckle_log_std(L, amplitude)
  assert abs(float(jnp.mean(v)) - math.log(0.3)) < 4 * sd / math.sqrt(x.size)
  assert abs(float(jnp.std(v)) / sd - 1.0) < 0.01
  assert np.allclose(nt.log_inverse(nt.log_transform(jnp.asarray([0.3]), L, amplitude=amplitude)),
                     0.3 * math.exp(-nt.speckle_log_bias(L, amplitude)))


def test_speckle_log_constants_and_errors():
  assert math.isclose(nt.speckle_log_bias(1.0), -0.5772156649015329, rel_tol=1e-12)  # psi(1) = -gamma
  assert math.isclose(nt.speckle_log_std(1.0) ** 2, math.pi**2 / 6, rel_tol=1e-12)  # psi_1(1)
  assert math.isclose(nt.speckle_log_bias(4.0), 1 + 1 / 2 + 1 / 3 - 0.5772156649015329 - math.log(4.0), rel_tol=1e-12)
  assert math.isclose(nt.speckle_log_bias(4.0, amplitude=True), 0.5 * nt.speckle_log_bias(4.0))
  with pytest.raises(ValueError, match="looks=0.5"):
    nt.speckle_log_bias(0.5)
  with pytest.raises(ValueError, match="lam=0"):
    nt.gat_forward(jnp.ones(3), 0.0)
  with pytest.raises(ValueError, match="method='anscombe'; valid: exact, closed_form, algebraic"):
    nt.gat_inverse(jnp.ones(3), 5.0, method="anscombe")
  with pytest.raises(ValueError, match="floor=0"):
    nt.log_transform(jnp.ones(3), 4.0, floor=0.0)


@pytest.mark.parametrize("kind,params", [("awgn", {"sigma": 25.0}), ("poisson_gaussian", {"lam": 20.0, "sigma": 5.0}),
                                         ("speckle", {"looks": 4.0}), ("speckle_amplitude", {"looks": 2.0})])
def test_stabilize_gives_the_stated_sigma_and_inverts_the_mean(kind, params):
  x = jnp.full((200_000,), 0.4)
  st = nt.stabilize(noise.add_noise(jax.random.key(4), x, kind, **params), kind, **params)
  assert abs(float(jnp.std(st.image)) * 255 / st.sigma - 1.0) < 0.03
  assert -0.1 < float(jnp.mean(st.image)) < 1.1
  back = float(st.invert(jnp.mean(st.image)))  # the inverse of the mean recovers x (unbiased transforms)
  assert abs(back - 0.4) < 0.004, back
  with pytest.raises(ValueError, match="unknown noise kind 'salt'"):
    nt.stabilize(x, "salt")
