"""The EKD project's configs are refused before anything is written; (slow) a tiny end-to-end run
writes the report, and --mode=report reads the finished runs back."""

import os

import pytest

from vision_jax import main as cli


@pytest.mark.parametrize("field,value,message", [
    ("sgdre.restarts", "0.01:step", "restarts entry"),
    ("sgdre.snapshots", 5, "sgdre.snapshots=5"),
    ("kd.alpha", 1.5, "kd.alpha=1.5"),
    ("data.scheme", "npz", "data.scheme='npz'"),
    ("cv.folds", 400, "cv.folds=400"),
    ("sgdre.total_epochs", 3, "must exceed"),
])
def test_bad_configs_are_refused_before_writing(tmp_path, config_loader, field, value, message):
  config = config_loader("ensemble_distillation", "small")
  section, _, key = field.rpartition(".")
  config[section][key] = value
  workdir = tmp_path / "w"
  with pytest.raises(ValueError, match=message):
    cli.run(config, str(workdir), "train")
  assert not workdir.exists()


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path, config_loader):
  config = config_loader("ensemble_distillation", "small")
  config.data.options.num_images, config.data.image_size, config.cv.folds = 120, 48, 3
  config.sgdre.init_epochs, config.sgdre.total_epochs = 1, 5
  config.student.epochs = config.kd.epochs = 1
  config.train.progress = False
  out = cli.run(config, str(tmp_path), "train")
  assert os.path.exists(tmp_path / "results.md") and len(out["per_fold"]) == 3
  assert out["cost"]["200x200"]["teacher"]["params"] == 6_795_394
  again = cli.run(config, str(tmp_path), "report")
  assert again["means"] == out["means"]
