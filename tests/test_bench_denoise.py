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


def test_step_rates_times_each_model_at_its_sigma_and_divides_dncnn_by_tnrd():
  a = bench_denoise.parse(["--train_dir", "t", "--step_rates"])  # no --test_dir needed

  def fake_rate(config):  # a rate that tells the configs apart: DnCNN 3 s/step, TNRD 0.5, times sigma / 10
    return (3.0 if config.backbone == "dncnn" else 0.5) * config.noise.sigma / 10

  lines = bench_denoise.step_rates(a, [10.0, 20.0], ["tnrd7", "dncnn", "shipped"], rate=fake_rate)
  assert lines == ["tnrd7 sigma 10: 0.500 CPU s/step", "dncnn sigma 10: 3.000 CPU s/step",
                   "sigma 10: 1 DnCNN-17 step = 6.00 TNRD-7 joint steps",
                   "tnrd7 sigma 20: 1.000 CPU s/step", "dncnn sigma 20: 6.000 CPU s/step",
                   "sigma 20: 1 DnCNN-17 step = 6.00 TNRD-7 joint steps"]
  assert bench_denoise.step_rates(a, [10.0], ["dncnn"], rate=fake_rate) == ["dncnn sigma 10: 3.000 CPU s/step"]
