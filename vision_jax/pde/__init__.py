"""PDE operators, priors, solvers and residuals on images of shape (..., H, W).

    from vision_jax import pde
    pde.solve(u0, "perona_malik", steps=50, dt=0.2, K=0.05)
    pde.solve_sharded(batch, "perona_malik", 50, 0.2, K=0.05)  # (N, H, W) split over the devices
    pde.solve_strips(image, "heat", 200, 0.25)      # one (H, W) image split into row strips over the devices
    pde.grid_residual(u, "zg")                      # finite differences on the pixel grid
    pde.autodiff_residual(u_fn, points, "heat")     # exact, for coordinate networks u_fn(x, y, t)
    pde.psnr_grid(noisy, clean, "perona_malik", 300, 0.2, grid={"K": Ks})   # (len(Ks), 301), one call
    pde.sure_grid(noisy, 25, "perona_malik", 300, 0.2, grid={"K": Ks}, key=key)  # no clean image
"""

from vision_jax.pde.operators import (BOUNDARY_CONDITIONS, backward_diff, biharmonic, central_gradient,
                                      curvature, divergence, forward_diff, gaussian_smooth, gradient,
                                      gradient_magnitude, laplacian, on_nhwc, total_variation)
from vision_jax.pde.grid import best_setting, grid_combinations, psnr_grid, sure_best_setting, sure_grid
from vision_jax.pde.priors import PRIORS, Prior, edge_stopping, get_prior, weickert_diffusivity
from vision_jax.pde.residuals import autodiff_residual, grid_points, grid_residual, sample_grid
from vision_jax.pde.solvers import solve, solve_nhwc, solve_sharded, stability_limit
from vision_jax.pde.strips import solve_strips, stencil_reach

__all__ = [
    "BOUNDARY_CONDITIONS", "PRIORS", "Prior", "autodiff_residual", "backward_diff", "best_setting", "biharmonic",
    "central_gradient", "curvature", "divergence", "edge_stopping", "forward_diff", "gaussian_smooth",
    "get_prior", "gradient", "gradient_magnitude", "grid_combinations", "grid_points", "grid_residual",
    "laplacian", "on_nhwc", "psnr_grid", "sample_grid", "solve", "solve_nhwc", "solve_sharded", "solve_strips", "stability_limit", "stencil_reach", "sure_best_setting", "sure_grid",
    "total_variation", "weickert_diffusivity",
]
