"""The MedMNIST ensembles project: ensemble rows from member outputs (averaged probabilities, summed
size / FLOPs, slowest time), categories, both selection protocols, the "does averaging help" gains,
int8 rows; bad configs are refused before anything is written; and (slow) a tiny end-to-end run."""

import os

import numpy as np
import pytest

from vision_jax import main as cli
from vision_jax.metrics import ensembles as ens
from vision_jax.projects.medmnist_ensembles import study


def fake_members(seed=0, n=300, k=4):
  """Three members with planted accuracies: each is right on its own random 70% of the examples."""
  rng = np.random.default_rng(seed)
  records, arrays = {}, {}
  for j, (name, kind) in enumerate((("B1", "CNN"), ("C1", "CNN"), ("MobNetV2", "DNN"))):
    arrays[name] = {}
    for split in ("val", "test"):
      y = np.random.default_rng([seed, 0 if split == "val" else 1]).integers(0, k, n)
      right = rng.random(n) < 0.7
      guess = np.where(right, y, (y + rng.integers(1, k, n)) % k)
      p = np.full((n, k), 0.1 / (k - 1))
      p[np.arange(n), guess] = 0.9
      arrays[name][f"probs_{split}"] = p
      arrays[name][f"probs_{split}_int8"] = p
      arrays[name][f"labels_{split}"] = y
    records[name] = {"kind": kind, "size_mb": 2.0 + j, "size_int8_mb": 0.5 + j / 4, "flops": (10 + j) * 1e6,
                     "time_s": 0.01 * (j + 1), "params": 1000 * (j + 1),
                     **{f"metrics_{s}": ens.paper_metrics(arrays[name][f"labels_{s}"], arrays[name][f"probs_{s}"])
                        for s in ("val", "test")}}
  return records, arrays


def test_ensemble_rows_average_and_add_up():
  records, arrays = fake_members()
  tables = study.all_ensembles(records, arrays, 2, 3)
  names = [r["name"] for r in tables["test"]]
  assert names == ["B1_C1", "B1_MobNetV2", "C1_MobNetV2", "B1_C1_MobNetV2"]
  row = tables["test"][3]
  avg = (arrays["B1"]["probs_test"] + arrays["C1"]["probs_test"] + arrays["MobNetV2"]["probs_test"]) / 3
  assert row["wS"] == pytest.approx(ens.paper_metrics(arrays["B1"]["labels_test"], avg)["wS"])
  assert row["size"] == pytest.approx(2 + 3 + 4) and row["flops"] == pytest.approx(33)
  assert row["time"] == pytest.approx(30.0)  # ms of the slowest member
  assert [r["category"] for r in tables["test"]] == ["CNN", "HYB", "HYB", "HYB"]
  # three members right on independent 70% each: the majority of the average is right ~78% of the time
  assert row["wS"] > max(records[m]["metrics_test"]["wS"] for m in records)


def test_selection_protocols_and_gains():
  records, arrays = fake_members()
  tables = study.all_ensembles(records, arrays, 2, 3)
  sels = study.select_both(tables, size_cap=34.0)
  assert set(sels) == {"paper", "heldout"}
  for sel in sels.values():
    assert sel.best["DNN"] is None and sel.best["CNN"] == "B1_C1"  # one CNN ensemble, no DNN-only one
    assert sel.overall in sel.F_prime
  capped = study.select_both(tables, size_cap=5.5)["heldout"]
  assert all(next(r for r in tables["val"] if r["name"] == n)["size"] <= 5.5 for n in capped.F_prime)
  gain = study.best_member_vs_ensembles(records, tables)
  best = max(("B1", "C1"), key=lambda m: records[m]["metrics_val"]["wS"])
  assert gain["best_member"] == best and gain["best_ensemble"] == "B1_C1"
  assert gain["gains"] == [pytest.approx(tables["test"][0]["wS"] - records[best]["metrics_test"]["wS"])]
  rows = study.int8_rows({"B1_C1": ["B1", "C1"]}, records, arrays)
  assert rows[0]["size"] == pytest.approx(5.0) and rows[1]["size"] == pytest.approx(0.5 + 0.75)


def test_stacking_is_chosen_on_validation_not_on_test():
  import ml_collections
  records, arrays = fake_members(n=200)
  tables = study.all_ensembles(records, arrays, 2, 3)
  cfg = ml_collections.ConfigDict({"hidden_grid": "4,8_4", "max_ensembles": 2, "cv": 2, "max_iter": 50})
  out = study.stacking_study(records, arrays, tables, cfg, seed=0)
  assert len(out["rows"]) == 2 and "mwu_stacking_vs_average" in out
  for r in out["rows"]:
    combo = next(t["members"] for t in tables["val"] if t["name"] == r["name"])
    est, hidden = ens.fit_stacker([arrays[m]["probs_val"] for m in combo], arrays[combo[0]]["labels_val"],
                                  [(4,), (8, 4)], seed=0, cv=2, max_iter=50)
    p = ens.stacker_probabilities(est, [arrays[m]["probs_test"] for m in combo], 4)
    assert r["stacking_hidden"] == "_".join(map(str, hidden))
    assert r["stacking_wS"] == pytest.approx(ens.paper_metrics(arrays[combo[0]]["labels_test"], p)["wS"])
    assert r["stacking_wS"] in (pytest.approx(r["meta1_wS"]), pytest.approx(r["meta2_wS"]))


def test_verdict_lines_follow_the_measured_gain_and_test():
  from vision_jax.projects.medmnist_ensembles import claims
  gain = {"best_ensemble": "B1_C1", "best_member": "B1", "best_ensemble_test_wS": 0.802,
          "best_member_test_wS": 0.790, "fraction_not_worse": 0.5}
  line = claims.dataset_verdict("octmnist", gain, "B1_C1", "CNN", 0.3, 0.47)
  assert line.startswith("OCT: ") and "+1.20 pt wS (reproduced; 50% of CNN ensembles" in line
  assert "same category as the paper's" in line and "int8 weights change wS by -0.30 pt (within" in line
  assert "no significant difference, as the paper" in line
  worse = dict(gain, best_ensemble_test_wS=0.780)
  line = claims.dataset_verdict("pathmnist", worse, "B1_MobNetV2", "HYB", 0.8, 0.01)
  assert "-1.00 pt wS (not reproduced" in line and "HYB; same category as the paper's" in line
  assert "beyond the paper's" in line and "significant, unlike the paper" in line
  assert claims.overall_verdict([True, True]).startswith("Verdict: reproduced")
  assert claims.overall_verdict([True, False]).startswith("Verdict: not reproduced")


@pytest.mark.parametrize("field,value,message", [
    ("members.cnn", "B1,C2", "unknown ensemble member 'C2'"),
    ("datasets", "chestmnist", "unknown MedMNIST dataset"),
    ("ensemble.max_size", 1, "ensemble sizes 2..1"),
    ("data.scheme", "npz", "data.scheme='npz' is invalid"),
])
def test_bad_configs_are_refused_before_writing(tmp_path, config_loader, field, value, message):
  config = config_loader("medmnist_ensembles", "small")
  section, _, key = field.rpartition(".")
  (config[section] if section else config)[key] = value
  workdir = tmp_path / "w"
  with pytest.raises(ValueError, match=message):
    cli.run(config, str(workdir), "train")
  assert not workdir.exists()


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path, config_loader):
  config = config_loader("medmnist_ensembles", "small,datasets=oct")
  config.members.cnn, config.members.dnn = "B1,B2", "TinyMobV2"
  config.data.options.update(num_train=192, num_val=64, num_test=64)
  config.train.epochs, config.train.progress = 1, False
  config.stacking.max_ensembles, config.eval.batch_size = 2, 64
  out = cli.run(config, str(tmp_path), "train")
  assert os.path.exists(tmp_path / "results.md") and os.path.exists(tmp_path / "radar_octmnist.png")
  assert len(out["octmnist"]["ensembles"]["test"]) == 4  # B1_B2, B1_Tiny, B2_Tiny, B1_B2_Tiny
  again = cli.run(config, str(tmp_path), "report")  # reads the finished members back
  assert again["octmnist"]["ensembles"]["test"] == out["octmnist"]["ensembles"]["test"]
