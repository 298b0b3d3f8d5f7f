# %% [markdown]
# # PDE priors as pure JAX functions: a tour
#
# What this shows, on a bundled picture with AWGN (sigma = 25 on the 0-255 scale), in about a minute on a laptop CPU:
# 1. every registered prior (heat, Perona-Malik, MPMC, Zhichang Guo, tensor, TV) as an explicit flow,
#    PSNR against diffusion time from one `solve(..., return_trajectory=True)` call each;
# 2. `jax.vmap` over noise levels and `jax.grad` through 40 Perona-Malik steps with respect to K;
# 3. the exact autodiff PDE residual a coordinate PINN uses: zero for the heat kernel under the heat
#    prior, not zero under Perona-Malik.
#
# Picking the best stopping time with the clean image (as in cell 2) is an **oracle** choice, shown
# only to compare the flows; `configs/pde_denoise/default.py` tunes on a validation image and reports held-out
# images. Source of truth: `notebooks/pde_priors_tour.py` (the .ipynb is generated from it by
# `python notebooks/build_notebooks.py`; `tests/test_notebooks.py` runs it).

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from vision_jax import noise
from vision_jax.data import images
from vision_jax.metrics import image as image_metrics
from vision_jax.pde import residuals, solvers

SIZE, SIGMA, STEPS = 96, 25.0, 60  # sigma on the 0-255 scale
clean = jnp.asarray(images.load_bundled("camera", SIZE).pixels[..., 0])  # (H, W) in [0, 1]
noisy = noise.awgn(jax.random.PRNGKey(0), clean, SIGMA)
noisy_psnr = float(image_metrics.psnr(noisy[..., None], clean[..., None]))
print(f"image {clean.shape}, noisy PSNR {noisy_psnr:.2f} dB")

# %%
curves, best = {}, {}
for name in ["heat", "perona_malik", "mpmc", "zg", "tensor", "tv"]:
  dt = 0.9 * solvers.stability_limit(name)  # explicit-Euler limit derived per prior (priors.py)
  traj = solvers.solve(noisy, name, STEPS, dt, return_trajectory=True)  # (STEPS + 1, H, W)
  psnr_t = np.asarray(image_metrics.psnr(traj[..., None], jnp.broadcast_to(clean[..., None], traj[..., None].shape)))
  curves[name] = (dt * np.arange(STEPS + 1), psnr_t)
  best[name] = (float(psnr_t.max()), int(psnr_t.argmax()))
  print(f"{name:>13}: dt={dt:.4f}, best PSNR {best[name][0]:.2f} dB at step {best[name][1]} (oracle stop)")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, (t, p) in curves.items():
  ax.plot(t, p, label=name)
ax.axhline(noisy_psnr, color="k", ls=":", label="noisy")
ax.set(xlabel="diffusion time (pixel$^2$)", ylabel="PSNR (dB)", xscale="symlog", title="explicit flows from the noisy image")
ax.legend(fontsize=7)
fig.tight_layout()

# %%
# vmap: one compiled Perona-Malik flow over a batch of noise levels.
sigmas = jnp.array([10.0, 25.0, 50.0])
keys = jax.random.split(jax.random.PRNGKey(1), 3)
batch = jax.vmap(lambda k, s: noise.awgn(k, clean, s))(keys, sigmas)  # (3, H, W)
smoothed = jax.vmap(lambda u: solvers.solve(u, "perona_malik", 20, 0.2, K=0.1))(batch)
reference = jnp.broadcast_to(clean[..., None], batch[..., None].shape)
gain_per_sigma = np.asarray(image_metrics.psnr(smoothed[..., None], reference) - image_metrics.psnr(batch[..., None], reference))
print("PSNR gain of 20 Perona-Malik steps at sigma 10/25/50:", np.round(gain_per_sigma, 2))


# grad: d(MSE after 40 steps)/dK, checked against a central finite difference in float64
# (Perona-Malik diffuses backwards across strong edges, so float32 rounding is amplified by the flow
# and a float32 finite difference is off by several percent; autodiff is not the problem).
with jax.enable_x64(True):
  noisy64, clean64 = noisy.astype(jnp.float64), clean.astype(jnp.float64)

  def mse_after_flow(K):
    return jnp.mean((solvers.solve(noisy64, "perona_malik", 40, 0.2, K=K) - clean64) ** 2)

  dmse_dK = float(jax.grad(mse_after_flow)(0.08))
  h = 1e-5
  fd = float((mse_after_flow(0.08 + h) - mse_after_flow(0.08 - h)) / (2 * h))
print(f"dMSE/dK at K=0.08: autodiff {dmse_dK:.6f}, finite difference {fd:.6f}")

# %%
# Exact residual u_t - F(u) of a differentiable field, as a coordinate PINN sees it.
def heat_kernel(x, y, t, t0=2.0):  # solves u_t = u_xx + u_yy
  s = t + t0
  return jnp.exp(-((x - 8.0) ** 2 + (y - 8.0) ** 2) / (4 * s)) / s


pts = residuals.grid_points((16, 16), t=0.5)
heat_res = residuals.autodiff_residual(heat_kernel, pts, "heat")
pm_res = residuals.autodiff_residual(heat_kernel, pts, "perona_malik", K=0.05)
print(f"max |residual|: heat {float(jnp.abs(heat_res).max()):.2e}, perona_malik {float(jnp.abs(pm_res).max()):.2e}")
