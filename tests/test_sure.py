"""SURE and Noise2Self (losses/sure.py): the divergence estimate, unbiasedness for a linear smoother over
many noise draws, SURE tracking the true MSE along a Perona-Malik run, SURE as a training loss, the
Noise2Self identity E[loss] = E[masked MSE] + sigma^2, masks and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vision_jax import noise, pde
from vision_jax.data import images
from vision_jax.losses import sure as sure_lib
from vision_jax.pde import operators as ops

SIGMA = 25.0
S2 = (SIGMA / 255) ** 2


def _clean(size=32):
  y, x = np.mgrid[:size, :size] / size
  img = 0.3 + 0.4 * (x > 0.5) + 0.2 * np.sin(6 * y)
  return jnp.asarray(img[None, :, :, None], jnp.float32)  # (1, H, W, 1)


def test_mc_divergence_is_exact_for_identity_and_unbiased_for_a_linear_map():
  y = jnp.ones((2, 4, 5, 1))
  _, div = sure_lib.mc_divergence(lambda v: v, y, jax.random.key(0))
  assert np.array_equal(div, [20.0, 20.0])  # Rademacher: b^T b = n exactly
  A = jnp.asarray(np.random.default_rng(0).normal(size=(20, 20)), jnp.float32)
  f = lambda v: (A @ v.reshape(-1)).reshape(v.shape)
  v = jnp.zeros((4, 5, 1))
  for kind in sure_lib.PROBES:
    _, d = sure_lib.mc_divergence(f, v, jax.random.key(1), probes=4000, kind=kind)
    # Rademacher variance 2 sum_{i != j} A_ij^2 (symmetrised); Gaussian 2 ||A_sym||_F^2
    As = 0.5 * (A + A.T)
    var = 2 * (float(jnp.sum(As**2)) - (0.0 if kind == "gaussian" else float(jnp.sum(jnp.diag(A) ** 2))))
    assert abs(float(d) - float(jnp.trace(A))) < 4 * np.sqrt(var / 4000)


def test_sure_is_unbiased_for_a_gaussian_blur():
  """E[SURE] = E[MSE] over 400 noise draws, within a 4-standard-error band computed from the draws."""
  x = _clean()
  f = lambda y: ops.on_nhwc(lambda u: ops.gaussian_smooth(u, 1.5))(y)
  keys = jax.random.split(jax.random.key(0), 400)

  def one(k):
    kn, kb = jax.random.split(k)
    y = x + jax.random.normal(kn, x.shape) * (SIGMA / 255)
    return sure_lib.sure(f, y, SIGMA, kb)[0], jnp.mean((f(y) - x) ** 2)

  s, m = (np.asarray(a, np.float64) for a in jax.jit(jax.vmap(one))(keys))
  d = s - m
  assert abs(d.mean()) < 4 * d.std(ddof=1) / np.sqrt(len(d))
  assert abs(s.mean() - m.mean()) < 0.05 * m.mean()  # and the band is tight: within 5 % of the MSE
  assert m.mean() < 0.5 * S2  # the blur does denoise


def test_sure_tracks_perona_malik_mse_along_the_steps():
  """On one 128 x 128 image SURE - MSE has a spread of a few % of sigma^2 (the realised noise energy alone:
  sqrt(2 / n) = 1.1 %; here it is 3.2 % above sigma^2), so values are compared in units of sigma^2 and the
  choice of step by its consequence: the PSNR lost by stopping where SURE says."""
  x = images.load_images("bundled:camera", max_size=128)[0].pixels[..., 0]
  y = noise.awgn(jax.random.key(3), jnp.asarray(x), SIGMA)
  steps, K = 60, 0.15
  s = np.asarray(pde.sure_grid(y, SIGMA, "perona_malik", steps, 0.2, grid={"K": [K]}, key=jax.random.key(4),
                               probes=4))[0]
  true_psnr = np.asarray(pde.psnr_grid(y, x, "perona_malik", steps, 0.2, grid={"K": [K]}, clip=False))[0]
  mse = 10 ** (-true_psnr / 10)
  assert np.abs(s - mse).max() < 0.06 * S2
  assert abs(int(np.argmin(s)) - int(np.argmin(mse))) <= 3
  assert true_psnr.max() - true_psnr[np.argmin(s)] < 0.1  # dB lost by the SURE-chosen stopping step
  assert true_psnr.max() > true_psnr[0] + 5  # a real denoising run (20.0 -> 27.3 dB)


def test_sure_loss_trains_a_shrinkage_to_its_oracle():
  """f_a(y) = mean + a (y - mean): minimising SURE over a (optax, noisy images only) finds the MSE-optimal a."""
  x = jnp.concatenate([_clean(), 1 - _clean()], 0)
  y = noise.awgn(jax.random.key(0), x, SIGMA)
  f = lambda a: (lambda v: jnp.mean(v) + a * (v - jnp.mean(v)))
  opt = optax.adam(0.05)
  a, state = jnp.float32(0.2), opt.init(jnp.float32(0.2))
  for i in range(300):
    g = jax.grad(lambda a: sure_lib.sure_loss(f(a), y, SIGMA, jax.random.key(i)))(a)
    upd, state = opt.update(g, state)
    a = optax.apply_updates(a, upd)
  grid = jnp.linspace(0, 1, 1001)
  oracle = grid[jnp.argmin(jax.vmap(lambda b: jnp.mean((f(b)(y) - x) ** 2))(grid))]
  assert abs(float(a) - float(oracle)) < 0.02


def test_noise2self_loss_is_masked_mse_plus_noise_variance():
  x = _clean()
  f = lambda v: ops.on_nhwc(lambda u: ops.gaussian_smooth(u, 1.0))(v)

  def one(k):
    kn, km = jax.random.split(k)
    y = x + jax.random.normal(kn, x.shape) * (SIGMA / 255)
    m = sure_lib.blind_spot_mask(km, y.shape, 4)[:, :, None]
    y_in = y * (1 - m) + sure_lib._neighbour_mean(y) * m
    masked_mse = jnp.sum((f(y_in) - x) ** 2 * m) / jnp.sum(m)
    return sure_lib.noise2self_loss(f, y, km), masked_mse

  loss, mse = (np.asarray(a, np.float64) for a in jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), 400)))
  d = loss - mse - S2
  assert abs(d.mean()) < 4 * d.std(ddof=1) / np.sqrt(len(d))
  # J-invariance: the input the denoiser sees does not depend on the hidden pixels (period >= 2)
  y = noise.awgn(jax.random.key(2), x, SIGMA)
  m = sure_lib.blind_spot_mask(jax.random.key(5), y.shape, 4)[:, :, None]
  hide = lambda v: v * (1 - m) + sure_lib._neighbour_mean(v) * m
  assert np.array_equal(hide(y), hide(y + 0.3 * m))


def test_blind_spot_mask_and_errors():
  m = np.asarray(sure_lib.blind_spot_mask(jax.random.key(0), (2, 16, 12, 1), 4))
  assert m.shape == (16, 12) and m.sum() == 16 * 12 / 16
  rows, cols = np.nonzero(m)
  assert len(set(rows % 4)) == 1 and len(set(cols % 4)) == 1
  y = jnp.zeros((1, 8, 8, 1))
  with pytest.raises(ValueError, match="sigma=0"):
    sure_lib.sure(lambda v: v, y, 0.0, jax.random.key(0))
  with pytest.raises(ValueError, match="probes=0"):
    sure_lib.sure(lambda v: v, y, 25, jax.random.key(0), probes=0)
  with pytest.raises(ValueError, match="kind='uniform'"):
    sure_lib.sure(lambda v: v, y, 25, jax.random.key(0), kind="uniform")
  with pytest.raises(ValueError, match="expected the same shape"):
    sure_lib.sure(lambda v: v[..., :4, :], y, 25, jax.random.key(0))
  with pytest.raises(ValueError, match="period=1"):
    sure_lib.noise2self_loss(lambda v: v, y, jax.random.key(0), period=1)
