"""The composite PINN loss: each term checked against a value it must take."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax.losses import pinn
from vision_jax.pde import operators, priors


A1 = pinn.ALGORITHM1_WEIGHTS


def _w(**kw):
  """Algorithm 1's weights with some replaced (every loss call gets all five weights)."""
  return {**A1, **kw}


def _img(seed=0, shape=(2, 16, 16, 1)):
  return jnp.asarray(np.random.default_rng(seed).random(shape, dtype=np.float32))


def test_implicit_step_residual_vanishes_on_an_exact_backward_euler_step():
  # Choose x_hat, then build the noisy input for which x_hat is exactly one implicit heat step.
  x_hat = _img(0)
  tau = 0.7
  lap = jnp.moveaxis(operators.laplacian(jnp.moveaxis(x_hat, -1, 1)), 1, -1)
  noisy = x_hat - tau * lap
  terms = pinn.pinn_loss_terms(x_hat, noisy, None, prior="heat", pde_form="implicit_step", tau=tau,
                               weights=_w(data=0, perc=0, ic=0, bc=0))
  assert float(terms["pde"]) < 1e-12
  # Any other input gives a positive residual.
  terms2 = pinn.pinn_loss_terms(x_hat, x_hat, None, prior="heat", tau=tau, weights=_w(data=0, perc=0))
  np.testing.assert_allclose(float(terms2["pde"]), float(jnp.mean((tau * lap) ** 2)), rtol=1e-5)


def test_steady_residual_is_mean_square_of_the_prior_rhs():
  x = _img(1)
  terms = pinn.pinn_loss_terms(x, x, x, prior="perona_malik", prior_params={"K": 0.1}, pde_form="steady",
                               weights=A1)
  f = priors.get_prior("perona_malik").rhs(jnp.moveaxis(x, -1, 1), K=0.1)
  np.testing.assert_allclose(float(terms["pde"]), float(jnp.mean(f ** 2)), rtol=1e-5)
  const = jnp.full((1, 8, 8, 1), 0.3)
  assert float(pinn.pinn_loss_terms(const, const, const, prior="zg", pde_form="steady", weights=A1)["pde"]) < 1e-14


def test_data_ic_terms_and_weighted_total():
  x, y, c = _img(2), _img(3), _img(4)
  terms = pinn.pinn_loss_terms(x, y, c, prior="heat", weights=A1)
  np.testing.assert_allclose(float(terms["data"]), float(jnp.mean((x - c) ** 2)), rtol=1e-6)
  np.testing.assert_allclose(float(terms["ic"]), float(jnp.mean((x - y) ** 2)), rtol=1e-6)
  expected = sum(A1[k] * float(terms[k]) for k in pinn.TERMS)
  np.testing.assert_allclose(float(pinn.total_loss(terms, A1)), expected, rtol=1e-6)
  assert A1 == {"data": 1.0, "pde": 1.0, "perc": 0.1, "ic": 0.03, "bc": 0.02}  # Algorithm 1
  # The sum runs over the computed terms only; a positive weight of a missing term is refused.
  sub = {"ic": terms["ic"], "pde": terms["pde"]}
  w = _w(data=0.0, perc=0.0, bc=0.0)
  np.testing.assert_allclose(float(pinn.total_loss(sub, w)), A1["ic"] * float(terms["ic"]) + float(terms["pde"]), rtol=1e-6)
  with pytest.raises(ValueError, match=r"loss weights \['bc', 'data', 'perc'\] are > 0"):
    pinn.total_loss(sub, A1)


def test_perceptual_term_ignores_constant_shifts_but_sees_structure():
  x = _img(5)
  same = pinn.pinn_loss_terms(x + 0.2, x, x, prior="none", weights=_w(data=0, ic=0, bc=0))
  assert float(same["perc"]) < 1e-6  # derivative filters of a constant are zero
  other = pinn.pinn_loss_terms(_img(6), x, x, prior="none", weights=_w(data=0, ic=0, bc=0))
  assert float(other["perc"]) > 1e-2


def test_boundary_terms():
  x = jnp.ones((1, 6, 6, 1)) * 0.5
  assert float(pinn.boundary_loss(x, "neumann")) == 0.0
  np.testing.assert_allclose(float(pinn.boundary_loss(x, "dirichlet", 0.0)), 0.25, rtol=1e-6)
  ramp = jnp.tile(jnp.arange(6.0)[None, :, None, None], (1, 1, 6, 1))  # rows 0..5
  np.testing.assert_allclose(float(pinn.boundary_loss(ramp, "neumann")), 0.5, rtol=1e-6)
  with pytest.raises(ValueError, match="unknown boundary condition 'robin'"):
    pinn.boundary_loss(x, "robin")


def test_zero_shot_refuses_clean_terms_and_unknown_names():
  x = _img(7)
  with pytest.raises(ValueError, match="no clean target"):
    pinn.pinn_loss_terms(x, x, None, prior="heat", weights=A1)
  with pytest.raises(ValueError, match=r"unknown \['pdee'\], missing \['pde'\]"):
    pinn.pinn_loss_terms(x, x, x, prior="heat", weights={**{k: v for k, v in A1.items() if k != "pde"}, "pdee": 1.0})
  with pytest.raises(ValueError, match="loss weight ic=-1 is invalid"):
    pinn.pinn_loss_terms(x, x, x, prior="heat", weights=_w(ic=-1))
  with pytest.raises(ValueError, match="unknown prior 'warp'"):
    pinn.pinn_loss_terms(x, x, x, prior="warp", weights=A1)


def test_loss_is_differentiable_for_every_prior():
  x, y, c = _img(8, (1, 12, 12, 1)), _img(9, (1, 12, 12, 1)), _img(10, (1, 12, 12, 1))
  for name in priors.PRIORS:
    g = jax.grad(lambda z: pinn.total_loss(pinn.pinn_loss_terms(z, y, c, prior=name, weights=A1), A1))(x)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0, name
