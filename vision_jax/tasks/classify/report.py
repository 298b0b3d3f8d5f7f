"""Result files of a classification evaluation: {prefix}results.md/json/csv, per_class.csv,
confusion_matrix.png, mistakes.png (the most confident mistakes) and predictions.npz (load with
allow_pickle=False); training_curves.png (loss / accuracy from metrics.jsonl) is written by train."""

from __future__ import annotations

import os

import numpy as np

from vision_jax import report as report_lib
from vision_jax.metrics.evaluation import compute_metrics, softmax
from vision_jax.tasks.classify.common import Setup, parse_floats

def confusion_png(path: str, matrix: np.ndarray, class_names, title: str) -> None:
  """Confusion matrix heatmap (rows true, columns predicted) with counts, as a PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  k = matrix.shape[0]
  side = min(1.5 + 0.55 * k, 14)
  fig, ax = plt.subplots(figsize=(side + 1, side))
  im = ax.imshow(matrix, cmap="Blues")
  fig.colorbar(im, ax=ax, fraction=0.046)
  ax.set_xticks(range(k), [str(c) for c in class_names], rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
  ax.set_yticks(range(k), [str(c) for c in class_names])
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  ax.set_title(title, fontsize=10)
  if k <= 30:
    hi = matrix.max() if matrix.size else 0
    for i in range(k):
      for j in range(k):
        ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                color="white" if matrix[i, j] > hi / 2 else "black")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write_results(workdir: str, prefix: str, config, s: Setup, data, logits: np.ndarray, step: int,
                  split: str, info: dict | None = None) -> dict:
  """Computes the metrics of `logits` on `data` and writes {prefix}results.md/json/csv,
  {prefix}per_class.csv, {prefix}confusion_matrix.png and {prefix}predictions.npz."""
  probs = softmax(logits)
  thresholds = parse_floats(config.eval.get("thresholds", ""), "eval.thresholds")
  m = compute_metrics(data.labels, probs, thresholds)
  summary, per = m["summary"], m["per_class"]
  counts = np.bincount(data.labels, minlength=s.num_classes)
  majority = float(counts.max() / max(counts.sum(), 1))
  name = str(config.model.name)
  np.savez(os.path.join(workdir, f"{prefix}predictions.npz"), labels=data.labels.astype(np.int32),
           predictions=probs.argmax(-1).astype(np.int32), probabilities=probs.astype(np.float32),
           logits=logits.astype(np.float32), class_names=np.asarray(s.class_names, dtype=str))
  class_rows = [[s.class_names[c], per["precision"][c], per["recall"][c], per["f1"][c], int(per["support"][c]),
                 per["roc_auc"][c]] for c in range(s.num_classes)]
  class_header = ["class", "precision", "recall", "f1", "support", "roc_auc"]
  md = [f"# Classification: {name} on `{config.data.source}` ({split} split)", "",
        f"Checkpoint step {step}; {len(data)} {split} images never used in training; "
        f"{s.num_classes} classes; majority-class baseline accuracy {majority:.3f}, "
        f"uniform chance {1 / s.num_classes:.3f}.", "",
        report_lib.markdown_table(["metric", "value"], [[k, v] for k, v in summary.items()], digits=4), "",
        "## Per class", "", report_lib.markdown_table(class_header, class_rows, digits=3), "",
        "## Confusion matrix (rows: true, columns: predicted)", "",
        report_lib.markdown_table(["true \\ pred"] + list(s.class_names),
                              [[s.class_names[i]] + [int(v) for v in row] for i, row in enumerate(m["confusion_matrix"])]),
        ""]
  if m["threshold_sweep"]:
    md += [f"## Threshold sweep on p({s.class_names[1]})", "",
           report_lib.markdown_table(["threshold", "tpr", "fpr", "precision", "f1"],
                                 [list(r.values()) for r in m["threshold_sweep"]], digits=3), ""]
  n_wrong = int(np.sum(probs.argmax(-1) != data.labels))
  md += ["## Figures", "", f"- {prefix}confusion_matrix.png",
         f"- {prefix}mistakes.png: the {min(16, n_wrong)} most confident of the {n_wrong} mistakes" if n_wrong
         else "- no mistakes on this split (no mistakes.png)",
         "- training_curves.png: training loss / accuracy (and validation metrics when train.eval_every > 0) "
         "from metrics.jsonl, written by train", ""]
  if info:
    md += ["## Run", ""] + [f"- {k}: {report_lib.format_value(v, 4)}" for k, v in info.items()] + [""]
  text = "\n".join(md)
  report_lib.write_text_atomic(os.path.join(workdir, f"{prefix}results.md"), text)
  report_lib.write_csv(os.path.join(workdir, f"{prefix}results.csv"), ["metric", "value"],
                   [[k, v] for k, v in summary.items()])
  report_lib.write_csv(os.path.join(workdir, f"{prefix}per_class.csv"), class_header, class_rows)
  result = {"task": "classify", "model": name, "data": str(config.data.source), "split": split, "step": step,
            "num_examples": len(data), "num_classes": s.num_classes, "class_names": list(s.class_names),
            "majority_baseline_accuracy": majority, "metrics": summary,
            "per_class": [dict(zip(class_header, row)) for row in class_rows],
            "confusion_matrix": m["confusion_matrix"], "threshold_sweep": m["threshold_sweep"], "info": info or {}}
  shown = report_lib.mistakes_grid(os.path.join(workdir, f"{prefix}mistakes.png"), data.images, data.labels, probs,
                                   s.class_names, title=f"{name}: most confident mistakes on the {split} split")
  result["mistakes_shown"] = shown
  report_lib.write_json(os.path.join(workdir, f"{prefix}results.json"), result)
  confusion_png(os.path.join(workdir, f"{prefix}confusion_matrix.png"), m["confusion_matrix"], s.class_names,
                f"{name} on {config.data.source} ({split}): accuracy {summary['accuracy']:.3f}")
  print(text)
  print(f"wrote {workdir}/{prefix}results.md, .json, .csv, {prefix}per_class.csv, {prefix}confusion_matrix.png, "
        f"{prefix}predictions.npz" + (f", {prefix}mistakes.png ({shown} most confident mistakes)" if shown else ""))
  return result
