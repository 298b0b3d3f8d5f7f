"""benchmarks/bench_tnrd_recipe.py's pure parts: the train / val split, the joint-only budget and the
variant configs (training itself is the benchmark's job; tests/test_denoise_stagewise-style runs cover it)."""

import os
import sys

import numpy as np
import pytest
from skimage import io

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import bench_tnrd_recipe as recipe  # noqa: E402


def _folder(tmp_path, n):
  src = tmp_path / "Train"
  src.mkdir()
  for i in range(n):
    io.imsave(str(src / f"test_{i:03d}.png"), np.full((8, 8), 10 * i, np.uint8), check_contrast=False)
  (src / "notes.txt").write_text("not an image")
  return str(src)


def test_split_holds_out_the_last_images_by_name_disjointly_and_is_idempotent(tmp_path):
  src = _folder(tmp_path, 7)
  train, val = recipe.split_folder(src, str(tmp_path / "split"), 2)
  assert sorted(os.listdir(val)) == ["test_005.png", "test_006.png"]
  assert sorted(os.listdir(train)) == [f"test_{i:03d}.png" for i in range(5)]
  assert os.path.realpath(os.path.join(val, "test_006.png")) == os.path.realpath(os.path.join(src, "test_006.png"))
  assert recipe.split_folder(src, str(tmp_path / "split"), 2) == (train, val)  # a rerun reuses the links
  with pytest.raises(SystemExit, match="not part of this split; use a new --workdir"):
    recipe.split_folder(src, str(tmp_path / "split"), 3)  # another split would mix into the old folders


@pytest.mark.parametrize("count", [0, 7, -1])
def test_split_refuses_a_val_count_that_leaves_no_training_image(tmp_path, count):
  with pytest.raises(SystemExit, match=f"--val_count {count} is invalid; expected 1 to 6"):
    recipe.split_folder(_folder(tmp_path, 7), str(tmp_path / "split"), count)


def test_joint_only_gets_the_greedy_cpu_seconds_as_joint_steps():
  info = {"train_cpu_seconds": 600.0,  # 100 greedy CPU s + 500 joint CPU s over 800 steps (0.625 s/step)
          "phases": "greedy1 100 steps 20 s (20 CPU s); greedy2 100 steps 80 s (80 CPU s); "
                    "joint 800 steps 510 s (500 CPU s)"}
  assert recipe.joint_only_steps(info) == 800 + 160
  with pytest.raises(ValueError, match="no joint phase"):
    recipe.joint_only_steps({"train_cpu_seconds": 1.0, "phases": ""})


def test_each_variant_changes_only_its_fields_and_never_reads_a_test_set():
  base = recipe.variant_config("recipe", 25.0, 800, "tr", "va", False)
  assert (base.train.steps, base.train.greedy_steps, base.data.train_dir, base.eval.data_dir) == (800, 100, "tr", "va")
  p40 = recipe.variant_config("patch40", 25.0, 800, "tr", "va", False)
  assert p40.data.patch_size * p40.data.patch_size * p40.data.batch_size == pytest.approx(
      base.data.patch_size ** 2 * base.data.batch_size, rel=0.01)  # same pixels per step
  info = {"train_cpu_seconds": 600.0, "phases": "joint 800 steps 510 s (500 CPU s)"}
  jo = recipe.variant_config("joint_only", 25.0, 800, "tr", "va", False, info)
  assert (jo.train.greedy_steps, jo.train.steps) == (0, 960)
  for c in (p40, jo):
    other = {k for k in ("seed", "backbone", "noise", "model") if c.to_dict()[k] != base.to_dict()[k]}
    assert not other
  with pytest.raises(SystemExit, match="variant 'wide' is unknown"):
    recipe.variant_config("wide", 25.0, 800, "tr", "va", False)
