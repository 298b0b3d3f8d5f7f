"""results.md / results.json / results.csv and the figures of the covid_cxr study, from the sub-runs'
summaries (single.py), the baselines and the explanations.

Figures: sweep.png (Table 2 analogue, plateau shaded), roc.png, pr.png, coverage.png (distribution of
Grad-CAM lung coverage over the test set, true vs Otsu mask, full vs shortcut model).
"""

from __future__ import annotations

import os

import numpy as np

from vision_jax import report as report_lib
from vision_jax.projects.covid_cxr import ablations as ablations_lib, claims, rules, xai

NO_WEIGHTS = "no ImageNet weights (trained from scratch)"
SWEEP_COLUMNS = ("accuracy", "precision", "recall", "f1", "mcc")


def _median(values) -> float:
  v = np.asarray(values, np.float64)
  return float(np.median(v)) if v.size else float("nan")


def _ci(run, key) -> str:
  lo, hi = run["intervals"][key]
  return f"[{lo:.2f}, {hi:.2f}]"


def findings(runs: dict, bootstrap: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
  """The study's measured findings, each decided on the paired test images (None where a run is absent):
  a coverage change counts when the Wilcoxon signed-rank p < alpha, an MCC change when the paired
  bootstrap 95 % interval of the difference excludes 0. Coverage on the last feature map (the paper's)
  and, when present, on the higher-resolution layer ("_hires")."""
  from vision_jax.projects.covid_cxr import evaluation
  out = {"ablation_ran": all(f"no_{c}" in runs for c in ("roi", "freq", "vessel", "lbp"))}
  for name, control in (("shortcut", "no_isolation"), ("shortcut_isolated", "full"), ("full", "shortcut")):
    if name in runs and control in runs:
      a, b = runs[name], runs[control]
      d, lo, hi = evaluation.paired_difference(a["test_labels"], a["test_probs"], b["test_probs"],
                                               float(a["threshold_default"]), "mcc", bootstrap, seed)
      row = {"mcc_difference": d, "mcc_interval": [lo, hi],
             **evaluation.paired_coverage_test(a["coverage_true"], b["coverage_true"])}
      if "coverage_true_hires" in a and "coverage_true_hires" in b:
        hires = evaluation.paired_coverage_test(a["coverage_true_hires"], b["coverage_true_hires"])
        row.update({f"{k}_hires": v for k, v in hires.items()})
      out[f"{name}_vs_{control}"] = row
  if "shortcut_vs_no_isolation" in out:
    c = out["shortcut_vs_no_isolation"]
    out["shortcut_coverage_falls"] = bool(c["median_difference"] < 0 and c["p_value"] < alpha)
    out["shortcut_mcc_drops"] = bool(c["mcc_interval"][1] < 0)
    if "p_value_hires" in c:
      out["shortcut_coverage_falls_hires"] = bool(c["median_difference_hires"] < 0 and c["p_value_hires"] < alpha)
  if "full_vs_shortcut" in out:
    c = out["full_vs_shortcut"]
    out["masked_beats_confounded_coverage"] = bool(c["median_difference"] > 0 and c["p_value"] < alpha)
    if "p_value_hires" in c:
      out["masked_beats_confounded_coverage_hires"] = bool(c["median_difference_hires"] > 0
                                                           and c["p_value_hires"] < alpha)
  return out


def sweep_figure(path, run) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  t = [r["threshold"] for r in run["sweep"]]
  fig, ax = plt.subplots(figsize=(6, 4))
  for k in SWEEP_COLUMNS:
    ax.plot(t, [r[k] for r in run["sweep"]], marker="o", ms=3, label=k)
  ax.plot(list(claims.TABLE2), [v[4] for v in claims.TABLE2.values()], "k--", lw=1, label="paper MCC (claim)")
  lo, hi, _ = run["plateau"]
  ax.axvspan(lo - 0.02, hi + 0.02, color="gray", alpha=0.2, label="MCC plateau (test)")
  ax.axvline(run["threshold_val"], color="red", lw=1, ls=":", label="validation-chosen threshold")
  ax.set_xlabel("threshold on p(COVID)")
  ax.set_ylim(0, 1.02)
  ax.legend(fontsize=7, loc="lower center", ncol=3)
  ax.grid(alpha=0.3)
  ax.set_title("Threshold sweep, full model (test split)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def curve_figure(path, runs, baseline, kind: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from vision_jax.projects.covid_cxr import evaluation
  fig, ax = plt.subplots(figsize=(4.6, 4.2))
  series = [(name, r["test_labels"], r["test_probs"]) for name, r in runs.items() if name in ("full", "shortcut")]
  if baseline:
    series.append(("texture logistic", runs["full"]["test_labels"], baseline["test_probs"]))
  for name, y, p in series:
    c = evaluation.curves(np.asarray(y), np.asarray(p))
    if kind == "roc":
      ax.plot(c["fpr"], c["tpr"], label=name)
    else:
      ax.step(c["recall"], c["precision"], where="post", label=f"{name} (AP {c['average_precision']:.2f})")
  if kind == "roc":
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
  else:
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
  ax.set_title(f"{'ROC' if kind == 'roc' else 'Precision-recall'} (test split)")
  ax.legend(fontsize=7)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def coverage_figure(path, runs, within, mixed, layer: str = "") -> None:
  """Histograms of the test-set lung coverage: one panel per Grad-CAM layer (last, and `layer` if given)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  panels = [("", "last feature map (the paper's)")] + ([("_hires", layer)] if layer else [])
  fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
  bins = np.linspace(0, 100, 26)
  for ax, (suffix, title) in zip(axes[0], panels):
    for name, key, style in (("full", "coverage_true", "-"), ("full", "coverage_otsu", "--"),
                             ("shortcut", "coverage_true", "-"), ("no_isolation", "coverage_true", ":")):
      if name in runs and key + suffix in runs[name]:
        ax.hist(runs[name][key + suffix], bins=bins, histtype="step", ls=style, lw=1.5,
                label=f"{name}, {'true' if key.endswith('true') else 'Otsu'} mask")
    if "lung_area_true" in runs.get("full", {}):
      ax.axvline(_median(runs["full"]["lung_area_true"]), color="gray", lw=1, ls="--", label="uniform map (lung area)")
    ax.axvline(within, color="green", lw=1)
    ax.axvline(mixed, color="orange", lw=1)
    for x, label in ((50.7, "paper Normal-7067"), (61.1, "paper COVID-3111")):
      ax.axvline(x, color="k", lw=0.8, ls=":")
      ax.text(x, ax.get_ylim()[1] * 0.9, label, rotation=90, fontsize=6, ha="right")
    ax.set_xlabel("Grad-CAM energy inside the lungs (%)")
    ax.set_ylabel("test images")
    ax.legend(fontsize=7)
    ax.set_title(f"Lung coverage, Grad-CAM on {title}", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _metric_rows(run, baseline_rows):
  rows = []
  for label, m, ci in (("ours, threshold 0.5", run["at_default"], "at_default"),
                       (f"ours, validation-chosen threshold {run['threshold_val']:.2f}", run["at_val"], "at_val")):
    rows.append([label, m["accuracy"], m["precision"], m["recall"], m["f1"], f"{m['mcc']:.3f} {_ci(run, ci + '_mcc')}",
                 f"{m['auc']:.3f} {_ci(run, 'auc')}", f"{m['tn']}/{m['fp']}/{m['fn']}/{m['tp']}"])
  best = max(run["sweep"], key=lambda r: (r["mcc"], -abs(r["threshold"] - 0.5)))
  rows.append([f"ours, threshold {best['threshold']:.2f} chosen on the TEST sweep (the paper's way; optimistic)",
               best["accuracy"], best["precision"], best["recall"], best["f1"], f"{best['mcc']:.3f}", f"{best['auc']:.3f}",
               f"{best['tn']}/{best['fp']}/{best['fn']}/{best['tp']}"])
  rows += baseline_rows
  p = claims.AT_05
  rows.append(["paper, threshold 0.5 (claim, other dataset)", p["accuracy"], p["precision"], p["recall"], p["f1"],
               f"{p['mcc']:.2f}", f"{p['auc']:.3f}", "2572/61/88/454"])
  q = claims.AT_04
  rows.append(["paper, threshold 0.4 (claim, other dataset)", q["accuracy"], q["precision"], q["recall"], q["f1"],
               f"{q['mcc']:.2f}", "", "2537/96/59/483"])
  return rows


def _coverage_rows(runs, within, mixed, layer: str):
  rows = []
  keys = [("coverage_true", "true", "last (paper)"), ("coverage_otsu", "Otsu", "last (paper)")]
  if layer:
    keys += [("coverage_true_hires", "true", layer), ("coverage_otsu_hires", "Otsu", layer)]
  for name, r in runs.items():
    for key, mask, where in keys:
      if key in r:
        s = xai.coverage_summary(r[key], within, mixed)
        rows.append([name, where, mask, s["mean"], s["median"], f"{s['q1']:.1f}-{s['q3']:.1f}", s["share_within"],
                     s["share_mixed"], s["share_outside"]])
  full = runs["full"]
  for key, mask in (("lung_area_true", "true"), ("lung_area_otsu", "Otsu")):
    if key in full:
      s = xai.coverage_summary(full[key], within, mixed)
      rows.append(["uniform map (reference: the mask's area)", "", mask, s["mean"], s["median"],
                   f"{s['q1']:.1f}-{s['q3']:.1f}", s["share_within"], s["share_mixed"], s["share_outside"]])
  return rows


def _box_area(runs) -> float:
  for r in runs.values():
    if r.get("marked_test"):
      return float(r["marked_test"].get("marker_box_area", float("nan")))
  return float("nan")


def _ablation_rows(runs):
  rows = []
  for name, r in runs.items():
    a = ablations_lib.get_ablation(name)
    ctrl = runs.get(a.control)
    d_mcc = r["at_default"]["mcc"] - ctrl["at_default"]["mcc"] if ctrl and name != a.control else ""
    hires = _median(r["coverage_true_hires"]) if "coverage_true_hires" in r else ""
    m = r.get("marked_test")
    corner = ""
    if m:
      corner = f"{m['marker_energy']:.1f}" + (f" / {m['marker_energy_hires']:.1f}" if "marker_energy_hires" in m else "")
    rows.append([name, a.label, ",".join(r["channels"]), r["at_default"]["accuracy"],
                 f"{r['at_default']['mcc']:.3f} {_ci(r, 'at_default_mcc')}", r["at_default"]["auc"], r["at_val"]["mcc"],
                 _median(r["coverage_true"]), _median(r["coverage_otsu"]), hires, a.control if name != a.control else "",
                 d_mcc, m["at_default"]["mcc"] if m else "", corner, r["info"].get("selected_step", r["step"])])
  return rows


def coverage_csv(path: str, run: dict) -> None:
  """Per test image of one run: pool index, source class, label, p(COVID), coverage vs the true and the Otsu
  mask, the Otsu mask's Dice with the true mask, the lung area (percent)."""
  n = len(run["test_labels"])
  index = run.get("test_index", list(range(n)))
  source = run.get("test_source_class", [""] * n)
  rows = [[index[i], source[i], run["test_labels"][i], run["test_probs"][i], run["coverage_true"][i],
           run["coverage_otsu"][i], run["otsu_dice"][i], run["lung_area_true"][i] if "lung_area_true" in run else ""]
          for i in range(n)]
  report_lib.write_csv(path, ["pool_index", "source_class", "label", "p_covid", "coverage_true_pct", "coverage_otsu_pct",
                              "otsu_dice", "lung_area_pct"], rows)


def write(config, workdir: str, runs: dict, explained: dict | None, baselines: dict | None = None,
          timing: dict | None = None) -> dict:
  """Writes results.md / .json / .csv and the figures; returns the results dict."""
  full = runs["full"]
  within, mixed = float(config.explain.rule_within), float(config.explain.rule_mixed)
  cons = claims.paper_consistency()
  found = findings(runs, int(config.eval.bootstrap), int(config.seed))
  verdict = claims.verdict(cons, found)
  sweep_figure(os.path.join(workdir, "sweep.png"), full)
  tex = (baselines or {}).get("texture_logistic")
  curve_figure(os.path.join(workdir, "roc.png"), runs, tex, "roc")
  curve_figure(os.path.join(workdir, "pr.png"), runs, tex, "pr")
  coverage_figure(os.path.join(workdir, "coverage.png"), runs, within, mixed,
                  str(config.explain.get("hires_layer", "") or ""))
  base_rows = []
  for label, key in (("majority class (baseline)", "majority"), ("texture logistic regression (baseline)", "texture_logistic")):
    if baselines and key in baselines:
      m = baselines[key]["at_default"]
      base_rows.append([label, m["accuracy"], m["precision"], m["recall"], m["f1"], f"{m['mcc']:.3f}",
                        f"{m['auc']:.3f}" if np.isfinite(m["auc"]) else "", f"{m['tn']}/{m['fp']}/{m['fn']}/{m['tp']}"])
  paper_mcc = claims.TABLE2
  lo, hi, best = full["plateau"]
  sweep_rows = [[f"{r['threshold']:.2f}" + (" *" if lo <= r["threshold"] <= hi else "")] + [r[k] for k in SWEEP_COLUMNS]
                + [f"{r['tn']}/{r['fp']}/{r['fn']}/{r['tp']}",
                   paper_mcc.get(round(r["threshold"], 2), ("",) * 5)[4]] for r in full["sweep"]]
  dice = np.asarray(full["otsu_dice"])
  layer = str(config.explain.get("hires_layer", "") or "")
  info = full["info"]
  src = str(config.data.source)
  md = [f"# covid_cxr: four-channel Xception with focal loss on `{src}`", "",
        f"**Dataset: {'synthetic chest phantoms (vision_jax.data.chest_xray)' if src.startswith('covid_phantoms') else src} "
        f"- a different dataset from the paper's {claims.DATASET}; {NO_WEIGHTS}.** "
        f"Xception ({config.model.name}, width x{config.model.kwargs.get('width_multiplier', 1)}, "
        f"{config.model.kwargs.get('middle_blocks', 8)} middle blocks, {info['parameters']:,} parameters, one logit), "
        f"{config.data.image_size} px, sigmoid focal loss alpha {config.loss.focal_alpha} gamma {config.loss.focal_gamma}, "
        f"AdamW lr {config.optim.lr} wd {config.optim.weight_decay}, warm-up cosine, clip {config.optim.grad_clip}, "
        f"batch {config.data.batch_size}, positives over-sampled in training, early stopping on validation MCC "
        f"(patience {config.train.patience} evaluations every {config.train.eval_every} steps).", "",
        f"Splits (stratified 70/15/15): train {info['train_images']} ({info['train_positives']} COVID), "
        f"validation {full['val_size']} ({full['val_positives']}), test {full['test_size']} ({full['test_positives']}). "
        f"Full model: {info['steps_run']} steps run, selected step {info.get('selected_step', full['step'])}, "
        f"{info['train_seconds']:.0f} s of training. Intervals: stratified bootstrap 95 % ({config.eval.bootstrap} resamples).",
        "", "## Test metrics (the paper's claims beside ours, labelled; a different dataset)", "",
        report_lib.markdown_table(["", "accuracy", "precision", "recall", "F1", "MCC [95% CI]", "AUC [95% CI]",
                                   "TN/FP/FN/TP"], _metric_rows(full, base_rows), 3), "",
        f"## Table 2 analogue: threshold sweep (test split; * = MCC plateau {lo:.2f}-{hi:.2f}, within "
        f"{0.01:.2f} of the best MCC {best:.3f}; validation plateau {full['val_plateau'][0]:.2f}-{full['val_plateau'][1]:.2f})", "",
        report_lib.markdown_table(["threshold", *SWEEP_COLUMNS, "TN/FP/FN/TP", "paper MCC (claim)"], sweep_rows, 3), "",
        f"Recall non-increasing: {full['monotone']['recall_non_increasing']}; precision non-decreasing: "
        f"{full['monotone']['precision_non_decreasing']}. Figures: sweep.png, roc.png, pr.png.", "",
        "## Grad-CAM lung coverage over the test set (the paper reports two examples: 50.7 % and 61.1 %)", "",
        f"Coverage = 100 x (CAM energy inside the lung mask) / (CAM energy), Grad-CAM of the "
        f"{config.explain.cam_target} class on the last convolution (the paper's; "
        f"{'4 x 4' if int(config.data.image_size) == 128 else 'h x w'} cells here)"
        + (f" and on the output of {layer} (4x finer)" if layer else "") + f", threshold {config.eval.threshold}. The paper's mask "
        f"is the Otsu `safe_lung_mask`; its Dice with the true lung mask on the test split: mean {dice.mean():.3f}, "
        f"median {np.median(dice):.3f}, min {dice.min():.3f}; all-ones fallbacks: {full['otsu_fallbacks']} of "
        f"{full['test_size']}. A uniform map scores the mask's area fraction. Figure: coverage.png; per image: coverage.csv.", "",
        report_lib.markdown_table(["run", "Grad-CAM layer", "mask", "mean %", "median %", "IQR %", f">= {within:g} %",
                                   f"{mixed:g}-{within:g} %", f"< {mixed:g} %"], _coverage_rows(runs, within, mixed, layer),
                                  2), ""]
  if explained:
    md += ["## Randomization sanity check (Grad-CAM, cascading, full model)", "",
           report_lib.markdown_table(["last parameter group randomized", "mean Spearman rho"], explained["sanity"], 3)
           if explained["sanity"] else "(not run: explain.sanity=False)", "",
           "## Rule-based explanations (explain/explanations.md; overlays in explain/overlays.png)", "",
           rules.rule_table_markdown(within, mixed), "", "```",
           *"\n".join(f"[{e['outcome']}] {e['text']}" for e in explained["examples"]).splitlines(), "```", ""]
  md += ["## Ablations the paper never ran (same test split; control = the run that differs only in the change)", "",
         report_lib.markdown_table(["run", "change", "channels", "acc@0.5", "MCC@0.5 [95% CI]", "AUC", "MCC@val thr",
                                    "coverage true, last (median %)", "coverage Otsu, last (median %)",
                                    f"coverage true, {layer or '-'} (median %)", "control", "dMCC vs control",
                                    "MCC on marked test", f"marker-corner CAM energy, marked images (last / {layer or '-'}, %)",
                                    "selected step"], _ablation_rows(runs), 3), "",
         "Marked test: the same test images with the corner marker painted at the training rates (the confounded "
         "view); marker-corner energy: the mean share of Grad-CAM energy in the marker's corner box on the marked "
         f"images (the box covers {_box_area(runs):.1f} % of the image, what a uniform map scores).", ""]
  for key, text in (("shortcut_vs_no_isolation", "shortcut (marker in train/val, no isolation) vs no_isolation"),
                    ("shortcut_isolated_vs_full", "shortcut_isolated (marker, with isolation) vs full"),
                    ("full_vs_shortcut", "full (masked input) vs shortcut (confounded set)")):
    if key in found:
      c = found[key]
      extra = (f"; on {layer}: {c['median_difference_hires']:+.1f} points (p = {c['p_value_hires']:.3g})"
               if "p_value_hires" in c else "")
      md.append(f"- {text}: clean-test MCC difference {c['mcc_difference']:+.3f} (paired bootstrap 95 % "
                f"[{c['mcc_interval'][0]:+.3f}, {c['mcc_interval'][1]:+.3f}]); lung coverage (true mask) median "
                f"paired difference on the last feature map {c['median_difference']:+.1f} points (Wilcoxon p = "
                f"{c['p_value']:.3g}){extra}.")
  if "shortcut_coverage_falls" in found:
    s = runs["shortcut"]
    md += ["", f"Shortcut experiment (marker rates p(marker | COVID), p(marker | other) = "
           f"{config.data.options.marker_rates} on train/val; clean test): coverage falls (last feature map): "
           f"{found['shortcut_coverage_falls']}"
           + (f", on {layer}: {found['shortcut_coverage_falls_hires']}" if "shortcut_coverage_falls_hires" in found else "")
           + f"; clean-test MCC drops: {found['shortcut_mcc_drops']}; the same model "
           f"on the marked test set: MCC {s['marked_test']['at_default']['mcc']:.3f} "
           f"({s['marked_test']['markers']} marked images), Grad-CAM energy in the marker corner "
           f"{s['marked_test']['marker_energy']:.1f} % (last) / {s['marked_test'].get('marker_energy_hires', float('nan')):.1f} % "
           f"({layer}) on the marked images vs {s['marked_test']['marker_energy_clean']:.1f} / "
           f"{s['marked_test'].get('marker_energy_clean_hires', float('nan')):.1f} % on the same images without it."]
  md.append("")
  md += ["## The paper's own numbers (checks they pass)", "",
         report_lib.markdown_table(["check", "reported", "recomputed", "consistent"],
                                   [[r["check"], r["reported"], r["recomputed"], r["consistent"]] for r in cons["confusion"]], 4), "",
         f"Table 2: {len(cons['table2']) - len(cons['table2_inconsistent_thresholds'])} of {len(cons['table2'])} rows "
         "have accuracy, F1 and MCC reachable from their own precision and recall on 542 / 2633 within rounding"
         + (f" (not: {cons['table2_inconsistent_thresholds']})" if cons["table2_inconsistent_thresholds"] else "")
         + f". Its MCC .83 spans thresholds {cons['plateau'][0]:.2f}-{cons['plateau'][1]:.2f} (stated plateau "
         f"{claims.STATED_PLATEAU[0]:.2f}-{claims.STATED_PLATEAU[1]:.2f}); recall non-increasing "
         f"{cons['monotone']['recall_non_increasing']}, precision non-decreasing {cons['monotone']['precision_non_decreasing']} "
         "(0.90 -> 0.95: 1.00 -> 0.99, possible when TP falls).", "",
         f"**{verdict}**", ""]
  if timing:
    md += ["## Run", "", f"Wall time of the study (every model, baselines, explanations): {timing['wall_seconds']:.0f} s on "
           f"{timing['cpu_count']} CPU cores, load average {timing['load_average_start']:.1f} at the start and "
           f"{timing['load_average_end']:.1f} at the end (the machine is shared); models: {', '.join(timing['models'])}.", ""]
  text = "\n".join(md)
  report_lib.write_text_atomic(os.path.join(workdir, "results.md"), text)
  header = ["run", "change", "channels", "accuracy", "mcc", "auc", "mcc_val_threshold", "coverage_true_median",
            "coverage_otsu_median", "coverage_true_hires_median", "control", "d_mcc", "marked_mcc",
            "marker_corner_energy_last_hires", "selected_step"]
  report_lib.write_csv(os.path.join(workdir, "results.csv"), header,
                       [r[:4] + [r[4].split()[0]] + r[5:] for r in _ablation_rows(runs)])
  coverage_csv(os.path.join(workdir, "coverage.csv"), full)
  result = {"project": "covid_cxr", "source": claims.SOURCE, "data": src, "verdict": verdict, "findings": found,
            "paper_consistency": cons, "baselines": {k: {"at_default": v["at_default"]} for k, v in (baselines or {}).items()},
            "runs": {k: {kk: vv for kk, vv in v.items() if kk not in ("curves", "test_probs", "test_labels")}
                     for k, v in runs.items()}, "explain": explained, "timing": timing}
  report_lib.write_json(os.path.join(workdir, "results.json"), result)
  print(text)
  print(f"wrote {workdir}/results.md, results.json, results.csv, coverage.csv, sweep.png, roc.png, pr.png, coverage.png")
  return result
