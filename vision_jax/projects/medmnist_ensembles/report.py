"""results.md / results.json / CSV / PNG of the MedMNIST ensembles project."""

from __future__ import annotations

import os

from vision_jax import report as report_lib
from vision_jax.config_utils import split_names
from vision_jax.metrics import ensembles as ens
from vision_jax.projects.medmnist_ensembles import claims, figures, study

M = study.METRICS


def _member_label(name: str, kind: str) -> str:
  return f"{name} (no ImageNet weights)" if kind == "DNN" else name


def members_table(res: dict) -> str:
  header = ["model", *[f"{m} test" for m in M], "wS val", "size MB", "FLOPs M (XLA)", "params", "time ms",
            "epochs", "paper Path: wS / MB / FLOPs M / params"]
  rows = []
  for name, r in res["records"].items():
    p = claims.PAPER_SINGLE_PATH.get(name)
    paper = f"{p[0]:.3f} / {p[1]:.2f} / {p[2]:.1f} / {p[3]:,}" if p else "-"
    rows.append([_member_label(name, r["kind"]), *[r["metrics_test"][m] for m in M], r["metrics_val"]["wS"],
                 r["size_mb"], r["flops"] / 1e6, f"{r['params']:,}", 1e3 * r["time_s"], r["epochs_trained"], paper])
  return report_lib.markdown_table(header, rows, digits=3)


def ensembles_table(res: dict, top: int) -> str:
  val = {r["name"]: r for r in res["tables"]["val"]}
  grouped = study.by_category(res["tables"]["test"])
  header = ["category", "ensemble", *[f"{m} test" for m in M], "wS val", "size MB", "FLOPs M", "time ms"]
  rows = []
  for cat, group in grouped.items():
    for r in sorted(group, key=lambda r: -val[r["name"]]["wS"])[:top]:
      rows.append([cat, r["name"], *[r[m] for m in M], val[r["name"]]["wS"], r["size"], r["flops"], r["time"]])
  return report_lib.markdown_table(header, rows, digits=3)


def stage1_table(res: dict) -> str:
  header = ["protocol", "category", "P1 (size)", "P2 (FLOPs)", "P3 (time)", "Q", "U"]
  rows = []
  for proto, sel in res["selections"].items():
    for cat in ens.CATEGORIES:
      s = sel.stage1[cat]
      rows.append([proto, cat, *[", ".join(s["P"][c]) or "-" for c in ens.COSTS], ", ".join(s["Q"]) or "-",
                   ", ".join(s["U"]) or "-"])
  return report_lib.markdown_table(header, rows)


def stage2_table(res: dict) -> str:
  dataset = res["dataset"]
  paper = claims.PAPER_PICKS.get(dataset, {})
  test = {r["name"]: r for r in res["tables"]["test"]}
  header = ["pick", "paper (quoted, its test set)", "paper protocol (select on test)", "held-out (select on val)",
            "held-out pick: wS / size MB / FLOPs M / time ms on test"]
  rows = []
  sels = res["selections"]
  for cat in (*ens.CATEGORIES, "overall"):
    pp = paper.get(cat)
    if cat == "overall":
      pcat = claims.PAPER_OVERALL.get(dataset)
      pp = paper.get(pcat) if pcat else None
    quoted = f"{pp[0]} (wS {pp[1]:.3f}, {pp[6]:.2f} MB)" if pp else "-"
    picks = [(sels[p].overall if cat == "overall" else sels[p].best[cat]) for p in ("paper", "heldout")]
    areas = [sels[p].areas.get(n) if n else None for p, n in zip(("paper", "heldout"), picks)]
    cells = [f"{n} (area {a:.4f})" if n else "-" for n, a in zip(picks, areas)]
    h = test.get(picks[1]) if picks[1] else None
    rows.append([f"F'_{cat}" if cat != "overall" else "F'_best", quoted, *cells,
                 f"{h['wS']:.3f} / {h['size']:.2f} / {h['flops']:.1f} / {h['time']:.1f}" if h else "-"])
  lines = [report_lib.markdown_table(header, rows)]
  for p, sel in sels.items():
    lines.append(f"- {p}: |F| = {len(sel.F)}, |F'| = {len(sel.F_prime)} (size cap); F' = {', '.join(sel.F_prime) or '-'}")
  return "\n".join(lines)


def int8_table(res: dict) -> str:
  header = ["ensemble", *[f"{m} test" for m in M], "size MB"]
  rows = [[r["name"], *[r[m] for m in M], r["size"]] for r in res["int8"]]
  p = claims.PAPER_INT8.get(res["dataset"])
  quoted = (f"Paper (Table 11, quoted): {p[0]} wS {p[1]:.3f} -> {p[2]:.3f} (int8), {p[3]:.2f} -> {p[4]:.2f} MB."
            if p else "")
  return report_lib.markdown_table(header, rows, digits=3) + ("\n\n" + quoted if quoted else "")


def stacking_table(res: dict) -> str:
  st = res["stacking"]
  if not st["rows"]:
    return "Stacking disabled (stacking.enabled=False)."
  header = ["ensemble", "averaging wS", "meta 1 hidden (sizes, wS)", "meta 2 hidden (sizes, wS)",
            "stacker chosen on val (sizes, wS)", "averaging AUC"]
  rows = [[r["name"], r["average_wS"], f"{r.get('meta1_hidden', '-')}, {r.get('meta1_wS', float('nan')):.3f}",
           f"{r.get('meta2_hidden', '-')}, {r.get('meta2_wS', float('nan')):.3f}",
           f"{r.get('stacking_hidden', '-')}, {r['stacking_wS']:.3f}", r["average_AUC"]]
          for r in st["rows"]]
  lines = [report_lib.markdown_table(header, rows, digits=3), ""]
  for key, label, paper in (("mwu_stacking_vs_average", "stacking vs averaging", "U = 40, p = 0.469; U = 48, p = 0.909"),
                            ("mwu_single_vs_double", "1 vs 2 hidden layers", "U = 42.5, p = 0.594")):
    if key in st:
      lines.append(f"- Mann-Whitney U ({label}, test wS over {st[key]['n_a']} ensembles): U = {st[key]['U']:.1f}, "
                   f"p = {st[key]['p']:.3f} (paper, quoted: {paper})")
  return "\n".join(lines)


def _int8_drop(res: dict) -> float | None:
  pick = res["selections"]["heldout"].overall
  rows = {r["name"]: r for r in res["int8"]}
  if pick and f"{pick} FP32" in rows:
    return 100 * (rows[f"{pick} FP32"]["wS"] - rows[f"{pick} int8"]["wS"])
  return None


def write(config, workdir: str, results: dict) -> dict:
  """Writes results.md / results.json, per-dataset CSVs and PNGs; returns the summary dict."""
  lines = [f"# MedMNIST late ensembles: {claims.SOURCE}", "",
           f"Data: `{config.data.scheme}:` ({'synthetic stand-in with exact labels' if config.data.scheme == 'medmnist_synth' else 'MedMNIST v2 files'});"
           f" members: CNN {config.members.cnn or '-'}; DNN {config.members.dnn or '-'} ({claims.NO_IMAGENET}).",
           f"Training: {config.optim.name} lr {config.optim.lr} (weight decay {config.optim.weight_decay}), batch "
           f"{config.data.batch_size}, at most {config.train.epochs} epochs, early stopping on {config.train.select_metric} "
           f"(patience {config.train.patience}); ensembles of {config.ensemble.min_size}-{config.ensemble.max_size} "
           f"members, size cap {config.ensemble.size_cap_mb} MB; inputs in [0, 1] for every member.",
           "FLOPs are XLA's count of the lowered forward pass per image (taps on zero padding are not counted, so "
           "they sit a few percent below the paper's keras-flops numbers); size = stored float32 variables / 2^20; "
           "time = milliseconds for the whole test split on this CPU (ensemble: slowest member; Eq. 5 is unit-dependent and "
           "needs every cost mean > 1, as in the paper's units).", "",
           "## Claims (quoted from the paper)", ""] + [f"- {c}" for c in claims.CLAIMS] + [""]
  verdicts, ok, summary = [], [], {}
  for dataset, res in results.items():
    gain = res["gain"]
    mwu = res["stacking"].get("mwu_stacking_vs_average", {}).get("p")
    held = res["selections"]["heldout"]
    cat = {n: r["category"] for n, r in ((r["name"], r) for r in res["tables"]["test"])}.get(held.overall)
    verdicts.append(claims.dataset_verdict(dataset, gain, held.overall, cat, _int8_drop(res), mwu))
    if "best_ensemble_test_wS" in gain:
      ok.append(gain["best_ensemble_test_wS"] >= gain["best_member_test_wS"])
  lines += ["## Verdict", ""] + [f"- {v}" for v in verdicts] + ["", claims.overall_verdict(ok), ""]
  top = int(config.report.top_rows)
  for dataset, res in results.items():
    label = claims.DATASET_LABELS.get(dataset, dataset)
    n = res["num_images"]
    lines += [f"## {label} ({dataset}; train / val / test = {n['train']} / {n['val']} / {n['test']} images)", "",
              "### Single models (test split; DNN members: no ImageNet weights)", "", members_table(res), "",
              f"### Ensembles: the {top} best by validation wS per category (averaged softmax)", "",
              ensembles_table(res, top), "",
              "### Stage 1: Pareto sets (wS vs each cost complement, per category)", "", stage1_table(res), "",
              "### Stage 2: radar-area picks in F' (34 MB cap), paper's picks quoted beside", "", stage2_table(res), "",
              f"![radar](radar_{dataset}.png) ![pareto](pareto_{dataset}.png)", "",
              "### int8 weights (post-training min/max, per tensor; Table 11 analogue)", "", int8_table(res), "",
              "### Stacking meta-learner (fitted on the validation split) vs averaging", "", stacking_table(res), ""]
    held = res["selections"]["heldout"]
    val_rows = study.by_category(res["tables"]["val"])
    figures.pareto_png(os.path.join(workdir, f"pareto_{dataset}.png"), val_rows, held,
                       f"{label}: Pareto fronts on validation wS (held-out protocol)")
    by_name = {r["name"]: r for r in res["tables"]["val"]}
    figures.radar_png(os.path.join(workdir, f"radar_{dataset}.png"), [by_name[n] for n in held.F_prime], held.areas,
                      {n: by_name[n]["category"] for n in held.F_prime}, f"{label}: F' radar (validation metrics)")
    cols = ["name", "category", *M, "size", "flops", "time"]
    for split in ("val", "test"):
      report_lib.write_csv(os.path.join(workdir, f"ensembles_{dataset}_{split}.csv"), cols,
                           [[r[c] for c in cols] for r in res["tables"][split]])
    summary[dataset] = {"members": res["records"], "ensembles": res["tables"], "gain": res["gain"],
                        "selections": {p: vars(s) for p, s in res["selections"].items()},
                        "int8": res["int8"], "stacking": res["stacking"], "num_images": n}
  lines += ["## Command", "", "    " + str(config.report.command), ""]
  text = "\n".join(lines)
  report_lib.write_text_atomic(os.path.join(workdir, "results.md"), text)
  report_lib.write_json(os.path.join(workdir, "results.json"),
                        {"source": claims.SOURCE, "verdicts": verdicts, "verdict": claims.overall_verdict(ok),
                         "datasets": summary, "members": split_names(config.members.cnn) + split_names(config.members.dnn)})
  print(text)
  print(f"wrote {workdir}/results.md, results.json, ensembles_*.csv, radar_*.png, pareto_*.png")
  return summary
