"""--mode=explain of covid_cxr: Grad-CAM overlays of a few true / false positives / negatives of the
full model, their rule-based text explanations (rules.py; the layout of the paper's Fig. 13) and the
cascading randomization sanity check, written to workdir/explain/:

    overlays.png        radiograph + Grad-CAM overlay, true lung contour (white) and Otsu mask (dashed red)
    explanations.md/txt the texts, one block per example, and the rule table
    explain.json        everything above as numbers (+ the sanity rows)

Examples: the first explain.per_outcome test images of each outcome (TP, FP, FN, TN) at the
validation-chosen threshold (the threshold the full model's summary.json recorded), a fixed choice.
"""

from __future__ import annotations

import json
import os

import numpy as np

from vision_jax import explain as ex, report as report_lib
from vision_jax.projects.covid_cxr import rules, single, sources, training, xai
from vision_jax.tasks.classify import common as classify

OUTCOMES = ("TP", "FP", "FN", "TN")
FILE = "explain.json"


def outcome_of(label: int, pred: int) -> str:
  return {(1, 1): "TP", (0, 1): "FP", (1, 0): "FN", (0, 0): "TN"}[(int(label), int(pred))]


def pick_examples(labels, preds, per_outcome: int) -> list[int]:
  """Indices of the first `per_outcome` examples of each outcome, in OUTCOMES order."""
  chosen = []
  for o in OUTCOMES:
    idx = [i for i in range(len(labels)) if outcome_of(labels[i], preds[i]) == o]
    chosen += idx[:per_outcome]
  return chosen


def example_name(data, i: int) -> str:
  """'<source class>-<pool index>', like the paper's 'Normal-7067'."""
  from vision_jax.data import chest_xray as cx
  k = int(data.aux["source_class"][i])
  names = cx.FINDINGS if "lesion_masks" in data.aux else cx.RADIOGRAPHY_CLASSES
  return f"{names[k]}-{int(data.aux['index'][i])}"


def overlay_figure(path: str, raws, maps, lungs, otsu, captions, title: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  n = len(raws)
  cols = min(max(n, 1), 4)
  rows = int(np.ceil(n / cols)) if n else 1
  fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.6 * rows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for i in range(n):
    ax = axes[i // cols, i % cols]
    ax.imshow(ex.overlay_image(raws[i], maps[i], alpha=0.45, cmap="jet"))
    ax.contour(lungs[i].astype(float), levels=[0.5], colors="white", linewidths=0.8)
    ax.contour(otsu[i].astype(float), levels=[0.5], colors="red", linewidths=0.7, linestyles="dashed")
    ax.set_title(captions[i], fontsize=7)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def run(config, sub_dir: str, out_dir: str) -> dict:
  """Computes and writes the explanations of the model in sub_dir (see the module docstring)."""
  sources.register()
  within, mixed = float(config.explain.rule_within), float(config.explain.rule_mixed)
  rules.check_rule_thresholds(within, mixed)
  per = int(config.explain.per_outcome)
  if per < 1:
    raise ValueError(f"explain.per_outcome={per!r} is invalid; expected >= 1 example per outcome")
  test = classify.load_split(config, str(config.explain.split))
  sources.check_both_classes(test.labels, f"{config.explain.split} split of {config.data.source!r}")
  channels = test.images.shape[-1]
  model, state, step = single.restore_best(config, sub_dir, channels, test.images.shape[1:3])
  summary = single.read_summary(sub_dir)
  threshold = float(summary["threshold_val"]) if summary else float(config.eval.threshold)
  probs = training.predict_probs(model, state, test.images, int(config.eval.batch_size))
  preds = (probs >= threshold).astype(np.int32)
  idx = pick_examples(test.labels, preds, per)
  targets = xai.cam_targets(probs[idx], threshold, str(config.explain.cam_target))
  maps = xai.grad_cam_maps(model, state, test.images[idx], targets)
  cov_otsu = xai.lung_coverage(maps, test.aux["otsu_masks"][idx])
  cov_true = xai.lung_coverage(maps, test.masks[idx])
  layer = str(config.explain.get("hires_layer", "") or "")
  hires = xai.grad_cam_maps(model, state, test.images[idx], targets, layer=layer) if layer else None
  cov_hires = xai.lung_coverage(hires, test.masks[idx]) if layer else None
  examples, texts = [], []
  for j, i in enumerate(idx):
    name = example_name(test, i)
    reason = str(test.aux["otsu_reason"][i])
    text = rules.explanation(name, float(probs[i]), threshold, float(cov_otsu[j]), coverage_true=float(cov_true[j]),
                             fallback=reason, within=within, mixed=mixed)
    if layer:
      text += (f"\n  Grad-CAM on {layer} (finer): {cov_hires[j]:.1f} % inside the true lung mask -> "
               f"{rules.attention_rule(float(cov_hires[j]), within, mixed).name}.")
    texts.append(f"[{outcome_of(test.labels[i], preds[i])}] " + text)
    examples.append({"name": name, "index": int(i), "outcome": outcome_of(test.labels[i], preds[i]),
                     "label": int(test.labels[i]), "prob": float(probs[i]), "coverage_otsu": float(cov_otsu[j]),
                     "coverage_true": float(cov_true[j]), "rule": rules.attention_rule(float(cov_otsu[j]), within, mixed).name,
                     "otsu_fallback": reason, "text": text,
                     **({"coverage_true_hires": float(cov_hires[j])} if layer else {})})
  n_sanity = min(int(config.explain.sanity_examples), len(test))
  sanity = []
  if bool(config.explain.sanity) and n_sanity:
    sanity = [[layer, float(rho)] for layer, rho in xai.randomization_check(
        model, state, test.images[:n_sanity], xai.cam_targets(probs[:n_sanity], threshold, str(config.explain.cam_target)))]
  os.makedirs(out_dir, exist_ok=True)
  captions = [f"[{e['outcome']}] {e['name']}\nP={100 * e['prob']:.1f}%  lungs {e['coverage_otsu']:.0f}% (Otsu) "
              f"{e['coverage_true']:.0f}% (true)" for e in examples]
  overlay_figure(os.path.join(out_dir, "overlays.png"), test.aux["raw"][idx], maps, test.masks[idx],
                 test.aux["otsu_masks"][idx], captions,
                 f"Grad-CAM ({config.explain.cam_target} class), full model step {step}, threshold {threshold:.2f}")
  md = [f"# Rule-based explanations: full model, {config.explain.split} split of `{config.data.source}`", "",
        f"Checkpoint step {step}; threshold {threshold:.2f} (chosen on validation MCC); Grad-CAM of the "
        f"{config.explain.cam_target} class on the last convolution; coverage = CAM energy inside the lung mask. "
        "The rules (the paper gives none; these are this project's, see rules.py):", "",
        rules.rule_table_markdown(within, mixed), "", "```", *("\n".join(texts).splitlines()), "```", ""]
  if sanity:
    md += ["## Cascading randomization of Grad-CAM (Spearman rho with the trained model's map)", "",
           f"First {n_sanity} {config.explain.split} images; near 0 once the top layers are random passes, near 1 "
           "would mean the map ignores the learned weights.", "",
           report_lib.markdown_table(["last parameter group randomized", "mean rho"], sanity, 3), ""]
  files = ["overlays.png", "explanations.md", "explanations.txt"]
  if layer:
    overlay_figure(os.path.join(out_dir, f"overlays_{layer}.png"), test.aux["raw"][idx], hires, test.masks[idx],
                   test.aux["otsu_masks"][idx], [c.split("  lungs")[0] + f"  lungs {v:.0f}% (true, {layer})"
                                                 for c, v in zip(captions, cov_hires)],
                   f"Grad-CAM on {layer} ({config.explain.cam_target} class), full model step {step}")
    files.append(f"overlays_{layer}.png")
  report_lib.write_text_atomic(os.path.join(out_dir, "explanations.md"), "\n".join(md))
  report_lib.write_text_atomic(os.path.join(out_dir, "explanations.txt"), "\n\n".join(texts) + "\n")
  result = {"step": step, "threshold": threshold, "examples": examples, "sanity": sanity,
            "sanity_examples": n_sanity, "rules": {"within": within, "mixed": mixed}, "files": files}
  report_lib.write_json(os.path.join(out_dir, FILE), result)
  print("\n\n".join(texts))
  print(f"wrote {out_dir}/{', '.join(files)}, {FILE}")
  return result


def read(out_dir: str) -> dict | None:
  path = os.path.join(out_dir, FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)

