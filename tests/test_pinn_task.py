"""The PINN denoising task end to end on tiny settings: protocols, plumbing, reports, bad input."""

import json
import os

import numpy as np
import pytest
from skimage import io

from conftest import load_config
from vision_jax.projects.pinn_denoise import claims, per_image, protocols, run
from vision_jax.tasks.denoise import evaluation as common, model as model_lib, supervised
from vision_jax.train import loop


def tiny_config(**kw):
  c = load_config("pinn_denoise", "small,backbone=tnrd,prior=heat")
  c.data.train = "bundled:camera,brick"
  c.data.train_max_size = 48
  c.data.val = "bundled:clock"
  c.data.test = "bundled:coins,moon"
  c.data.max_size = 32
  c.data.patch_size = 16
  c.data.batch_size = 2
  c.model.tnrd = {"stages": 1, "num_filters": 4, "kernel_size": 3}
  c.train.steps = 3
  c.train.log_every = 1
  c.train.checkpoint_every = 3
  c.train.progress = False
  c.oracle.steps = 3
  c.zeroshot.steps = 4
  c.zeroshot.snapshot_every = 2
  c.eval.baselines = "tv_chambolle"
  c.eval.pde.max_steps = 5
  c.eval.pde.tune = {"perona_malik": {"K": [0.05]}}
  for k, v in kw.items():
    c[k] = v
  return c


def test_heldout_run_writes_report_with_baselines_and_verdict(tmp_path):
  cfg = tiny_config()
  results = run.train(cfg, str(tmp_path))
  data = json.loads((tmp_path / "results.json").read_text())
  methods = data["methods"]
  label = run.method_label(cfg)
  assert set(methods) == {label, "noisy input", "tv_chambolle", "pde:perona_malik (tuned on val)"}
  assert data["images"] == ["coins", "moon"]
  # The noisy-input row really is the PSNR of the fixed noisy inputs.
  test = common.make_test_set("bundled:coins,moon", cfg.noise, cfg.eval.seed, 32)
  for i in range(2):
    assert methods["noisy input"]["psnr"][i] == pytest.approx(common.score(test.noisys[i], test.cleans[i])[0], abs=1e-4)
  assert "Verdict: not reproduced" in data["lines"][0]
  assert set(data["settings"]) == {"tv_chambolle", "pde:perona_malik (tuned on val)"}  # tuned on the val image
  assert (tmp_path / "comparison.png").stat().st_size > 1000
  assert "| method |" in (tmp_path / "results.md").read_text()
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2, 3]
  assert {"train/data", "train/pde", "train/perc", "train/ic", "train/bc", "train/loss"} <= set(rows[0])
  assert results[label]["psnr"] == methods[label]["psnr"]


def test_eval_mode_on_a_folder_of_pngs(tmp_path):
  cfg = tiny_config()
  run.train(cfg, str(tmp_path / "w"))
  folder = tmp_path / "pngs"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(2):
    io.imsave(folder / f"im{i}.png", (rng.random((20, 24)) * 255).astype(np.uint8), check_contrast=False)
  cfg.eval.data_dir = str(folder)
  run.eval(cfg, str(tmp_path / "w"))
  out = json.loads((tmp_path / "w" / "eval_results.json").read_text())
  assert out["info"]["checkpoint_step"] == 3 and len(out["methods"]["noisy input"]["psnr"]) == 2


def test_heldout_training_batches_come_only_from_training_images():
  cfg = tiny_config()
  model, multiple = model_lib.build_model(cfg)
  train_pixels = [np.full((20, 20, 1), v, np.float32) for v in (0.1, 0.2)]
  val = common.TestSet(["v"], [np.full((16, 16, 1), 0.5, np.float32)], [np.full((16, 16, 1), 0.5, np.float32)])
  problem = supervised.heldout_problem(cfg, model, multiple, train_pixels, val, run.heldout_loss(protocols.PROTOCOLS["heldout"])(model, cfg))
  seen = np.unique(np.concatenate([problem.batch_fn(s)["clean"].ravel() for s in range(20)]))
  np.testing.assert_allclose(seen, [0.1, 0.2], rtol=1e-6)
  assert set(problem.batch_fn(0)) == {"clean"}  # noise is drawn fresh on device each step


def test_heldout_refuses_test_images_in_training_data():
  cfg = tiny_config()
  cfg.data.train = "bundled:camera,coins"
  cfg.data.train_max_size = 32
  with pytest.raises(ValueError, match="test image 'coins' is also the training data"):
    run.train(cfg, "/nonexistent/never-created")


def test_heldout_refuses_the_validation_image_in_the_test_set():
  cfg = tiny_config()
  cfg.data.val = "bundled:moon"
  with pytest.raises(ValueError, match="test image 'moon' is also the validation image"):
    run.train(cfg, "/nonexistent/never-created")
  cfg.protocol = "zeroshot"  # the per-image protocols tune the baselines on the same validation image
  with pytest.raises(ValueError, match="test image 'moon' is also the validation image"):
    run.train(cfg, "/nonexistent/never-created")


@pytest.mark.parametrize("protocol,stop", [("oracle", None), ("zeroshot", "discrepancy"), ("zeroshot", "sure")])
def test_per_image_protocols_see_exactly_the_data_they_claim(protocol, stop, monkeypatch):
  cfg = tiny_config(protocol=protocol)
  if stop:
    cfg.zeroshot.stop = stop
    cfg.sure_tuning.steps, cfg.sure_tuning.grid_size = 4, 2
  model, multiple = model_lib.build_model(cfg)
  test = common.make_test_set("bundled:coins", cfg.noise, 7, 32)
  seen = []
  real = loop.fit_in_memory

  def spy(problem, config, steps, **kw):
    seen.append({k: np.array(v) for k, v in problem.batch_fn(0).items()})
    return real(problem, config, steps, **kw)

  monkeypatch.setattr(loop, "fit_in_memory", spy)
  out, info = per_image.run_per_image(cfg, model, multiple, test, protocols.PROTOCOLS[protocol])
  batch = seen[0]
  if stop == "sure":  # the variance-stabilised noisy image (unbiased log for speckle), never the clean one
    from vision_jax.tasks.denoise import self_supervised
    expected = np.asarray(self_supervised.stabilize(test.noisys[0], cfg.noise).image)
    np.testing.assert_allclose(batch["noisy"][0], expected, atol=1e-6)
    assert cfg.noise.kind != "awgn" and not np.allclose(batch["noisy"][0], test.noisys[0])
  else:
    np.testing.assert_array_equal(batch["noisy"][0], test.noisys[0])
  weights = protocols.PROTOCOLS[protocol].loss_weights(cfg)
  if protocol == "oracle":
    np.testing.assert_array_equal(batch["clean"][0], test.cleans[0])  # Algorithm 1 fits the clean target
    assert weights["data"] == 1.0
  else:
    assert "clean" not in batch and weights["data"] == 0.0 and weights["perc"] == 0.0
    assert weights["ic"] == (0.0 if stop == "sure" else float(cfg.loss.weights.ic))  # SURE replaces the IC term
    assert info["stop_steps"] in {"0", "2", "4"}
  assert len(out["psnr"]) == 1 and np.isfinite(out["psnr"][0])


def test_discrepancy_stop_picks_snapshot_with_noise_energy():
  noisy = np.zeros((4, 4, 1), np.float32)
  snaps = [(0, noisy + 0.0), (10, noisy + 0.1), (20, noisy + 0.3)]
  noise = {"kind": "awgn", "sigma": 0.105 * 255}  # expected noise energy 0.011
  step, img = protocols.discrepancy_stop(snaps, noisy, noise)
  assert step == 10


def test_protocol_registry_is_the_one_source_of_data_weights_and_labels():
  cfg = tiny_config()
  assert set(protocols.PROTOCOLS) == {"heldout", "oracle", "zeroshot", "selfsup"}
  assert not protocols.PROTOCOLS["heldout"].per_image and protocols.PROTOCOLS["oracle"].per_image
  assert not protocols.PROTOCOLS["selfsup"].per_image and protocols.PROTOCOLS["selfsup"].self_supervised
  sw = protocols.PROTOCOLS["selfsup"].loss_weights(cfg)
  assert sw["data"] == sw["perc"] == sw["ic"] == 0.0 and sw["pde"] == float(cfg.loss.weights.pde)
  cfg.zeroshot.stop = "median"
  with pytest.raises(ValueError, match="zeroshot.stop='median' is invalid"):
    protocols.PROTOCOLS["zeroshot"].loss_weights(cfg)
  cfg.zeroshot.stop = "sure"
  y, c = np.zeros((5, 6, 1), np.float32), np.ones((5, 6, 1), np.float32)
  assert set(protocols.PROTOCOLS["oracle"].fit_batch(y, c, 4)) == {"noisy", "clean"}
  assert set(protocols.PROTOCOLS["zeroshot"].fit_batch(y, c, 4)) == {"noisy"}
  assert protocols.PROTOCOLS["zeroshot"].fit_batch(y, c, 4)["noisy"].shape == (1, 8, 8, 1)
  assert protocols.PROTOCOLS["heldout"].loss_weights(cfg) == {k: float(v) for k, v in cfg.loss.weights.items()}
  cfg.prior = "none"
  assert protocols.PROTOCOLS["heldout"].loss_weights(cfg)["pde"] == 0.0
  assert "ORACLE" in run.method_label(tiny_config(protocol="oracle"))


def test_verdict_lines():
  cfg = tiny_config()
  assert "not reproduced" in claims.verdict(cfg, "heldout", 25.0)
  assert "reproduced only as an oracle" in claims.verdict(cfg, "oracle", 41.5)
  assert "below the claim even as an oracle" in claims.verdict(cfg, "oracle", 30.0)
  cfg.noise.kind, cfg.noise.sigma = "awgn", 25.0
  line = claims.verdict(cfg, "oracle", 38.0)
  assert "39.58 dB (Table 6, AWGN sigma=25" in line and "reproduced only as an oracle" in line


@pytest.mark.parametrize("field,value,message", [
    ("backbone", "vgg", "unknown backbone 'vgg'"),
    ("prior", "magic", "unknown prior 'magic'"),
    ("protocol", "cheat", "unknown protocol 'cheat'"),
])
def test_bad_config_names_fail_before_the_workdir_is_created(tmp_path, field, value, message):
  cfg = tiny_config(**{field: value})
  work = tmp_path / "w"
  with pytest.raises(ValueError, match=message):
    run.train(cfg, str(work))
  assert not work.exists()


def test_bad_data_fails_clearly(tmp_path):
  cfg = tiny_config()
  empty = tmp_path / "empty"
  empty.mkdir()
  cfg.data.train_dir = str(empty)
  with pytest.raises(ValueError, match="has no readable images"):
    run.train(cfg, str(tmp_path / "w"))
  cfg = tiny_config()
  cfg.data.patch_size = 64
  with pytest.raises(ValueError, match=r"data.patch_size=64 is invalid; expected 1..48"):
    run.train(cfg, str(tmp_path / "w2"))
  assert not (tmp_path / "w").exists() and not (tmp_path / "w2").exists()


def test_checkpoint_from_another_architecture_is_refused(tmp_path):
  cfg = tiny_config()
  run.train(cfg, str(tmp_path))
  cfg.model.tnrd = {"stages": 2, "num_filters": 4, "kernel_size": 3}
  with pytest.raises(ValueError, match="could not be read as this model/config's state"):
    run.eval(cfg, str(tmp_path))


def test_dihedral_self_ensemble_is_exact_on_known_methods():
  from scipy import ndimage
  from vision_jax.tasks.denoise.evaluation import dihedral_self_ensemble
  rng = np.random.default_rng(0)
  y = rng.random((7, 10, 1)).astype(np.float32)  # non-square: rotations change the shape
  blur = lambda x: ndimage.uniform_filter(x, size=(3, 3, 1), mode="reflect")  # commutes with every symmetry
  np.testing.assert_allclose(dihedral_self_ensemble(blur)(y), blur(y), atol=1e-6)
  # A one-pixel shift down (periodic) seen through the 8 symmetries becomes the mean of the 4 shifts.
  shift = lambda x: np.roll(x, 1, axis=0)
  expect = sum(np.roll(y, s, axis=a) for a in (0, 1) for s in (1, -1)) / 4
  np.testing.assert_allclose(dihedral_self_ensemble(shift)(y), expect, atol=1e-6)
