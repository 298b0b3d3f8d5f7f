"""results.md of causal_localization, rendered from the results dict (so --mode=report needs no model)."""

from __future__ import annotations

import numpy as np

from vision_jax import report as report_lib
from vision_jax.explain.evaluation import QUALITY_NOTES
from vision_jax.explain import markdown_table as dict_table
from vision_jax.projects.causal_localization import claims

LOC_KEYS = ("accuracy", "mean_iou", "box_accuracy", "localization_accuracy")


def _mean_sd(values) -> str:
  v = np.asarray(values, np.float64)
  return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if v.size > 1 else f"{v.mean():.3f}"


def explain_markdown(xai: dict) -> str:
  lines = [f"## Explanation quality ({xai['num_examples']} held-out test images, maps of the predicted class, "
           "ground-truth box as the region)", "", dict_table(xai["rows"], floatfmt=".3f"), *QUALITY_NOTES, "",
           "### Global surrogate: a decision tree fitted to the network's predictions on the training split", "",
           dict_table(xai["surrogates"], floatfmt=".3f"),
           "fidelity: agreement with the network on the test split; tree_accuracy / network_accuracy against the labels.",
           "", "Figures: explanations.png (maps with the ground-truth box), activation_maximization.png (inputs "
           "maximising each class logit: gradient ascent with L2, TV, blur and jitter).", ""]
  return "\n".join(lines)


def render(r: dict) -> tuple[str, dict]:
  """(markdown, {csv name: (header, rows)})."""
  m, base, ca = r["metrics"], r["baselines"], r["causal"]
  loc_rows = [[f"box head (ours), {split}", *[m[split][k] for k in LOC_KEYS]] for split in ("val", "test")]
  loc_rows += [[f"{name}, test", *[v[k] for k in LOC_KEYS]] for name, v in base.items()]
  loc_header = ["method", *LOC_KEYS]
  fr = ca["fractions"]
  pairs = ca["k"] * (ca["k"] - 1)
  causal_rows = [["samples ordered by class (the paper's protocol)", _mean_sd(fr["class_order"]), ca["df"][1]],
                 ["samples ordered by class, the paper's eq. 11 degrees of freedom", _mean_sd(fr["class_order_paper_dof"]),
                  ca["df"][1] - ca["q"]],
                 ["samples shuffled (control)", _mean_sd(fr["shuffled"]), ca["df"][1]]]
  abl_header = ["components", "count", "C", "val_accuracy", "test_accuracy"]
  abl_rows = [[a.get(k) for k in abl_header] for a in r["ablation"]]
  evr = np.asarray(ca["explained_variance_ratio"])
  lines = [
      "# causal_localization (seed 000): classification + a box head, and the Granger analysis with its control", "",
      f"Data `{r['data']}`: {r['sizes']['train']} train / {r['sizes']['val']} validation / {r['sizes']['test']} "
      f"test canvases (distinct digit instances per split). Network: bottleneck ResNet [2, 2, 2], "
      f"{r['parameters']:,} parameters, trained from scratch (no ImageNet weights) for {r['step']} steps "
      f"({r['train_seconds']:.0f} s), LAMB (b1 0.9, b2 0.98) with a one-cycle cosine schedule.", "",
      "## Verdicts", "",
      f"- **Accuracy.** {r['verdicts']['accuracy']}",
      f"- **Localization.** {r['verdicts']['localization']}",
      f"- **Causal network.** {r['verdicts']['causal']}", "",
      "## Localization (one box per image, the same test images for every row)", "",
      report_lib.markdown_table(loc_header, loc_rows, 3), "",
      "accuracy: label; mean_iou: IoU with the ground-truth box; box_accuracy: IoU >= 0.5; localization_accuracy: "
      "label correct and IoU >= 0.5 (ILSVRC). The paper reports only a 'validation accuracy' "
      f"({claims.PAPER_VAL_ACCURACY:.1%} on ImageNet classes, quoted, not measured here).",
      "CAM-box thresholds on the validation split (mean IoU): "
      + ", ".join(f"{float(t):g}: {v:.3f}" for t, v in r["cam_threshold_table"].items()) + ".", "",
      "## Granger 'causal network' between PCA components of the pooled features", "",
      f"PCA (centred, eigh) of the {r['sizes']['train']} training feature vectors, k = {ca['k']} components "
      f"({evr.sum():.1%} of the variance); n = {ca['n']} validation rows per draw, {ca['draws']} draws; F-tests with "
      f"p = q = {ca['p']} lags, alpha = {ca['alpha']:g}, F({ca['df'][0]}, {ca['df'][1]}); {pairs} ordered pairs per graph.", "",
      report_lib.markdown_table(["sample order", "fraction of pairs significant (mean ± sd over draws)", "df_den"],
                                causal_rows), "",
      "Figures: granger_graphs.png (the first draw's graphs), pca_series.png (PC1, PC2 against the sample index).", "",
      "## Ablation (ours): a linear head on the Granger-significant components vs all of them", "",
      "Logistic regression on standardised PCA scores of the training features (C chosen on validation accuracy), "
      "components taken from the first draw's graph.", "",
      report_lib.markdown_table(abl_header, abl_rows, 3), "",
      explain_markdown(r["explain"]),
      "## The paper's other numbers (quoted from its references [3][7], not its own runs; not measured here)", "",
      report_lib.markdown_table(["dataset, model", "accuracy"], [[k, v] for k, v in claims.CITED_NOT_MEASURED.items()], 3),
      "",
  ]
  tables = {"localization": (loc_header, loc_rows), "granger": (["sample order", "fraction", "df_den"], causal_rows),
            "ablation": (abl_header, abl_rows)}
  return "\n".join(lines), tables


def save_examples(path: str, images, maps: dict, captions, gt_boxes, pred_boxes=None) -> None:
  """Images with the ground-truth box (green) and the predicted box (red), then one overlay row per map."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from vision_jax.explain import overlay_image
  n = len(images)
  rows = 1 + len(maps)
  fig, axes = plt.subplots(rows, n, figsize=(1.8 * n, 1.9 * rows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")

  def boxes(ax, i):
    b = gt_boxes[i]
    ax.add_patch(plt.Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False, color="lime", lw=1.2))
    if pred_boxes is not None:
      p = pred_boxes[i]
      ax.add_patch(plt.Rectangle((p[0] - 0.5, p[1] - 0.5), p[2] - p[0], p[3] - p[1], fill=False, color="red", lw=1.2))

  for i in range(n):
    axes[0, i].imshow(np.clip(images[i], 0, 1))
    axes[0, i].set_title(captions[i], fontsize=6)
    boxes(axes[0, i], i)
    for r, (name, m) in enumerate(maps.items()):
      axes[r + 1, i].imshow(overlay_image(images[i], m[i], alpha=0.6))
      boxes(axes[r + 1, i], i)
      if i == 0:
        axes[r + 1, i].set_title(name, fontsize=7, loc="left")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
