"""The true PINN formulation (seed Eq. 11, 14, 15, 17) for one noisy image: a coordinate network
u_theta(x, y, t), fitted with

  L = w_ic  mean_pixels (u(x, y, 0) - y_noisy(x, y))^2               initial condition, X_0 = observed input
    + w_pde mean_colloc (u_t - F(u))^2 at random interior (x, y, t)     exact autodiff residual
    + w_bc  mean_border (du/dn)^2 (Neumann) or (u - g)^2 (Dirichlet)

and the denoised image is u(., ., T). Only the noisy image is used (a zero-shot method by nature).
The weights are config.loss.weights as the zero-shot protocol gives them (data and perc are 0), summed
by vision_jax.losses.pinn.total_loss like every other PINN loss of the project.

Units: the network sees x/L, y/L in [0, 1] (L = max(H, W) - 1) and t/T; u_fn below undoes that
scaling, so autodiff derivatives (and hence the PDE) are in pixel units, the same units as the grid
priors, and T is a diffusion time in pixel^2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.losses import pinn as pinn_loss
from vision_jax.models import denoisers
from vision_jax.pde import residuals
from vision_jax.projects.pinn_denoise import loss as loss_lib
from vision_jax.train import loop


def pixel_fn(model, params, length: float, horizon: float):
  """u(x, y, t) -> scalar in pixel units, from the network on normalised coordinates."""
  net = denoisers.scalar_fn(model, params)
  return lambda x, y, t: net(x / length, y / length, t / horizon)


def sample_collocation(rng: np.random.Generator, shape, n: int, horizon: float) -> dict:
  """Random points: interior (x, y, t), border (x, y, t) with outward normals, and IC pixel indices."""
  h, w = shape
  interior = np.stack([rng.uniform(0, w - 1, n), rng.uniform(0, h - 1, n), rng.uniform(0, horizon, n)], -1)
  side = rng.integers(4, size=n)
  s = rng.uniform(0, 1, n)
  bx = np.select([side == 0, side == 1, side == 2], [np.zeros(n), np.full(n, w - 1.0), s * (w - 1)], s * (w - 1))
  by = np.select([side == 0, side == 1, side == 2], [s * (h - 1), s * (h - 1), np.zeros(n)], np.full(n, h - 1.0))
  normals = np.select([side[:, None] == k for k in range(4)],
                      [np.array([[-1.0, 0]]), np.array([[1.0, 0]]), np.array([[0, -1.0]]), np.array([[0, 1.0]])])
  border = np.stack([bx, by, rng.uniform(0, horizon, n)], -1)
  ic = rng.integers(h * w, size=n)
  return {"interior": interior.astype(np.float32), "border": border.astype(np.float32),
          "normals": normals.astype(np.float32), "ic_index": ic.astype(np.int32)}


def fit(noisy: np.ndarray, config, weights: dict, seed: int = 0) -> tuple[np.ndarray, dict]:
  """Fits u_theta to one noisy image (H, W, 1) with loss `weights`; returns (u(., ., T) as (H, W, 1), info)."""
  ccfg = config.coord
  h, w = noisy.shape[:2]
  length, horizon = float(max(h, w) - 1), float(ccfg.time)
  model = denoisers.get_denoiser("coord_mlp", **dict(config.model.coord_mlp))
  pixels = jnp.asarray(noisy[..., 0]).ravel()
  grid = np.asarray(residuals.grid_points((h, w)))  # (H*W, 3), t = 0
  prior = config.prior
  params_pde = loss_lib.prior_params(config)

  def loss_fn(params, batch_stats, batch, rng):
    u = pixel_fn(model, params, length, horizon)
    ic_pts = jnp.asarray(grid)[batch["ic_index"]]
    u0 = jax.vmap(lambda p: u(p[0], p[1], 0.0))(ic_pts)
    terms = {"ic": jnp.mean((u0 - pixels[batch["ic_index"]]) ** 2)}
    terms["pde"] = (jnp.mean(residuals.autodiff_residual(u, batch["interior"], prior, **params_pde) ** 2)
                    if prior != "none" else jnp.zeros(()))
    if config.loss.bc_kind == "neumann":
      grads = jax.vmap(lambda p: jnp.stack(jax.grad(u, argnums=(0, 1))(p[0], p[1], p[2])))(batch["border"])
      terms["bc"] = jnp.mean(jnp.sum(grads * batch["normals"], -1) ** 2)
    else:
      terms["bc"] = jnp.mean((jax.vmap(lambda p: u(p[0], p[1], p[2]))(batch["border"]) - float(config.loss.bc_value)) ** 2)
    return pinn_loss.total_loss(terms, weights), (terms, batch_stats)

  def batch_fn(step):
    return sample_collocation(np.random.default_rng([seed, step]), (h, w), int(ccfg.points), horizon)

  problem = loop.TrainProblem(model, np.zeros((1, 3), np.float32), loss_fn, batch_fn)
  state, _, metrics = loop.fit_in_memory(problem, config, int(ccfg.steps), seed=seed, desc="coordinate PINN")
  u = pixel_fn(model, state["params"], length, horizon)
  final = residuals.sample_grid(u, (h, w), t=horizon)
  return np.asarray(final, np.float32)[..., None], {f"final_{k}": v for k, v in metrics.items()}
