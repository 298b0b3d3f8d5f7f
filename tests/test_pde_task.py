"""Classical PDE denoising task: tuning on a validation image, same noisy inputs for every method."""

import json

import numpy as np
import pytest

from conftest import load_config
from vision_jax.baselines import pde_tuning
from vision_jax.projects.pde_denoise import run as pde_denoise
from vision_jax.tasks.denoise import evaluation as common


def tiny_config():
  c = load_config("pde_denoise", "small")
  c.data.val = "bundled:camera"
  c.data.test = "bundled:moon,coins"
  c.data.max_size = 48
  c.pde.priors = "heat,perona_malik"
  c.eval.baselines = "tv_chambolle"
  c.pde.max_time = 4.0
  c.pde.tune = {"perona_malik": {"K": [0.05, 0.1]}}
  return c


def test_pde_task_tunes_on_validation_and_beats_the_noisy_input(tmp_path):
  cfg = tiny_config()
  pde_denoise.train(cfg, str(tmp_path))
  data = json.loads((tmp_path / "results.json").read_text())
  m = data["methods"]
  assert set(m) == {"noisy input", "pde:heat", "pde:perona_malik", "tv_chambolle"}
  noisy_psnr = np.mean(m["noisy input"]["psnr"])
  assert np.mean(m["pde:heat"]["psnr"]) > noisy_psnr + 1.0
  assert np.mean(m["pde:perona_malik"]["psnr"]) > noisy_psnr + 1.0
  s = data["settings"]["pde:perona_malik"]
  assert data["settings"]["tv_chambolle"]["kwargs"]["weight_per_sigma"] > 0  # tuned on the validation image
  assert s["params"]["K"] in (0.05, 0.1) and 0 < s["steps"] <= int(np.ceil(4.0 / s["dt"]))
  assert (tmp_path / "comparison.png").exists() and "pde:heat" in (tmp_path / "results.md").read_text()


def test_tuning_picks_the_psnr_maximising_step():
  cfg = tiny_config()
  val = common.make_test_set("bundled:camera", cfg.noise, 1, 48)
  best = pde_tuning.tune_prior("heat", val.cleans[0], val.noisys[0], cfg.pde)
  from vision_jax.pde import solvers
  scores = []
  for k in (max(best["steps"] - 1, 0), best["steps"], best["steps"] + 1):
    u = solvers.solve(val.noisys[0][..., 0], "heat", k, best["dt"])
    scores.append(common.score(np.asarray(u)[..., None], val.cleans[0])[0])
  assert scores[1] >= max(scores) - 1e-3  # the chosen step is a local maximum of PSNR
  assert best["val_psnr"] == pytest.approx(scores[1], abs=1e-3)


def test_bad_inputs(tmp_path):
  cfg = tiny_config()
  cfg.pde.priors = "heat,warp"
  with pytest.raises(ValueError, match="unknown prior 'warp'"):
    pde_denoise.train(cfg, str(tmp_path / "w"))
  cfg = tiny_config()
  cfg.pde.tune = {"perona_malik": {"Q": [1.0]}}
  with pytest.raises(ValueError, match="has no parameter 'Q'"):
    pde_denoise.train(cfg, str(tmp_path / "w"))
  cfg = tiny_config()
  cfg.eval.data_dir = str(tmp_path / "missing")
  with pytest.raises(FileNotFoundError, match="does not exist"):
    pde_denoise.train(cfg, str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()
  cfg = tiny_config()
  cfg.noise.kind = "salt"
  with pytest.raises(ValueError, match="unknown noise kind 'salt'"):
    pde_denoise.train(cfg, str(tmp_path / "w"))
  cfg = tiny_config()
  cfg.pde.dt_fraction = 1.5
  with pytest.raises(ValueError, match=r"dt_fraction=1.5 is invalid; expected 0 < dt_fraction <= 1"):
    pde_denoise.train(cfg, str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()
