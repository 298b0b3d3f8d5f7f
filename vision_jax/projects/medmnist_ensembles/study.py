"""The ensembles of one dataset, from its trained members: every late (softmax-averaging) ensemble of
min_size..max_size members per category (CNN-only, DNN-only, hybrid), the two-stage selection under
two protocols, stacking meta-learners against averaging, and int8 versions of the picks.

Protocols (PROTOCOLS):
  paper   : the paper's: the selection reads test-set metrics and reports the same test metrics.
  heldout : the selection reads validation-set metrics (members never trained on them); the picks
            are then reported on the test set, which took no part in any choice.
Costs (size, FLOPs, time) are properties of the models and are the same under both.
"""

from __future__ import annotations

import numpy as np

from vision_jax.metrics import ensembles as ens, stats

PROTOCOLS = {"paper": ("test", "selection on test metrics (the paper's protocol)"),
             "heldout": ("val", "selection on validation metrics, reported on test (held out)")}
METRICS = ("wS", "wP", "F1", "BA", "AUC")


def category(kinds: list[str]) -> str:
  """"CNN" / "DNN" when every member is of that kind, else "HYB"."""
  return kinds[0] if len(set(kinds)) == 1 else "HYB"


def ensemble_row(combo: tuple[str, ...], records: dict, arrays: dict, split: str, int8: bool = False) -> dict:
  """One ensemble's row: name, category, members, the paper's metrics of the averaged probabilities
  on `split` (int8 weights if asked), size (MB) and FLOPs (M) summed, time (ms for the test split) of
  the slowest member. Milliseconds keep Eq. 5's 1 / mean(c) factor below 1 as in the paper's units
  (its means are > 1 MB, > 1 MFLOPs, > 1 s), so radar radii stay positive."""
  key = f"probs_{split}" + ("_int8" if int8 else "")
  probs = ens.average_probabilities([arrays[m][key] for m in combo])
  labels = arrays[combo[0]][f"labels_{split}"]
  c = ens.ensemble_cost([records[m]["size_int8_mb" if int8 else "size_mb"] for m in combo],
                        [records[m]["flops"] / 1e6 for m in combo], [1e3 * records[m]["time_s"] for m in combo])
  m = ens.paper_metrics(labels, probs)
  return {"name": "_".join(combo), "category": category([records[n]["kind"] for n in combo]), "members": list(combo),
          **{k: m[k] for k in METRICS}, **c}


def member_rows(records: dict, split: str) -> list[dict]:
  """Single-model rows (size MB, FLOPs M, time ms, params) in member order."""
  return [{"name": n, "kind": r["kind"], **{k: r[f"metrics_{split}"][k] for k in METRICS}, "size": r["size_mb"],
           "flops": r["flops"] / 1e6, "time": 1e3 * r["time_s"], "params": r["params"]} for n, r in records.items()]


def all_ensembles(records: dict, arrays: dict, min_size: int, max_size: int) -> dict:
  """{"val": rows, "test": rows} of every combination of the members (config order)."""
  combos = ens.combinations(list(records), min_size, max_size)
  return {split: [ensemble_row(c, records, arrays, split) for c in combos] for split in ("val", "test")}


def by_category(rows: list[dict], order: list[str] | None = None) -> dict:
  """Rows grouped by category, each group sorted by wS (descending; ties keep `order`, else row order),
  which is the order the paper's tables (and its tie-break) use."""
  rank = {n: i for i, n in enumerate(order or [r["name"] for r in rows])}
  out = {}
  for cat in ens.CATEGORIES:
    group = [r for r in rows if r["category"] == cat]
    out[cat] = sorted(group, key=lambda r: (-r["wS"], rank[r["name"]]))
  return out


def select_both(tables: dict, size_cap: float) -> dict:
  """{protocol: Selection} for PROTOCOLS, each run on the rows of its split."""
  return {p: ens.select(by_category(tables[split]), size_cap) for p, (split, _) in PROTOCOLS.items()}


def best_member_vs_ensembles(records: dict, tables: dict) -> dict:
  """Does averaging help? For each CNN-only ensemble, its test wS minus the test wS of its best member
  (best by validation wS), and the held-out pick: the CNN ensemble vs the CNN member with the best
  validation wS, both on test."""
  val = {r["name"]: r for r in tables["val"]}
  test = {r["name"]: r for r in tables["test"]}
  gains = []
  for name, row in test.items():
    if row["category"] != "CNN":
      continue
    best = max(row["members"], key=lambda m: records[m]["metrics_val"]["wS"])
    gains.append(row["wS"] - records[best]["metrics_test"]["wS"])
  cnn = [n for n, r in records.items() if r["kind"] == "CNN"]
  out = {"gains": gains, "fraction_not_worse": float(np.mean(np.asarray(gains) >= 0)) if gains else float("nan")}
  if cnn and gains:
    m = max(cnn, key=lambda n: records[n]["metrics_val"]["wS"])
    e = max((n for n in val if val[n]["category"] == "CNN"), key=lambda n: (val[n]["wS"], -len(val[n]["members"])))
    out.update(best_member=m, best_member_test_wS=records[m]["metrics_test"]["wS"], best_ensemble=e,
               best_ensemble_test_wS=test[e]["wS"])
  return out


def stacking_study(records: dict, arrays: dict, tables: dict, cfg, seed: int) -> dict:
  """Stacking meta-learners on the `cfg.max_ensembles` ensembles with the best validation wS: each
  is fitted on the validation split's member probabilities (hidden layers from cfg.hidden_grid by
  cfg.cv-fold CV on that split) and scored on test, as are the best one- and two-hidden-layer
  configurations (each chosen by the same CV); Mann-Whitney U of stacking vs averaging and single vs double meta-layer (test wS)."""
  grid = [tuple(int(v) for v in h.split("_")) for h in str(cfg.hidden_grid).split(",") if h.strip()]
  chosen = sorted(tables["val"], key=lambda r: -r["wS"])[:int(cfg.max_ensembles)]
  test = {r["name"]: r for r in tables["test"]}
  rows = []
  for row in chosen:
    combo = row["members"]
    k = arrays[combo[0]]["probs_val"].shape[1]
    val_p = [arrays[m]["probs_val"] for m in combo]
    test_p = [arrays[m]["probs_test"] for m in combo]
    y_val, y_test = arrays[combo[0]]["labels_val"], arrays[combo[0]]["labels_test"]
    per_depth = {}
    for depth in (1, 2):
      sub = [h for h in grid if len(h) == depth]
      if not sub:
        continue
      est, hidden = ens.fit_stacker(val_p, y_val, sub, seed=seed, cv=int(cfg.cv), max_iter=int(cfg.max_iter))
      m = ens.paper_metrics(y_test, ens.stacker_probabilities(est, test_p, k))
      per_depth[depth] = {"hidden": "_".join(map(str, hidden)), "wS": m["wS"], "AUC": m["AUC"]}
    # The stacker compared with averaging: its hidden layers chosen over the whole grid by CV on the
    # validation split (picking the better depth by its test wS would select on the test split).
    est, hidden = ens.fit_stacker(val_p, y_val, grid, seed=seed, cv=int(cfg.cv), max_iter=int(cfg.max_iter))
    chosen_wS = ens.paper_metrics(y_test, ens.stacker_probabilities(est, test_p, k))["wS"]
    rows.append({"name": row["name"], "average_wS": test[row["name"]]["wS"], "average_AUC": test[row["name"]]["AUC"],
                 **{f"meta{d}_{k}": v for d, r in per_depth.items() for k, v in r.items()},
                 "stacking_hidden": "_".join(map(str, hidden)), "stacking_wS": chosen_wS})
  out = {"rows": rows}
  if len(rows) >= 2:
    out["mwu_stacking_vs_average"] = stats.mann_whitney([r["stacking_wS"] for r in rows], [r["average_wS"] for r in rows])
    if all("meta1_wS" in r and "meta2_wS" in r for r in rows):
      out["mwu_single_vs_double"] = stats.mann_whitney([r["meta1_wS"] for r in rows], [r["meta2_wS"] for r in rows])
  return out


def int8_rows(combos: dict, records: dict, arrays: dict) -> list[dict]:
  """Table 11 analogue: each ensemble ({name: members}) in fp32 and with int8 weights, on test."""
  out = []
  for name, combo in combos.items():
    fp = ensemble_row(tuple(combo), records, arrays, "test")
    q = ensemble_row(tuple(combo), records, arrays, "test", int8=True)
    out += [{**fp, "name": f"{name} FP32"}, {**q, "name": f"{name} int8"}]
  return out
