"""The coordinate PINN u(x, y, t): exact autodiff residual in pixel units, and a fit that recovers a
known solution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from vision_jax.models import denoisers
from vision_jax.pde import residuals
from vision_jax.projects.pinn_denoise import coord_pinn, protocols, run


def test_pixel_fn_scaling_gives_pixel_unit_derivatives():
  model = denoisers.get_denoiser("coord_mlp", width=8, depth=2)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))["params"]
  u = coord_pinn.pixel_fn(model, params, length=10.0, horizon=2.0)
  net = denoisers.scalar_fn(model, params)
  # d/dx of net(x/10, y/10, t/2) = (1/10) d net / d x_normalised
  gx = jax.grad(u, argnums=0)(3.0, 4.0, 1.0)
  gx_net = jax.grad(net, argnums=0)(0.3, 0.4, 0.5)
  np.testing.assert_allclose(float(gx), float(gx_net) / 10.0, rtol=1e-5)
  gt = jax.grad(u, argnums=2)(3.0, 4.0, 1.0)
  np.testing.assert_allclose(float(gt), float(jax.grad(net, argnums=2)(0.3, 0.4, 0.5)) / 2.0, rtol=1e-5)


def test_collocation_points_lie_where_they_should():
  pts = coord_pinn.sample_collocation(np.random.default_rng(0), (6, 9), 200, 1.5)
  x, y, t = pts["border"].T
  on_border = (x == 0) | (x == 8) | (y == 0) | (y == 5)
  assert on_border.all() and (t >= 0).all() and (t <= 1.5).all()
  n = pts["normals"]
  assert np.all(np.abs(n).sum(1) == 1)
  assert np.all(n[x == 0][:, 0] == -1) and np.all(n[y == 5][:, 1] == 1)
  assert pts["interior"][:, 0].max() <= 8 and pts["ic_index"].max() < 54


def test_fit_recovers_the_constant_solution_of_the_heat_equation():
  cfg = load_config("pinn_denoise", "small,backbone=coord_mlp,prior=heat,protocol=zeroshot")
  cfg.model.coord_mlp = {"width": 16, "depth": 2, "num_fourier": 0}
  cfg.coord.steps = 600
  cfg.coord.points = 64
  cfg.optim.lr = 1e-2
  cfg.train.progress = False
  noisy = np.full((8, 8, 1), 0.6, np.float32)
  weights = protocols.PROTOCOLS["zeroshot"].loss_weights(cfg)
  assert weights == {"data": 0.0, "pde": 1.0, "perc": 0.0, "ic": 1.0, "bc": 0.1}  # config.loss.weights, one source
  out, info = coord_pinn.fit(noisy, cfg, weights, seed=0)
  assert out.shape == (8, 8, 1)
  np.testing.assert_allclose(out, 0.6, atol=0.03)
  assert info["final_ic"] < 1e-3 and np.isfinite(info["final_pde"])


def test_coord_mlp_needs_the_zeroshot_protocol():
  cfg = load_config("pinn_denoise", "small,backbone=coord_mlp,prior=heat")
  with pytest.raises(ValueError, match="runs only with protocol=zeroshot"):
    run.train(cfg, "/nonexistent/never-created")
