"""Parameter x step grids (pde/grid.py): agreement with a loop of solve() calls, the exact SURE of the
heat flow (its trace from the DFT eigenvalues) against the Monte-Carlo estimate, best_setting, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax import pde

RNG = np.random.default_rng(5)
CLEAN = np.zeros((16, 20), np.float32)
CLEAN[:, 10:] = 0.7
CLEAN[4:9, 3:8] = 0.4
NOISY = jnp.asarray(CLEAN + 0.1 * RNG.normal(size=CLEAN.shape).astype(np.float32))


def _psnr(u, clean):
  return 10 * np.log10(1.0 / np.mean((np.clip(np.asarray(u), 0, 1) - clean) ** 2))


def test_psnr_grid_matches_loop_of_solves():
  Ks = [0.05, 0.2]
  out = np.asarray(pde.psnr_grid(NOISY, CLEAN, "perona_malik", 9, 0.2, grid={"K": Ks}))
  assert out.shape == (2, 10)
  for i, K in enumerate(Ks):
    traj = pde.solve(NOISY, "perona_malik", 9, 0.2, return_trajectory=True, K=K)
    ref = np.array([_psnr(u, CLEAN) for u in traj])
    assert np.allclose(out[i], ref, atol=2e-4)
  # two parameters: the Cartesian product, with a dt per combination and the reference method
  g = {"lambda1": [0.5, 1.0], "lambda2": [0.01, 0.02, 0.04]}
  dts = np.array([[0.5 * pde.stability_limit("zg", lambda1=a, lambda2=b) for b in g["lambda2"]] for a in g["lambda1"]])
  zg = np.asarray(pde.psnr_grid(NOISY, CLEAN, "zg", 4, dts, grid=g, method="reference", K=0.1))
  assert zg.shape == (2, 3, 5)
  u = pde.solve(NOISY, "zg", 4, float(dts[1, 2]), lambda1=1.0, lambda2=0.04, K=0.1)
  assert abs(zg[1, 2, 4] - _psnr(u, CLEAN)) < 2e-4
  best = pde.best_setting(zg, g)
  assert set(best) == {"lambda1", "lambda2", "steps", "score"} and best["score"] == zg.max()


def _heat_trace_and_frobenius(H, W, dt, t):
  """tr A and ||A||_F^2 for A = (I + dt L)^t, L the periodic 5-point Laplacian (circulant: DFT eigenvalues)."""
  ky, kx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
  lam = -4 * np.sin(np.pi * ky / H) ** 2 - 4 * np.sin(np.pi * kx / W) ** 2
  mu = (1 + dt * lam) ** t
  return mu.sum(), (mu**2).sum()


def test_sure_grid_of_heat_matches_exact_sure_within_the_probe_noise():
  sigma, dt, steps, probes = 25.0, 0.2, 12, 8
  s2 = (sigma / 255) ** 2
  y = NOISY
  out = np.asarray(pde.sure_grid(y, sigma, "heat", steps, dt, grid={}, key=jax.random.key(0), probes=probes,
                                 bc="periodic"))
  assert out.shape == (steps + 1,)
  traj = np.asarray(pde.solve(y, "heat", steps, dt, return_trajectory=True, bc="periodic"), np.float64)
  n = y.size
  assert abs(out[0] - s2) < 1e-7  # identity: b^T b = n exactly for Rademacher probes
  for t in range(steps + 1):
    tr, fro2 = _heat_trace_and_frobenius(*y.shape, dt, t)
    exact = np.sum((traj[t] - np.asarray(y, np.float64)) ** 2) / n - s2 + 2 * s2 * tr / n
    # std of the Rademacher estimate of tr A: sqrt(2 (||A||_F^2 - sum A_ii^2) / probes); A_ii = tr / n
    sd = 2 * s2 / n * np.sqrt(2 * (fro2 - tr**2 / n) / probes)
    assert abs(out[t] - exact) <= 4 * sd + 1e-7, (t, out[t], exact, sd)


def test_sure_stderr_flags_noisy_entries_and_sure_best_setting_skips_them():
  g = {"K": [0.05, 0.3]}
  risk, err = pde.sure_grid(NOISY, 25.0, "perona_malik", 6, 0.2, grid=g, key=jax.random.key(0), probes=3,
                            return_stderr=True)
  risk, err = np.asarray(risk), np.asarray(err)
  assert risk.shape == err.shape == (2, 7) and np.all(err[:, 0] == 0) and np.all(err[:, 1:] > 0)
  one = np.asarray(pde.sure_grid(NOISY, 25.0, "perona_malik", 6, 0.2, grid=g, key=jax.random.key(0), probes=1,
                                 return_stderr=True)[1])
  assert np.all(np.isnan(one))
  # a fake table: the lowest SURE has a huge standard error, the next one is reliable
  r = np.full((2, 7), 0.01)
  r[0, 5], r[1, 3] = 0.001, 0.004
  e = np.zeros((2, 7))
  e[0, 5] = 1.0
  best = pde.sure_best_setting(r, e, g)
  assert (best["K"], best["steps"], best["score"]) == (0.3, 3, 0.004)
  assert pde.best_setting(r, g, "min")["steps"] == 5  # without the guard


def test_sure_grid_rejects_bad_inputs():
  kw = dict(key=jax.random.key(0))
  with pytest.raises(ValueError, match="sigma=0"):
    pde.sure_grid(NOISY, 0.0, "perona_malik", 3, 0.2, grid={"K": [0.1]}, **kw)
  with pytest.raises(ValueError, match="probes=0"):
    pde.sure_grid(NOISY, 25, "perona_malik", 3, 0.2, grid={"K": [0.1]}, probes=0, **kw)
  with pytest.raises(ValueError, match="'g' of prior 'perona_malik' is static"):
    pde.sure_grid(NOISY, 25, "perona_malik", 3, 0.2, grid={"g": [1.0]}, **kw)
  with pytest.raises(ValueError, match="'kappa' is not a parameter of prior 'perona_malik'; valid: K"):
    pde.psnr_grid(NOISY, CLEAN, "perona_malik", 3, 0.2, grid={"kappa": [1.0]})
  with pytest.raises(ValueError, match="K=-0.1"):
    pde.psnr_grid(NOISY, CLEAN, "perona_malik", 3, 0.2, grid={"K": [0.1, -0.1]})
  with pytest.raises(ValueError, match="exceeds the explicit stability limit"):
    pde.psnr_grid(NOISY, CLEAN, "tv", 3, 0.05, grid={"eps": [0.4, 0.1]})  # limit eps / 4 = 0.025 for eps 0.1
  with pytest.raises(ValueError, match="clean has shape"):
    pde.psnr_grid(NOISY, CLEAN[:8], "perona_malik", 3, 0.2, grid={"K": [0.1]})
  with pytest.raises(ValueError, match="grid=.*expected a mapping"):
    pde.psnr_grid(NOISY, CLEAN, "perona_malik", 3, 0.2, grid=[0.1])
  with pytest.raises(ValueError, match="NaN everywhere"):
    pde.sure_best_setting(np.zeros((1, 3)), np.full((1, 3), np.nan), {"K": [1.0]})
  with pytest.raises(ValueError, match="scores have shape"):
    pde.best_setting(np.zeros((3, 4)), {"K": [1.0, 2.0]})
