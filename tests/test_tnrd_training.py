"""Noise-level-map TNRD, blind training and greedy-then-joint stage training (tasks/denoise)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import linen as nn

from configs.denoise import tnrd as tnrd_config, tnrd_blind as blind_config
from vision_jax.models.denoisers import get_denoiser, takes_noise_map, tnrd as tnrd_lib, tnrd_blind
from vision_jax.tasks.denoise import blind, modes, stagewise
from vision_jax.train import checkpoint


def test_batched_influence_is_per_image_linear_influence():
  rng = np.random.default_rng(0)
  z = jnp.asarray(1.5 * rng.standard_normal((3, 6, 5, 4)), jnp.float32)  # some responses beyond the range
  tables = jnp.asarray(rng.standard_normal((3, 4, 9)), jnp.float32)
  got = tnrd_blind.batched_linear_influence(z, tables, 1.0)
  want = jnp.stack([tnrd_lib.linear_influence(z[i], tables[i], 1.0) for i in range(3)])
  np.testing.assert_allclose(got, want, atol=1e-6)
  np.testing.assert_allclose(tnrd_blind.batched_linear_influence(jnp.zeros((3, 2, 2, 4)), tables, 1.0), 0.0, atol=1e-6)


def test_knot_weights_reproduce_linear_functions_and_clamp():
  knots = (0.0, 5.0, 20.0, 55.0)
  s = jnp.asarray([0.0, 2.5, 12.0, 54.0, 70.0, -3.0])
  h = np.asarray(tnrd_blind.knot_weights(s, knots))
  np.testing.assert_allclose(h.sum(1), 1.0, atol=1e-6)
  np.testing.assert_allclose(h @ np.asarray(knots), [0.0, 2.5, 12.0, 54.0, 55.0, 0.0], atol=1e-4)
  assert h.min() >= 0 and np.count_nonzero(h[2]) == 2


def _random_tnrd_params(model, x, seed=0):
  """Random parameters shaped like model.init's (no init compile): filters, small influence knots, lambdas."""
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)["params"]
  rng = np.random.default_rng(seed)
  scales = {"rbf": 0.05, "filters": 0.3, "lambda": 0.5}
  return {k: jnp.asarray(scales[k.split("_")[0]] * rng.standard_normal(v.shape), jnp.float32) for k, v in shapes.items()}


def test_blind_tnrd_with_copied_tables_equals_the_single_level_tnrd():
  fields = dict(stages=2, num_filters=6, kernel_size=5, num_rbf=15)
  single = get_denoiser("tnrd", influence="linear", **fields)
  blind_model = get_denoiser("tnrd_blind", sigma_knots=(0.0, 10.0, 55.0), **fields)
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 20, 17, 1))
  params = _random_tnrd_params(single, x)
  want = single.apply({"params": params}, x)[0]
  bparams = tnrd_blind.from_single_level(params, 3)
  for sigma in (0.0, 17.0, 55.0):
    got, aux = blind_model.apply({"params": bparams}, blind.with_noise_map(x, sigma))
    np.testing.assert_allclose(aux["sigma"], sigma, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_blind_tnrd_levels_change_the_output_and_param_count():
  model = get_denoiser("tnrd_blind")  # the shipped configuration
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 2)))
  assert sum(int(np.prod(v.shape)) for v in jax.tree.leaves(shapes)) == 5 * (49 * 48 + 12 * 48 * 63 + 12) == 193_260
  assert takes_noise_map(model) and not takes_noise_map(get_denoiser("tnrd"))
  small = get_denoiser("tnrd_blind", stages=1, num_filters=4, kernel_size=3, num_rbf=9, sigma_knots=(0.0, 50.0))
  x = jax.random.uniform(jax.random.PRNGKey(2), (1, 12, 12, 1))
  variables = small.init(jax.random.PRNGKey(0), blind.with_noise_map(x, 0.0))
  params = dict(variables["params"])
  params["rbf_weights_0"] = params["rbf_weights_0"].at[0].set(0.0)  # level 0: no diffusion
  params["lambda_0"] = jnp.asarray([-30.0, 0.0])  # level 0: no reaction either -> identity
  y0 = small.apply({"params": params}, blind.with_noise_map(x, 0.0))[0]
  y50 = small.apply({"params": params}, blind.with_noise_map(x, 50.0))[0]
  np.testing.assert_allclose(y0, x, atol=1e-6)
  assert float(jnp.max(jnp.abs(y50 - x))) > 1e-4
  with pytest.raises(ValueError, match="noise map as the last channel"):
    small.init(jax.random.PRNGKey(0), x)


class _MapOut(nn.Module):
  """Outputs the noise map channel: its MSE against a zero image is (sigma / 255)^2 per patch."""
  takes_noise_map = True

  @nn.compact
  def __call__(self, x, train=False):
    self.param("unused", nn.initializers.zeros, ())
    return x[..., -1:], {}


@pytest.mark.parametrize("weighting,expected", [
    ("none", (0**2 + 0 * 55 + 55**2) / 3),  # E[sigma^2], sigma ~ U(0, 55)
    ("inverse", None),
])
def test_blind_loss_draws_levels_uniformly_and_weights_them(weighting, expected):
  c = blind_config.get_config("small")
  c.noise.train_weighting = weighting
  loss_fn = blind.blind_mse_loss(_MapOut(), c)
  clean = jnp.zeros((8192, 1, 1, 1))
  loss, (metrics, _) = jax.jit(loss_fn)({"unused": jnp.zeros(())}, {}, {"clean": clean}, jax.random.PRNGKey(0))
  if expected is None:  # sum w s^2 / sum w with w = 25 / max(s, 5): the integrals over U(0, 55)
    s = np.linspace(0, 55, 200_001)
    w = 25.0 / np.maximum(s, 5.0)
    expected = np.trapezoid(w * s**2, s) / np.trapezoid(w, s)
  assert float(loss) * 255**2 == pytest.approx(expected, rel=0.04)
  assert float(metrics["data"]) * 255**2 == pytest.approx((55**2) / 3, rel=0.04)  # the unweighted MSE


def test_freeze_stages_stops_gradients_and_adam_keeps_frozen_values():
  model = get_denoiser("tnrd", stages=2, num_filters=4, kernel_size=3, influence="linear")
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16, 1))
  params = _random_tnrd_params(model, x)
  loss = lambda p: jnp.mean((model.apply({"params": stagewise.freeze_stages(p, 1)}, x)[0] - 0.5) ** 2)  # noqa: E731
  grads = jax.grad(loss)(params)
  for k, g in grads.items():
    frozen = stagewise.stage_of(k) == 0
    assert (float(jnp.max(jnp.abs(g))) == 0.0) == frozen, k
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
  new = optax.apply_updates(params, tx.update(grads, tx.init(params), params)[0])
  assert all(np.array_equal(new[k], params[k]) for k in params if stagewise.stage_of(k) == 0)
  assert not np.array_equal(new["filters_1"], params["filters_1"])


def _params(folder):
  """The parameters of the newest checkpoint in folder/checkpoints, restored as saved."""
  manager = checkpoint.make_manager(str(folder))
  return manager.restore(manager.latest_step(), args=ocp.args.StandardRestore())["params"]


def test_greedy_then_joint_end_to_end_and_resume(tmp_path):
  """Tiny per-sigma TNRD: 2 greedy phases (stage 1 frozen in the second), then joint; it must beat the
  noisy input, and a rerun in the same workdir trains nothing and reports the same numbers."""
  c = tnrd_config.get_config("sigma=25,small")
  c.train.progress = False
  wd = tmp_path / "run"
  results = modes.train(c, str(wd))
  g1, g2, joint = _params(wd / "greedy1"), _params(wd / "greedy2"), _params(wd)
  assert set(g1) == {"filters_0", "rbf_weights_0", "lambda_0"}
  for k in g1:  # greedy 2 left stage 1 exactly as greedy 1 made it; the joint phase trained it further
    np.testing.assert_array_equal(g2[k], g1[k])
  assert not np.array_equal(joint["filters_0"], g2["filters_0"])
  info = json.loads((wd / "results.json").read_text())["info"]
  assert info["train_steps"] == 2 * c.train.greedy_steps + c.train.steps
  assert info["train_cpu_seconds"] > 0 and "greedy2" in info["phases"]
  label = "tnrd [held-out]"
  assert np.mean(results[label]["psnr"]) > np.mean(results["noisy input"]["psnr"]) + 0.5
  again = modes.train(c, str(wd))
  assert again[label]["psnr"] == pytest.approx(results[label]["psnr"], abs=1e-6)
  assert json.loads((wd / "results.json").read_text())["info"]["train_seconds"] == pytest.approx(info["train_seconds"])
  _check_one_level_export(c, wd, joint)


def _check_one_level_export(c, wd, joint):
  """--mode=export of a per-sigma run: vision_jax.denoise loads it as a one-level model whose output is the
  trained network's (clipped), and refuses any other sigma with one line."""
  from vision_jax import denoise as api
  from vision_jax.tasks.denoise import export
  path = export.export(c, str(wd))
  loaded = api.load_model(path)
  assert loaded.sigma_range == (25.0, 25.0) and not loaded.takes_noise_map
  assert loaded.meta["check"]["sigma"] == 25.0 and loaded.meta["checkpoint_step"] == c.train.steps
  clean, noisy = export.check_pair(loaded.meta["check"])
  model = get_denoiser("tnrd", **dict(c.model.tnrd))
  want = np.clip(np.asarray(model.apply({"params": joint}, jnp.asarray(noisy)[None, ..., None])[0])[0, ..., 0], 0, 1)
  np.testing.assert_allclose(api.denoise(noisy, 25, model=path), want, atol=1e-6)
  np.testing.assert_array_equal(api.denoise(noisy, None, model=path), api.denoise(noisy, 25, model=path))
  with pytest.raises(ValueError, match="trained at sigma 25 only") as e:
    api.denoise(noisy, 15, model=path)
  assert "\n" not in str(e.value)


def test_config_errors_are_one_line(tmp_path):
  c = tnrd_config.get_config("sigma=25,small")
  cases = [({"backbone": "dncnn"}, "needs a staged backbone"),
           ({"noise.train_sigmas": "55"}, "expected 'lo:hi'"),
           ({"noise.train_sigmas": "30:10"}, "expected 0 <= lo <= hi")]
  from vision_jax.config_utils import with_overrides
  for fields, text in cases:
    with pytest.raises(ValueError, match=text) as e:
      modes.prepare_heldout(with_overrides(c, **fields), modes.model_lib.TASK_BACKBONES)
    assert "\n" not in str(e.value)
  b = blind_config.get_config("small")
  b.noise.kind = "speckle"
  with pytest.raises(ValueError, match="expected 'awgn'"):
    modes.prepare_heldout(b, modes.model_lib.TASK_BACKBONES)
  assert not (tmp_path / "run").exists()
