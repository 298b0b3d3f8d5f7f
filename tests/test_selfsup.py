"""Training on noisy images only (tasks/denoise/self_supervised.py, projects/pinn_denoise/selfsup.py):
the SURE training loss against closed forms and an exact Jacobian trace on linear denoisers, its
unbiasedness over noise draws, Noise2Self masking never letting a hidden pixel see itself (checked on a
nonlinear network and against scipy's mirrored 8-neighbour mean), the PDE / boundary terms of the
zero-shot fit (fixed and traced K / tau), and the selfsup protocol's training path end to end (its
batches are patches of the fixed noisy pool, never of a clean image)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from conftest import load_config
from vision_jax import noise as noise_lib
from vision_jax.data import images as images_lib
from vision_jax.losses import pinn as pinn_loss, sure as sure_lib
from vision_jax.projects.pinn_denoise import loss as loss_lib, selfsup
from vision_jax.tasks.denoise import self_supervised

SIGMA = 25.0
S2 = (SIGMA / 255.0) ** 2


class Conv(nn.Module):
  """A linear denoiser: one k x k convolution (zero 'SAME' padding), returning (output, aux)."""
  k: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Conv(1, (self.k, self.k), padding="SAME", use_bias=True)(x), {}


class Net(nn.Module):
  """A small nonlinear network (receptive field 7 x 7)."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = jnp.tanh(nn.Conv(4, (3, 3), padding="SAME")(x))
    h = nn.relu(nn.Conv(4, (3, 3), padding="SAME")(h))
    return x + nn.Conv(1, (3, 3), padding="SAME")(h), {}


def _clean(n=16):
  y, x = np.mgrid[:n, :n] / n
  return (0.3 + 0.4 * (x > 0.5) + 0.2 * np.sin(6 * y)).astype(np.float32)[..., None]


def _conv_params(kernel, bias=0.0):
  k = np.asarray(kernel, np.float32)
  return {"Conv_0": {"kernel": jnp.asarray(k.reshape(k.shape[0], k.shape[1], 1, 1)), "bias": jnp.asarray([bias], jnp.float32)}}


def test_sure_loss_is_the_closed_form_for_a_pointwise_affine_denoiser():
  """f(y) = a y + c has J = a I: Rademacher b^T J b = a n exactly, so the loss is the closed form
  mean_i ||(a - 1) y_i + c||^2 / n - s^2 + 2 s^2 a for every key and any number of probes."""
  a, c = 0.7, 0.05
  model = Conv(k=1)
  params = _conv_params([[a]], c)
  y = np.random.default_rng(0).uniform(0, 1, (3, 8, 9, 1)).astype(np.float32)
  expected = np.mean(np.sum(((a - 1) * y.astype(np.float64) + c) ** 2, axis=(1, 2, 3)) / (8 * 9)) - S2 + 2 * S2 * a
  for probes in (1, 3):
    loss_fn = self_supervised.make_loss(model, SIGMA, kind="sure", probes=probes)
    for seed in (0, 1):
      total, (metrics, _) = loss_fn(params, {}, {"noisy": jnp.asarray(y)}, jax.random.key(seed))
      assert float(total) == pytest.approx(expected, rel=1e-5)
      assert float(metrics["sure"]) == pytest.approx(expected, rel=1e-5)
  weighted = self_supervised.make_loss(model, SIGMA, kind="sure", weight=2.5)  # the data weight scales it
  assert float(weighted(params, {}, {"noisy": jnp.asarray(y)}, jax.random.key(0))[0]) == pytest.approx(2.5 * expected,
                                                                                                      rel=1e-5)


def test_sure_loss_divergence_matches_the_exact_jacobian_trace_of_a_3x3_convolution():
  """The Monte-Carlo divergence inside the loss, averaged over many keys, equals tr J_f from
  jax.jacfwd (= n times the kernel centre for a zero-padded convolution) within 4 standard errors."""
  kernel = np.array([[0.05, 0.1, 0.02], [0.12, 0.4, 0.08], [0.03, 0.1, 0.1]], np.float32)
  model, params = Conv(k=3), _conv_params(kernel, 0.01)
  H = W = 12
  n = H * W
  y = jnp.asarray(np.random.default_rng(1).uniform(0, 1, (1, H, W, 1)), jnp.float32)
  f = lambda v: model.apply({"params": params}, v)[0]
  jac = jax.jacfwd(lambda v: f(v.reshape(1, H, W, 1)).reshape(-1))(y.reshape(-1))
  trace = float(jnp.trace(jac))
  assert trace == pytest.approx(n * kernel[1, 1], rel=1e-5)
  fy = np.asarray(f(y), np.float64)
  closed = np.sum((fy - np.asarray(y)) ** 2) / n - S2 + 2 * S2 * trace / n
  loss_fn = self_supervised.make_loss(model, SIGMA, kind="sure")
  keys = jax.random.split(jax.random.key(2), 2000)
  vals = np.asarray(jax.jit(jax.vmap(lambda k: loss_fn(params, {}, {"noisy": y}, k)[0]))(keys), np.float64)
  divs = (vals - (np.sum((fy - np.asarray(y)) ** 2) / n - S2)) * n / (2 * S2)
  # Rademacher variance of b^T J b: 2 sum_{i != j} Jsym_ij^2 (exact, from the Jacobian)
  J = np.asarray(jac, np.float64)
  Js = 0.5 * (J + J.T)
  var = 2 * (np.sum(Js**2) - np.sum(np.diag(J) ** 2))
  assert abs(divs.mean() - trace) < 4 * np.sqrt(var / len(keys))
  assert divs.std(ddof=1) == pytest.approx(np.sqrt(var), rel=0.1)  # the estimator's spread is the predicted one
  assert abs(vals.mean() - closed) < 4 * np.sqrt(var / len(keys)) * 2 * S2 / n


def test_sure_loss_is_unbiased_for_the_true_mse_over_noise_draws():
  """E[SURE loss] = E[||f(y) - x||^2 / n] for a linear smoother, over 256 noise draws of one image."""
  kernel = np.full((3, 3), 1 / 12, np.float32)
  kernel[1, 1] = 1 / 3
  model, params = Conv(k=3), _conv_params(kernel)
  x = jnp.asarray(_clean(24))[None]
  loss_fn = self_supervised.make_loss(model, SIGMA, kind="sure")

  def one(k):
    kn, kb = jax.random.split(k)
    y = x + jax.random.normal(kn, x.shape) * (SIGMA / 255)
    mse = jnp.mean((model.apply({"params": params}, y)[0] - x) ** 2)
    return loss_fn(params, {}, {"noisy": y}, kb)[0], mse

  s, m = (np.asarray(a, np.float64) for a in jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(3), 256)))
  d = s - m
  assert abs(d.mean()) < 4 * d.std(ddof=1) / np.sqrt(len(d))
  assert m.mean() < 0.6 * S2  # it does denoise (zero padding costs at the border), so SURE is not the noisy residual


def test_noise2self_identity_loss_is_scipys_mirrored_neighbour_mean_on_the_hidden_grid():
  model, params = Conv(k=1), _conv_params([[1.0]])  # f = identity: the loss is the interpolation error on J
  y = np.random.default_rng(4).uniform(0, 1, (2, 10, 11, 1)).astype(np.float32)
  loss_fn = self_supervised.make_loss(model, None, kind="noise2self", period=3)
  key = jax.random.key(5)
  total, (metrics, _) = loss_fn(params, {}, {"noisy": jnp.asarray(y)}, key)
  mask = np.asarray(sure_lib.blind_spot_mask(key, y.shape, 3), bool)
  r, c = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))  # a period-3 grid with one random offset
  assert r[0] < 3 and c[0] < 3 and np.array_equal(r, np.arange(r[0], 10, 3)) and np.array_equal(c, np.arange(c[0], 11, 3))
  assert np.array_equal(mask, np.outer(np.isin(np.arange(10), r), np.isin(np.arange(11), c)))
  ring = np.ones((3, 3))
  ring[1, 1] = 0
  ring /= 8
  interp = np.stack([ndimage.convolve(im[..., 0].astype(np.float64), ring, mode="mirror") for im in y])
  expected = np.mean((interp - y[..., 0])[:, mask] ** 2)
  assert float(total) == pytest.approx(expected, rel=1e-5) and float(metrics["noise2self"]) == float(total)


@pytest.mark.parametrize("period", [2, 4])
def test_noise2self_never_lets_a_hidden_pixel_see_itself(period):
  """For a nonlinear network f, shifting every hidden pixel's noisy value by d changes the loss only
  through the target: L(y + d m) = L(y) + d L'(0) + d^2 exactly (f's input does not contain y_J).
  Shifting visible pixels instead breaks the identity (the test can fail)."""
  model = Net()
  y = jnp.asarray(np.random.default_rng(6).uniform(0, 1, (2, 12, 12, 1)), jnp.float32)
  params = model.init(jax.random.key(7), y)["params"]
  params = jax.tree.map(lambda p: 3.0 * p, params)  # strongly nonlinear
  loss_fn = self_supervised.make_loss(model, None, kind="noise2self", period=period)
  key = jax.random.key(8)
  m = sure_lib.blind_spot_mask(key, y.shape, period)[None, :, :, None]
  visible = jnp.roll(m, 1, axis=2)  # the next column: never hidden

  @jax.jit
  def curvature_gap(direction):
    q = lambda d: loss_fn(params, {}, {"noisy": y + d * direction}, key)[0]
    d = 0.3
    return q(d) - q(0.0) - d * jax.grad(q)(0.0) - d * d

  assert abs(float(curvature_gap(m))) < 1e-5
  assert abs(float(curvature_gap(visible))) > 1e-3
  # Per pixel: the hidden input the network sees does not depend on the pixel's own value.
  y_in = lambda v: v * (1 - m) + sure_lib._neighbour_mean(v) * m
  jac = jax.jit(jax.jacfwd(lambda v: y_in(v.reshape(y.shape)).reshape(-1)))(y.reshape(-1))
  hidden = np.flatnonzero(np.broadcast_to(np.asarray(m), y.shape).reshape(-1))
  assert np.all(np.asarray(jac)[hidden][:, hidden] == 0)


def _pinn_config(**prior_params):
  c = load_config("pinn_denoise", "small,backbone=dncnn,prior=perona_malik,noise=awgn,protocol=selfsup")
  c.noise.sigma = SIGMA
  c.loss.weights.data = 1.5
  c.loss.weights.pde = 0.7
  c.loss.weights.bc = 0.2
  c.loss.tau = 0.5
  for k, v in prior_params.items():
    c.prior_params[k] = v
  return c


def test_selfsup_loss_adds_the_protocols_pde_and_boundary_terms_and_reads_traced_k_and_tau():
  from vision_jax.projects.pinn_denoise import protocols
  model, params = Conv(k=3), _conv_params(np.full((3, 3), 1 / 9, np.float32))
  y = jnp.asarray(_clean(16)[None] + np.random.default_rng(9).normal(0, SIGMA / 255, (1, 16, 16, 1)), jnp.float32)
  key = jax.random.key(10)
  cfg = _pinn_config(K=0.05)
  weights = protocols.PROTOCOLS["selfsup"].loss_weights(cfg)
  assert weights["ic"] == 0.0 and weights["data"] == 0.0  # SURE replaces the data and IC terms
  total, (metrics, _) = selfsup.make_loss_fn(model, cfg, weights, SIGMA)(params, {}, {"noisy": y}, key)
  data, _ = self_supervised.make_loss(model, SIGMA, kind="sure")(params, {}, {"noisy": y}, key)
  x_hat = model.apply({"params": params}, y)[0]
  w = {**{k: 0.0 for k in pinn_loss.TERMS}, "pde": 0.7, "bc": 0.2}
  terms = pinn_loss.pinn_loss_terms(x_hat, y, None, prior="perona_malik", prior_params=loss_lib.prior_params(cfg),
                                    tau=0.5, weights=w)
  assert float(terms["pde"]) > 0 and float(terms["bc"]) > 0
  assert float(total) == pytest.approx(1.5 * float(data) + 0.7 * float(terms["pde"]) + 0.2 * float(terms["bc"]), rel=1e-5)
  assert set(metrics) == {"sure", "pde", "bc"} and float(metrics["pde"]) == pytest.approx(float(terms["pde"]), rel=1e-6)
  # The zero-shot fit's per-image SURE choice arrives in the batch: K = 0.2, tau = 1.3 there equals a config with them.
  traced = selfsup.make_loss_fn(model, _pinn_config(K=0.05), weights, SIGMA, traced_pde=True)
  got = traced(params, {}, {"noisy": y, "K": jnp.float32(0.2), "tau": jnp.float32(1.3)}, key)[0]
  cfg2 = _pinn_config(K=0.2)
  cfg2.loss.tau = 1.3
  want = selfsup.make_loss_fn(model, cfg2, weights, SIGMA)(params, {}, {"noisy": y}, key)[0]
  assert float(got) == pytest.approx(float(want), rel=1e-6) and abs(float(got) - float(total)) > 1e-6


def test_selfsup_losses_refuse_what_they_cannot_do():
  with pytest.raises(ValueError, match="sigma=None is invalid for the SURE loss"):
    self_supervised.make_loss(Conv(), None, kind="sure")
  with pytest.raises(ValueError, match="unknown self-supervised loss 'n2v'"):
    self_supervised.make_loss(Conv(), SIGMA, kind="n2v")
  with pytest.raises(ValueError, match="no variance-stabilising transform"):
    self_supervised.check_loss("sure", "salt_pepper")


def test_selfsup_protocol_trains_on_patches_of_the_fixed_noisy_pool_only(tmp_path, monkeypatch):
  """run.train(protocol=selfsup): every batch is {'noisy'} patches of one fixed noisy draw per training
  image (rebuilt here from noise.add_noise with fold_in keys), never a clean pixel; the row says so."""
  from vision_jax.projects.pinn_denoise import run
  from vision_jax.train import loop
  cfg = load_config("pinn_denoise", "small,backbone=dncnn,prior=heat,noise=awgn,protocol=selfsup")
  cfg.noise.sigma = SIGMA
  cfg.model.dncnn = {"depth": 2, "features": 4}
  cfg.data.train = "bundled:camera,brick"
  cfg.data.train_max_size = 32
  cfg.data.val = "bundled:clock"
  cfg.data.test = "bundled:coins"
  cfg.data.max_size = 32
  cfg.data.patch_size = 16
  cfg.data.batch_size = 2
  cfg.train.steps = 2
  cfg.train.log_every = 1
  cfg.train.checkpoint_every = 2
  cfg.train.progress = False
  cfg.eval.baselines = ""
  cfg.eval.classical_prior = ""
  seen = {}
  real = loop.fit

  def spy(problem, config, workdir, **kw):
    seen["batches"] = [problem.batch_fn(s) for s in (0, 1, 7)]
    seen["loss"] = problem.loss_fn
    return real(problem, config, workdir, **kw)

  monkeypatch.setattr(loop, "fit", spy)
  results = run.train(cfg, str(tmp_path))
  cleans = [im.pixels for im in images_lib.load_images(cfg.data.train, cfg.data.train_max_size)]
  base = jax.random.PRNGKey(int(cfg.selfsup.noise_seed))
  pool = [np.asarray(noise_lib.add_noise(jax.random.fold_in(base, i), jnp.asarray(c), "awgn", sigma=SIGMA))
          for i, c in enumerate(cleans)]
  for step, batch in zip((0, 1, 7), seen["batches"]):
    assert set(batch) == {"noisy"}
    np.testing.assert_array_equal(batch["noisy"], images_lib.sample_patches(pool, 2, 16, int(cfg.seed), step))
    assert not np.allclose(batch["noisy"], images_lib.sample_patches(cleans, 2, 16, int(cfg.seed), step), atol=0.02)
  label = "dncnn-heat [SURE-trained, noisy training images only]"
  assert label in results and np.isfinite(results[label]["psnr"]).all()
  import json
  info = json.loads((tmp_path / "results.json").read_text())["info"]
  assert info["clean_images_used"] == 0 and info["selfsup_loss"] == "sure" and info["stabilized"] == "no"
