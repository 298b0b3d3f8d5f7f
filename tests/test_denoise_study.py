"""The denoising study on a tiny run: tables are generated from measured sub-runs, resumable."""

import json

import numpy as np
import pytest

from conftest import load_config
from vision_jax.projects.pinn_denoise import study as denoise_study


def subrun_dir(folder, name):
  """The one finished sub-run folder <name>-<fingerprint> (the fingerprint is 10 hex digits)."""
  found = [p for p in folder.iterdir() if p.name.rsplit("-", 1)[0] == name and len(p.name.rsplit("-", 1)[1]) == 10]
  assert len(found) == 1, [p.name for p in folder.iterdir()]
  return found[0]


def tiny_study(run: str):
  c = load_config("pinn_denoise.study", f"small,run={run},backbone=tnrd,prior=heat")
  c.study.backbones = "tnrd"
  c.study.priors = "heat,none"
  c.study.protocols = "heldout,oracle,zeroshot"
  c.study.looks = "4"
  c.study.sigmas = "25"
  c.study.counts = "1,2"
  c.data.train = "bundled:camera,brick"
  c.data.train_max_size = 48
  c.data.val = "bundled:clock"
  c.data.test = "bundled:coins"
  c.data.max_size = 32
  c.data.patch_size = 16
  c.data.batch_size = 2
  c.model.tnrd = {"stages": 1, "num_filters": 4, "kernel_size": 3}
  c.model.dncnn = {"depth": 3, "features": 4}
  c.train.steps = 2
  c.train.progress = False
  c.oracle.steps = 2
  c.zeroshot.steps = 2
  c.eval.baselines = "tv_chambolle"
  c.eval.pde.max_steps = 5
  c.eval.pde.tune = {"perona_malik": {"K": [0.05]}}
  return c


def test_table4_tiny_run_has_every_cell_and_labels_the_oracle(tmp_path):
  cfg = tiny_study("table4")
  text = denoise_study.train(cfg, str(tmp_path))
  cells = json.loads((tmp_path / "table4" / "table4.json").read_text())
  assert set(cells) == {f"{p}/tnrd/{q}" for p in ("heldout", "oracle", "zeroshot") for q in ("heat", "none")}
  # Each cell is the mean PSNR its own sub-run measured.
  sub = json.loads((subrun_dir(tmp_path / "table4", "oracle-tnrd-heat") / "results.json").read_text())
  label = next(m for m in sub["methods"] if "ORACLE" in m)
  assert cells["oracle/tnrd/heat"][0] == pytest.approx(np.mean(sub["methods"][label]["psnr"]))
  assert "ORACLE: fits each test image's clean target" in text
  assert "The paper's Table 4 (its claims" in text and "42.24/0.98" in text
  assert "tv_chambolle" in text  # baselines measured in the same run
  # Resumable: a second call reuses finished sub-runs (no retraining) and gives the same table.
  heldout = subrun_dir(tmp_path / "table4", "heldout-tnrd-heat") / "results.json"
  mtime = heldout.stat().st_mtime
  assert denoise_study.train(cfg, str(tmp_path)) == text
  assert heldout.stat().st_mtime == mtime
  # --mode=report rebuilds the same tables from the finished sub-runs alone.
  assert denoise_study.report_mode(cfg, str(tmp_path)) == text


def test_a_rerun_with_other_settings_trains_new_cells_and_never_mixes(tmp_path):
  cfg = tiny_study("table4")
  cfg.study.priors = "heat"
  cfg.study.protocols = "heldout"
  denoise_study.train(cfg, str(tmp_path))
  first = subrun_dir(tmp_path / "table4", "heldout-tnrd-heat")
  cfg.noise.looks = 8.0  # another noise level: every cell must be trained again
  text = denoise_study.train(cfg, str(tmp_path))
  runs = sorted(p.name for p in (tmp_path / "table4").iterdir() if p.name.startswith("heldout-tnrd-heat"))
  assert len(runs) == 2 and first.name in runs
  second = next(tmp_path / "table4" / r for r in runs if r != first.name)
  cells = json.loads((tmp_path / "table4" / "table4.json").read_text())
  sub = json.loads((second / "results.json").read_text())
  assert "L=8" in sub["noise"] and "L=8" in text
  label = next(m for m in sub["methods"] if "[held-out]" in m)
  assert cells["heldout/tnrd/heat"][0] == pytest.approx(np.mean(sub["methods"][label]["psnr"]))
  with pytest.raises(FileNotFoundError, match="has not finished"):  # report mode never trains
    cfg.noise.looks = 2.0
    denoise_study.report_mode(cfg, str(tmp_path))


def test_table5_tiny_run_measures_enl_and_cnr_of_every_method(tmp_path):
  from vision_jax.metrics import image as image_metrics
  cfg = tiny_study("table5")
  text = denoise_study.train(cfg, str(tmp_path))
  data = json.loads((tmp_path / "table5" / "table5.json").read_text())
  assert set(data) == {"L=4/tnrd-heat [held-out]", "L=4/noisy input", "L=4/tv_chambolle",
                       "L=4/pde:perona_malik (tuned on val)"}
  # The noisy input's ENL on flat clean regions is about L (= 4 looks): the metric measures what it says.
  assert 2.0 < data["L=4/noisy input"]["enl"][0] < 8.0
  assert data["L=4/tv_chambolle"]["enl"][0] > data["L=4/noisy input"]["enl"][0]  # smoothing raises ENL
  assert "| L | method | ENL | CNR | PSNR |" in text


def test_scarcity_tiny_run_pairs_with_and_without_the_pde_term(tmp_path):
  from scipy import stats
  from vision_jax.projects.pinn_denoise import scarcity
  cfg = tiny_study("scarcity")
  cfg.study.seeds = "0,1"
  text = denoise_study.train(cfg, str(tmp_path))
  assert (tmp_path / "scarcity" / "scarcity.png").exists()
  data = json.loads((tmp_path / "scarcity" / "scarcity.json").read_text())
  assert data["counts"] == [1, 2] and data["seeds"] == [0, 1]
  rows = {r["n"]: r for r in data["rows"]}
  assert set(rows) == {0, 1, 2}  # 0: the noisy-images-only (selfsup) left end
  # Every cell is the mean test PSNR of its own sub-run; the series share subset, seed and initialisation.
  for s in (0, 1):
    sub = json.loads((subrun_dir(tmp_path / "scarcity", f"n1-s{s}-pde0") / "results.json").read_text())["methods"]
    label = next(m for m in sub if "[held-out]" in m)
    assert rows[1]["without_values"][s] == pytest.approx(np.mean(sub[label]["psnr"]))
    assert data["noisy input"] == pytest.approx(np.mean(sub["noisy input"]["psnr"]))
  r = rows[2]  # the paired statistics are scipy's on the per-seed values
  t = stats.ttest_rel(r["with_values"], r["without_values"])
  assert r["p_t"] == pytest.approx(t.pvalue) and r["mean_diff"] == pytest.approx(
      np.mean(np.subtract(r["with_values"], r["without_values"])))
  assert r["p_wilcoxon"] is None  # 2 seeds: below the 6 an exact Wilcoxon needs to reach p < 0.05
  assert "clean training images" in text and data["verdict"] in text


def test_scarcity_subsets_are_nested_by_seed_and_paired_stats_match_scipy():
  from scipy import stats
  from vision_jax.projects.pinn_denoise import scarcity
  a = scarcity.subset_indices(400, 10, 1)
  assert len(set(a)) == 10 and np.array_equal(a, scarcity.subset_indices(400, 10, 1))
  assert not np.array_equal(a, scarcity.subset_indices(400, 10, 2))
  assert np.array_equal(scarcity.subset_indices(5, 10, 0), np.arange(5))
  w, wo = [30.1, 30.4, 29.8, 30.6, 30.0, 30.3], [29.9, 30.0, 29.9, 30.1, 29.7, 30.0]
  r = scarcity.paired(w, wo)
  assert r["p_t"] == pytest.approx(stats.ttest_rel(w, wo).pvalue)
  assert r["p_wilcoxon"] == pytest.approx(stats.wilcoxon(w, wo, method="exact").pvalue)
  d = np.subtract(w, wo)
  half = stats.t.ppf(0.975, 5) * d.std(ddof=1) / np.sqrt(6)
  assert r["ci95"] == pytest.approx([d.mean() - half, d.mean() + half])
  from statsmodels.stats.multitest import multipletests
  assert scarcity.holm([0.01, 0.04, float("nan"), 0.03])[:2] == pytest.approx(
      list(multipletests([0.01, 0.04, 0.03], method="holm")[1][:2]))


def test_table6_tiny_run_reports_self_ensemble_and_gaps_to_bm3d(tmp_path, monkeypatch):
  from vision_jax.tasks.denoise import evaluation as denoise_common
  cfg = tiny_study("table6")
  cfg.eval.self_ensemble = True
  cfg.eval.baselines = "tv_chambolle,bm3d"
  calls = []
  real = denoise_common.dihedral_self_ensemble
  monkeypatch.setattr(denoise_common, "dihedral_self_ensemble", lambda fn: calls.append(fn) or real(fn))
  text = denoise_study.train(cfg, str(tmp_path))
  summary = json.loads((tmp_path / "table6" / "table6.json").read_text())["25.0"]
  rows = [m for m in summary if "[held-out]" in m]
  assert rows == ["tnrd-heat [held-out]", "tnrd-heat [held-out] + x8 self-ensemble",
                  "dncnn-none [held-out]", "dncnn-none [held-out] + x8 self-ensemble"]
  assert len(calls) == 2  # one ensemble per trained model
  sub = json.loads((subrun_dir(tmp_path / "table6", "sigma25-tnrd-heat") / "results.json").read_text())["methods"]
  assert summary[rows[1]] == pytest.approx(np.mean(sub[rows[1]]["psnr"]))
  gap = summary[rows[1]] - summary["bm3d"]
  assert f"{rows[1]} {gap:+.2f} dB" in text


def test_unknown_study_is_refused(tmp_path):
  cfg = tiny_study("table9")
  with pytest.raises(ValueError, match="unknown study 'table9'"):
    denoise_study.train(cfg, str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()
