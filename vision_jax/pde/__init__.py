"""PDE operators, priors, solvers and residuals on images of shape (..., H, W).

    from vision_jax import pde
    pde.solve(u0, "perona_malik", steps=50, dt=0.2, K=0.05)
    pde.grid_residual(u, "zg")                      # finite differences on the pixel grid
    pde.autodiff_residual(u_fn, points, "heat")     # exact, for coordinate networks u_fn(x, y, t)
"""

from vision_jax.pde.operators import (BOUNDARY_CONDITIONS, backward_diff, biharmonic, central_gradient,
                                      curvature, divergence, forward_diff, gaussian_smooth, gradient,
                                      gradient_magnitude, laplacian, on_nhwc, total_variation)
from vision_jax.pde.priors import PRIORS, Prior, edge_stopping, get_prior, weickert_diffusivity
from vision_jax.pde.residuals import autodiff_residual, grid_points, grid_residual, sample_grid
from vision_jax.pde.solvers import solve, solve_nhwc, stability_limit

__all__ = [
    "BOUNDARY_CONDITIONS", "PRIORS", "Prior", "autodiff_residual", "backward_diff", "biharmonic",
    "central_gradient", "curvature", "divergence", "edge_stopping", "forward_diff", "gaussian_smooth",
    "get_prior", "gradient", "gradient_magnitude", "grid_points", "grid_residual", "laplacian", "on_nhwc",
    "sample_grid", "solve", "solve_nhwc", "stability_limit", "total_variation", "weickert_diffusivity",
]
