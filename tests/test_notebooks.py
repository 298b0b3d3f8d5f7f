"""Notebooks: each .ipynb is generated from its percent-format .py source and runs top to bottom."""

import importlib.util
import json
import os

import matplotlib
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")


def _builder():
  spec = importlib.util.spec_from_file_location("build_notebooks", os.path.join(NOTEBOOKS, "build_notebooks.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _run_cells(path):
  """Executes the code cells of an .ipynb in one namespace (what 'Run all' does) and returns it."""
  with open(path) as f:
    nb = json.load(f)
  namespace = {"__name__": "notebook"}
  for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
    exec(compile("".join(cell["source"]), f"{os.path.basename(path)}[code cell {i}]", "exec"), namespace)
  return namespace


def test_ipynb_files_match_their_sources(tmp_path):
  builder = _builder()
  sources = [f for f in os.listdir(NOTEBOOKS) if f.endswith(".py") and f != "build_notebooks.py"]
  assert sources, "no notebook sources found"
  for name in sources:
    with open(os.path.join(NOTEBOOKS, name)) as f:
      expected = builder.cells_from_percent(f.read())
    with open(os.path.join(NOTEBOOKS, name[:-3] + ".ipynb")) as f:
      committed = json.load(f)["cells"]
    assert committed == expected, f"notebooks/{name[:-3]}.ipynb is stale: run python notebooks/build_notebooks.py"


def test_pde_priors_tour_runs_and_its_numbers_hold():
  matplotlib.use("Agg")
  ns = _run_cells(os.path.join(NOTEBOOKS, "pde_priors_tour.ipynb"))
  for name in ("heat", "zg", "tensor", "tv"):  # every smoothing flow improves on the noisy input at some time
    assert ns["best"][name][0] > ns["noisy_psnr"] + 2.0, (name, ns["best"][name])
  assert ns["gain_per_sigma"][1] > 0
  assert ns["dmse_dK"] == pytest.approx(ns["fd"], rel=1e-3)
  assert float(np.abs(ns["heat_res"]).max()) < 1e-6 < float(np.abs(ns["pm_res"]).max())
