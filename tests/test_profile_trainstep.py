"""benchmarks/profile_trainstep.py's op table: per-kind sums of a trace's complete events, per step."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import profile_trainstep  # noqa: E402


def test_op_table_sums_fusions_of_one_kind_per_step_and_skips_dispatch():
  events = [
      {"ph": "X", "name": "pad_slice_fusion.12", "dur": 300},
      {"ph": "X", "name": "pad_slice_fusion", "dur": 100},
      {"ph": "X", "name": "dot.3", "dur": 1000},
      {"ph": "X", "name": "ThunkExecutor::Execute", "dur": 9999},  # dispatch around the ops
      {"ph": "X", "name": "$bench_trainstep.py:120 run", "dur": 9999},  # a Python frame
      {"ph": "i", "name": "dot.4", "dur": 5000},  # not a complete event
  ]
  rows = profile_trainstep.op_table(events * 2, steps=2)
  assert rows == [("dot", pytest.approx(1.0), 1), ("pad_slice_fusion", pytest.approx(0.4), 2)]


def test_unknown_model_is_one_line():
  with pytest.raises(SystemExit, match="--model 'vgg99' is unknown; expected one of"):
    profile_trainstep.main(["--model", "vgg99"])
