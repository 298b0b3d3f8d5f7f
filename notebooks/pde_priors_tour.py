# %% [markdown]
# # PDE priors as pure JAX functions: a tour
#
# What this shows, on a bundled picture with AWGN (sigma = 25 on the 0-255 scale), in about a minute on a laptop CPU:
# 1. how to choose a prior's contrast parameter K (Perona-Malik, MPMC) and its stopping time on a
#    **validation** image, and why the default K = 0.05 is too low for this noise level;
# 2. every registered prior (heat, Perona-Malik, MPMC, Zhichang Guo, tensor, TV) as an explicit flow,
#    PSNR against diffusion time from one `solve(..., return_trajectory=True)` call each, and the
#    denoised images at the validation-chosen time;
# 3. `jax.vmap` over noise levels and `jax.grad` through 40 Perona-Malik steps with respect to K;
# 4. the exact autodiff PDE residual a coordinate PINN uses: zero for the heat kernel under the heat
#    prior, not zero under Perona-Malik.
#
# Parameters and stopping times are chosen on the validation image (astronaut) and then applied to the
# test image (camera); the best stopping time measured with the clean test image is also drawn, marked
# **oracle**, only to show how much the validation choice leaves on the table.
# `configs/pde_denoise/default.py` does the same on held-out image sets.
#
# Figures are saved as PNGs to `$VISION_JAX_FIGURES` (default `runs/notebooks/pde_priors_tour/`), so
# running this file as a script (`python notebooks/pde_priors_tour.py`) writes them too. Source of truth:
# `notebooks/pde_priors_tour.py`; `python notebooks/build_notebooks.py` rebuilds the .ipynb and runs it,
# storing its printed output and figures in the committed notebook; `tests/test_notebooks.py` runs it
# and checks its numbers and figures.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from vision_jax import noise
from vision_jax.data import images
from vision_jax.metrics import image as image_metrics
from vision_jax.pde import residuals, solvers

FIG_DIR = os.environ.get("VISION_JAX_FIGURES", os.path.join("runs", "notebooks", "pde_priors_tour"))
os.makedirs(FIG_DIR, exist_ok=True)
saved = []


def save(fig, name):
  """Writes the figure as FIG_DIR/name.png (it stays displayed in the notebook)."""
  path = os.path.join(FIG_DIR, f"{name}.png")
  fig.savefig(path, dpi=110)
  saved.append(path)


SIZE, SIGMA, STEPS = 96, 25.0, 120  # sigma on the 0-255 scale
clean = jnp.asarray(images.load_bundled("camera", SIZE).pixels[..., 0])  # test image (H, W) in [0, 1]
val_clean = jnp.asarray(images.load_bundled("astronaut", SIZE).pixels[..., 0])  # validation image
noisy = noise.awgn(jax.random.PRNGKey(0), clean, SIGMA)
val_noisy = noise.awgn(jax.random.PRNGKey(1), val_clean, SIGMA)
psnr = lambda u, ref: float(image_metrics.psnr(u[..., None], ref[..., None]))  # noqa: E731
noisy_psnr = psnr(noisy, clean)
print(f"image {clean.shape}, noisy PSNR {noisy_psnr:.2f} dB (validation image: {psnr(val_noisy, val_clean):.2f} dB)")


def psnr_per_step(traj, ref):
  """PSNR of every image of a trajectory (..., STEPS + 1, H, W) against ref (H, W)."""
  return np.asarray(image_metrics.psnr(traj[..., None], jnp.broadcast_to(ref[..., None], traj[..., None].shape)))


def flow_psnr(u0, ref, name, **params):
  """(times, PSNR per step, trajectory) of STEPS explicit steps at half the prior's stability limit."""
  dt = 0.5 * solvers.stability_limit(name)  # explicit-Euler limit derived per prior (priors.py)
  traj = solvers.solve(u0, name, STEPS, dt, return_trajectory=True, **params)  # (STEPS + 1, H, W)
  return dt * np.arange(STEPS + 1), psnr_per_step(traj, ref), traj


def k_sweep(u0, ref, name, grid):
  """(len(grid), STEPS + 1) PSNR per K and step: one flow compiled once and vmapped over K."""
  dt = 0.5 * solvers.stability_limit(name)
  flows = jax.vmap(lambda K: solvers.solve(u0, name, STEPS, dt, return_trajectory=True, K=K))(jnp.asarray(grid))
  return psnr_per_step(flows, ref)

# %% [markdown]
# ## Choosing K on the validation image
#
# K is the gradient magnitude (Perona-Malik) or curvature (MPMC) at which the flow stops diffusing
# (`priors.edge_stopping`), in intensity per pixel on the [0, 1] scale. AWGN with sigma = 25/255 gives
# forward differences with standard deviation sqrt(2) * 25/255 = 0.14, so with the default K = 0.05 almost
# every noise step counts as an edge and is kept: the flow barely smooths, and its PSNR is still rising at
# the last step. The sweep below picks K (and the stopping time) by the validation image's PSNR; each
# sweep is one flow `jax.vmap`ped over the K grid.

# %%
K_GRID = {"perona_malik": [0.05, 0.1, 0.2, 0.4, 0.8], "mpmc": [0.5, 1.0, 2.0, 4.0, 8.0]}
sweep, chosen = {}, {}
for name, grid in K_GRID.items():
  sweep[name] = k_sweep(val_noisy, val_clean, name, grid).max(axis=1)  # best over stopping times, per K
  chosen[name] = {"K": grid[int(np.argmax(sweep[name]))]}
  test_at = k_sweep(noisy, clean, name, grid).max(axis=1)  # oracle, for comparison only
  print(f"{name:>13}: validation PSNR per K {np.round(sweep[name], 2)} -> K = {chosen[name]['K']}; "
        f"oracle test PSNR per K {np.round(test_at, 2)}")
  if chosen[name]["K"] == grid[-1]:
    print(f"{'':>13}  (largest K on the grid: the flow is close to linear diffusion at this noise level)")

fig, ax = plt.subplots(figsize=(6, 3.2))
for name, grid in K_GRID.items():
  ax.plot(grid, sweep[name], marker="o", label=f"{name} (chosen K = {chosen[name]['K']})")
ax.axhline(psnr(val_noisy, val_clean), color="k", ls=":", label="noisy")
ax.set(xscale="log", xlabel="K (intensity per pixel)", ylabel="best validation PSNR (dB)",
       title="contrast parameter K, chosen on the validation image")
ax.legend(fontsize=7)
fig.tight_layout()
save(fig, "k_sweep")

# %% [markdown]
# ## Every prior as a flow on the test image
#
# Each prior runs with the validation-chosen K (defaults for the others) and is stopped at the time that
# was best on the validation image; the oracle best time on the test image is shown for comparison.

# %%
PRIORS = ["heat", "perona_malik", "mpmc", "zg", "tensor", "tv"]
curves, best, validated, stopped = {}, {}, {}, {}
for name in PRIORS:
  params = chosen.get(name, {})
  t, p, traj = flow_psnr(noisy, clean, name, **params)
  val_step = int(np.argmax(flow_psnr(val_noisy, val_clean, name, **params)[1]))
  curves[name] = (t, p)
  best[name] = (float(p.max()), int(p.argmax()))  # oracle: chosen with the clean test image
  validated[name] = (float(p[val_step]), val_step)
  stopped[name] = np.asarray(traj[val_step])
  print(f"{name:>13}: {params or 'defaults'}; validation-chosen stop t = {t[val_step]:.3g}: {p[val_step]:.2f} dB; "
        f"oracle best {p.max():.2f} dB at t = {t[p.argmax()]:.3g}")

fig, ax = plt.subplots(figsize=(6.5, 3.6))
for name, (t, p) in curves.items():
  line, = ax.plot(t, p, label=name)
  ax.plot(t[validated[name][1]], validated[name][0], "o", color=line.get_color())
ax.axhline(noisy_psnr, color="k", ls=":", label="noisy")
ax.set_xscale("symlog", linthresh=0.05)
ax.set(xlabel="diffusion time (pixel$^2$)", ylabel="PSNR (dB)", title="flows from the noisy test image (dots: validation-chosen stop)")
ax.legend(fontsize=7)
fig.tight_layout()
save(fig, "psnr_curves")

fig, axes = plt.subplots(2, 4, figsize=(8, 4.4))
panels = [("clean", np.asarray(clean)), (f"noisy {noisy_psnr:.2f} dB", np.asarray(noisy))]
panels += [(f"{name} {validated[name][0]:.2f} dB", stopped[name]) for name in PRIORS]
for ax, (title, img) in zip(axes.ravel(), panels):
  ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
  ax.set_title(title, fontsize=9)
  ax.axis("off")
fig.suptitle("denoised at the validation-chosen time (PSNR on the test image)", fontsize=10)
fig.tight_layout()
save(fig, "denoised")

# %%
# vmap: one compiled Perona-Malik flow over a batch of noise levels.
sigmas = jnp.array([10.0, 25.0, 50.0])
keys = jax.random.split(jax.random.PRNGKey(1), 3)
batch = jax.vmap(lambda k, s: noise.awgn(k, clean, s))(keys, sigmas)  # (3, H, W)
smoothed = jax.vmap(lambda u: solvers.solve(u, "perona_malik", 20, 0.2, K=0.1))(batch)
reference = jnp.broadcast_to(clean[..., None], batch[..., None].shape)
gain_per_sigma = np.asarray(image_metrics.psnr(smoothed[..., None], reference) - image_metrics.psnr(batch[..., None], reference))
print("PSNR gain of 20 Perona-Malik steps (K = 0.1) at sigma 10/25/50:", np.round(gain_per_sigma, 2))


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
print(f"dMSE/dK at K=0.08: autodiff {dmse_dK:.6f}, finite difference {fd:.6f} "
      "(negative: a larger K lowers the error, as the sweep found)")

# %%
# Exact residual u_t - F(u) of a differentiable field, as a coordinate PINN sees it.
def heat_kernel(x, y, t, t0=2.0):  # solves u_t = u_xx + u_yy
  s = t + t0
  return jnp.exp(-((x - 8.0) ** 2 + (y - 8.0) ** 2) / (4 * s)) / s


pts = residuals.grid_points((16, 16), t=0.5)
heat_res = residuals.autodiff_residual(heat_kernel, pts, "heat")
pm_res = residuals.autodiff_residual(heat_kernel, pts, "perona_malik", K=0.05)
print(f"max |residual|: heat {float(jnp.abs(heat_res).max()):.2e}, perona_malik {float(jnp.abs(pm_res).max()):.2e}")
print("figures written:", ", ".join(saved))
