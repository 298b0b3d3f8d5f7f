"""Report figures every trained run writes: training curves from metrics.jsonl (classify and denoise)
and the grid of the most confident mistakes."""

import json
import os

import matplotlib.image
import numpy as np
import pytest

from conftest import load_config
from vision_jax import report as report_lib


def _write_jsonl(path, rows):
  with open(path, "w") as f:
    for r in rows:
      f.write(json.dumps(r) + "\n")


def test_curve_groups_pair_train_and_validation_series_and_keep_the_last_value_of_a_resumed_step(tmp_path):
  rows = [{"step": 10, "train/loss": 2.0, "train/accuracy": 0.3},
          {"step": 20, "train/loss": 1.5, "train/accuracy": 0.5},
          {"step": 20, "eval/val_accuracy": 0.45, "eval/val_mcc": 0.2},
          {"step": 20, "train/loss": 1.4, "train/accuracy": 0.55},  # the same step again after a resume
          {"step": 30, "train/loss": 1.0, "train/accuracy": 0.7, "train/grad_norm": 3.0}]
  groups = report_lib._curve_groups(rows)
  assert set(groups) == {"loss", "accuracy", "mcc", "grad_norm"}
  assert groups["loss"] == {"train: loss": [(10, 2.0), (20, 1.4), (30, 1.0)]}
  assert groups["accuracy"] == {"train: accuracy": [(10, 0.3), (20, 0.55), (30, 0.7)],
                                "eval: val_accuracy": [(20, 0.45)]}
  _write_jsonl(tmp_path / "metrics.jsonl", rows)
  path = report_lib.training_curves(str(tmp_path), title="t")
  assert path == str(tmp_path / "training_curves.png")
  img = matplotlib.image.imread(path)
  assert img.shape[1] == pytest.approx(4 * 4.2 * 110, abs=2)  # four panels: loss, accuracy, mcc, grad_norm
  assert report_lib.training_curves(str(tmp_path), str(tmp_path / "two.png"), max_panels=2) == str(tmp_path / "two.png")
  assert matplotlib.image.imread(tmp_path / "two.png").shape[1] == pytest.approx(2 * 4.2 * 110, abs=2)
  assert report_lib.training_curves(str(tmp_path / "missing")) is None  # no metrics.jsonl: no figure
  with pytest.raises(ValueError, match="max_panels=0"):
    report_lib.training_curves(str(tmp_path), max_panels=0)


def test_most_confident_mistakes_order_and_grid(tmp_path):
  rng = np.random.default_rng(0)
  probs = rng.dirichlet(np.ones(3), size=40)
  labels = rng.integers(0, 3, 40)
  pred = probs.argmax(1)
  wrong = np.flatnonzero(pred != labels)
  expected = sorted(wrong, key=lambda i: (-probs[i, pred[i]], i))[:5]
  np.testing.assert_array_equal(report_lib.most_confident_mistakes(labels, probs, 5), expected)
  assert report_lib.most_confident_mistakes(pred, probs).size == 0
  images = rng.random((40, 8, 8, 1))
  assert report_lib.mistakes_grid(str(tmp_path / "m.png"), images, labels, probs, ["a", "b", "c"], k=5) == 5
  assert os.path.getsize(tmp_path / "m.png") > 1000
  assert report_lib.mistakes_grid(str(tmp_path / "none.png"), images, pred, probs, ["a", "b", "c"]) == 0
  assert not (tmp_path / "none.png").exists()


@pytest.mark.slow  # about 5 s on an idle 2-core machine (data loading, compiles); the classify curve is tested fast
def test_denoise_training_writes_its_curve(tmp_path):
  from vision_jax.tasks.denoise import modes, supervised
  c = load_config("denoise", "backbone=dncnn,small")
  c.model.dncnn.depth, c.model.dncnn.features = 3, 8
  c.data.patch_size, c.data.batch_size, c.data.max_size = 32, 2, 64
  c.train.steps, c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 4, 2, 2, 4
  c.train.progress = False
  h = modes.prepare_heldout(c)
  modes.fit_heldout(c, str(tmp_path), h, supervised.mse_loss, desc="tiny")
  groups = report_lib._curve_groups([json.loads(l) for l in open(tmp_path / "metrics.jsonl")])
  assert "loss" in groups and "psnr" in groups  # train loss and validation PSNR panels
  assert os.path.getsize(tmp_path / "training_curves.png") > 1000


def test_write_report_and_read_results_round_trip(tmp_path, capsys):
  from vision_jax import report
  with pytest.raises(FileNotFoundError, match="results.json does not exist; run --mode=train first"):
    report.read_results(str(tmp_path))
  report.write_json(str(tmp_path / "results.json"), {"acc": np.float32(0.5), "rows": [1, 2]})
  assert report.read_results(str(tmp_path)) == {"acc": 0.5, "rows": [1, 2]}
  report.write_report(str(tmp_path), "# title\n", {"main": (["a", "b"], [[1, 2.5]])})
  assert (tmp_path / "results.md").read_text() == "# title\n"
  assert (tmp_path / "main.csv").read_text().splitlines() == ["a,b", "1,2.5"]
  assert "main.csv" in capsys.readouterr().out
