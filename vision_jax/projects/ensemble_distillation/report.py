"""results.md / results.json / per_fold.csv of the EKD project."""

from __future__ import annotations

import math
import os

from vision_jax import report as report_lib
from vision_jax.projects.ensemble_distillation import claims, methods

LABELS = {"accuracy": "Accuracy", "auc": "AUC", "f1": "F1 (weighted)", "kappa": "Kappa", "epochs": "Epochs",
          "train_seconds": "Train time [s]", "inference_seconds": "Inference time [s]"}
M = methods.METHODS


def _pm(mean, std, digits=3) -> str:
  return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def write(config, workdir: str, r: dict) -> dict:
  means, stds, st = r["means"], r["stds"], r["stats"]
  k = len(r["per_fold"])
  lines = [f"# Ensemble knowledge distillation: {claims.SOURCE}", "",
           f"Claim (quoted): {claims.CLAIM}", "",
           f"Data: `{config.data.scheme}:{config.data.name}`, {r['num_images']} images at {r['image_hw'][0]} x "
           f"{r['image_hw'][1]}, {100 * r['pneumonia_fraction']:.1f}% pneumonia (paper: 5,856 Kermany images at 200 x "
           f"200, 72.96%). Protocol: {k}-fold stratified CV (paper: 10); the same folds for every method; "
           f"{100 * float(config.cv.val_fraction):.0f}% of each fold's training part is the validation set of every "
           "method (early stopping on validation AUC, snapshot choice); the test fold takes part in no choice (the "
           "paper does not state its validation split).",
           f"Student: Adam lr {config.student.lr}, <= {config.student.epochs} epochs, patience {config.student.patience}, "
           f"L2 {config.student.l2} on the dense kernel. SGDRE: plain SGD, lr {config.sgdre.lr} decayed linearly to 0 over "
           f"{config.sgdre.init_epochs} epochs, then restarts {config.sgdre.restarts} from that state "
           f"(({config.sgdre.total_epochs} - {config.sgdre.init_epochs}) / #restarts epochs each, patience "
           f"{config.sgdre.patience}; sine decay assumed lr0 (1 - sin(pi t / 2T))), top {config.sgdre.snapshots} "
           f"snapshots by validation AUC, mean probability. KD / EKD: alpha {config.kd.alpha}, T {config.kd.temperature}, "
           f"Adam lr {config.kd.lr}, <= {config.kd.epochs} epochs; soft targets precomputed from the frozen teachers "
           "(carried in the loop's extra state). Times are this CPU's seconds (KD / EKD train time includes the soft "
           "targets, not the teachers' training).", ""]
  lines += [claims.verdict(means, st, k), ""]
  header = ["metric", *[f"{m} (ours)" for m in M], *[f"{m} (paper)" for m in M]]
  rows = []
  for metric in (*("accuracy", "auc", "f1", "kappa"), "epochs", "train_seconds", "inference_seconds"):
    digits = 3 if metric in ("accuracy", "auc", "f1", "kappa") else 2
    paper = claims.PAPER_TABLE2[metric]
    rows.append([LABELS[metric], *[_pm(means[metric][m], stds[metric][m], digits) for m in M],
                 *[_pm(*paper[m], 2) for m in M]])
  lines += [f"## Table 2 analogue: mean ± std over {k} folds", "", report_lib.markdown_table(header, rows), ""]
  c = r["cost"]
  cost_rows = []
  for label, row in c.items():
    cost_rows.append([label, f"{3 * row['teacher']['params']:,}", f"{row['student']['params']:,}",
                      f"{row['params_ratio']:.3f}x", f"{3 * row['teacher']['flops']:,.0f}", f"{row['student']['flops']:,.0f}",
                      f"{row['flops_ratio']:.2f}x"])
  p = claims.PAPER_COST
  cost_rows.append(["paper (quoted)", f"{p['teacher_ensemble_params']:,}", f"{p['student_params']:,}",
                    f"{p['params_ratio']}x", f"{p['teacher_ensemble_flops']:,}", f"{p['student_flops']:,}",
                    f"{p['flops_ratio']}x"])
  lines += ["## Cost (3 teacher snapshots vs the student; FLOPs from XLA's cost analysis)", "",
            report_lib.markdown_table(["input", "SGDRE params", "student params", "ratio", "SGDRE FLOPs",
                                       "student FLOPs", "ratio"], cost_rows),
            "", "The paper's 4.31x is 20,386,182 / 4,737,698 = 4.303 (a rounding slip); its FLOPs ratio is 6.50.", ""]
  rank_rows = []
  for metric, e in st.items():
    pr = claims.PAPER_RANKS.get(metric)
    rank_rows.append([LABELS[metric], f"{e['friedman']['p']:.4f}", *[f"{v:.2f}" for v in e["friedman"]["average_ranks"]],
                      " / ".join(f"{v:.2f}" for v in pr) if pr else "-"])
  lines += ["## Friedman test and average ranks (1 = best; for times and epochs lower is better)", "",
            report_lib.markdown_table(["metric", "Friedman p", *M, "paper ranks (S / SGDRE / KD / EKD)"], rank_rows), ""]
  w_rows = []
  for metric, e in st.items():
    paper = claims.PAPER_WILCOXON.get(metric)
    w_rows.append([LABELS[metric], *[f"{w['p_holm']:.3f}" for w in e["wilcoxon"]],
                   " / ".join(f"{v:.3f}" for v in paper) if paper else "-"])
  lines += ["## Wilcoxon signed-rank, Holm-Bonferroni adjusted p (scipy / statsmodels)", "",
            report_lib.markdown_table(["metric", *[f"{a} vs {b}" for a, b in claims.PAIRS], "paper"], w_rows), ""]
  sw_rows = [[LABELS[metric], *[f"{e['shapiro'][m]['p']:.3f}" for m in M]] for metric, e in st.items()]
  lines += ["## Shapiro-Wilk normality p per method (small p: not normal, hence the rank tests)", "",
            report_lib.markdown_table(["metric", *M], sw_rows), ""]
  header = ["fold", "split fit/val/test", *[f"{m} acc" for m in M], *[f"{m} kappa" for m in M], "SGDRE snapshots"]
  fold_rows, csv_rows = [], []
  for i, f in enumerate(r["per_fold"]):
    s = f["_split"]
    fold_rows.append([i, f"{s['fit']}/{s['val']}/{s['test']}", *[f[m]["accuracy"] for m in M], *[f[m]["kappa"] for m in M],
                      ", ".join(f["SGDRE"]["snapshots"])])
    for m in M:
      csv_rows.append([i, m, *[f[m][key] for key in (*("accuracy", "f1", "auc", "kappa"), "epochs", "train_seconds",
                                                      "inference_seconds")]])
  lines += ["## Per fold", "", report_lib.markdown_table(header, fold_rows, digits=3), "",
            "## Command", "", "    " + str(config.report.command), ""]
  text = "\n".join(lines)
  report_lib.write_text_atomic(os.path.join(workdir, "results.md"), text)
  report_lib.write_csv(os.path.join(workdir, "per_fold.csv"),
                       ["fold", "method", "accuracy", "f1", "auc", "kappa", "epochs", "train_seconds", "inference_seconds"],
                       csv_rows)
  out = {"source": claims.SOURCE, "verdict": claims.verdict(means, st, k), **r}
  report_lib.write_json(os.path.join(workdir, "results.json"), out)
  print(text)
  print(f"wrote {workdir}/results.md, results.json, per_fold.csv")
  return out
