"""benchmarks/bench_denoise.py's pure helpers: the --dncnn_steps parser and the per-image win count."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import bench_denoise  # noqa: E402


def test_dncnn_steps_parse_and_unlisted_sigma_gets_none():
  assert bench_denoise.parse_dncnn_steps("15:1600,25.0:1635") == {"15": 1600, "25": 1635}
  assert bench_denoise.parse_dncnn_steps("") == {}
  a = bench_denoise.parse(["--train_dir", "t", "--test_dir", "s", "--dncnn_steps", "25:1635"])
  assert bench_denoise.dncnn_steps(a, 25.0, None) == 1635
  assert bench_denoise.dncnn_steps(a, 50.0, {"train_cpu_seconds": 100.0}) == 0  # not listed: no DnCNN, no timing


@pytest.mark.parametrize("text", ["25", "25:many", "x:10"])
def test_dncnn_steps_bad_item_is_one_line(text):
  with pytest.raises(SystemExit, match=f"--dncnn_steps item '{text}' is invalid; expected SIGMA:STEPS"):
    bench_denoise.parse_dncnn_steps(text)


def test_wins_over_counts_strictly_higher_psnr_per_image():
  res = {"a": {"psnr": [30.0, 31.0, 29.0, 28.0]}, "bm3d": {"psnr": [29.5, 31.0, 29.5, 27.0]}}
  assert bench_denoise.wins_over(res, "a", "bm3d") == "2"  # a tie (31.0) is not a win
  assert bench_denoise.wins_over(res, "bm3d", "a") == "1"
  assert bench_denoise.wins_over(res, "missing", "bm3d") == "-"
