"""results.md of galaxy_morphology, rendered from the results dict (--mode=report needs no model)."""

from __future__ import annotations

import numpy as np

from vision_jax import report as report_lib
from vision_jax.explain import markdown_table as dict_table
from vision_jax.explain.evaluation import QUALITY_NOTES
from vision_jax.projects.galaxy_morphology import claims

ORDER = ("cnn1_raw", "cnn1_scaled", "cnn2", "vgg16_frozen", "vgg16_finetuned", "resnet50_frozen",
         "resnet50_finetuned", "vit")


def _ci(r: dict) -> str:
  lo, hi = claims.wilson_interval(r["correct"], r["n"])
  return f"{lo:.3f}-{hi:.3f}"


def _constant_share(r: dict) -> float:
  pred = np.asarray(r["predictions"])
  return float(np.bincount(pred, minlength=2).max() / max(len(pred), 1))


def explain_markdown(xp: dict) -> str:
  lines = []
  for name, t in xp.get("tables", {}).items():
    lines += [f"### {name} ({t['accuracy_on_examples']:.0%} of the explained test images "
              "classified correctly)", "", dict_table(t["rows"], floatfmt=".3f")]
  lines += list(QUALITY_NOTES)
  lines.append("- region = the galaxy's footprint (noiseless flux above the sky noise, from the generator); deleted "
               "pixels take the sky level 0.1.")
  if xp.get("completeness"):
    lines += ["", "IG completeness error |sum IG - (F(x) - F(black))| / |F(x) - F(black)| (target: < 5 %): "
              + "; ".join(f"{k}: mean {v['mean']:.2%}, max {v['max']:.2%} (m = {v['steps']})"
                          for k, v in xp["completeness"].items()) + "."]
  if xp.get("surrogate"):
    s = xp["surrogate"]
    lines += ["", f"Global surrogate of CNN-2: a depth-{s['max_depth']} decision tree ({s['leaves']} leaves) on the "
              f"128-d Dense features of the training images, fitted to CNN-2's predictions: fidelity {s['fidelity']:.3f} "
              f"on the test split (tree accuracy {s['tree_accuracy']:.3f} vs CNN-2 {s['network_accuracy']:.3f})."]
  if xp.get("activation_layers"):
    lines += ["", f"activations_cnn2.png: feature maps of {', '.join(xp['activation_layers'])} for one test galaxy; "
              "activation_maximization_cnn2.png: inputs maximising each class logit (L2, TV, blur, jitter)."]
  lines += ["", "Figures explain_<model>.png: viridis overlays at alpha 0.6 (bands i, r, g shown as RGB).", ""]
  return "\n".join(lines)


def render(r: dict) -> tuple[str, dict]:
  runs = r["runs"]
  header = ["model", "slides' claim (val, model chosen on it)", "ours: val (same protocol)", "ours: held-out test",
            "test 95 % CI (Wilson)", "test F1 Elliptical / Other", "parameters", "train s"]
  rows = []
  for name in ORDER:
    if name not in runs:
      continue
    x = runs[name]
    slide = claims.SLIDES.get(name)
    claim = "-" if slide is None or slide[1] is None else f"{slide[1]:.4f} ({slide[0]})"
    rows.append([x["label"], claim, x["val"]["accuracy"], x["test"]["accuracy"], _ci(x["test"]),
                 f"{x['test']['f1'][0]:.3f} / {x['test']['f1'][1]:.3f}", x["parameters"], x["train_seconds"]])
  pre = [[name, x["val"]["accuracy"], x["step"]] for name, x in runs.items() if name.startswith("pretrain_")]
  lines = [
      "# galaxy_morphology (seed 003): Elliptical vs Other on GalSim cutouts, CNNs vs a ViT, with measured XAI", "",
      f"Data `{r['data']}`: {r['sizes']['train']} train / {r['sizes']['val']} validation / {r['sizes']['test']} test "
      f"cutouts, 64 x 64 x 3 bands (g, r, i), class counts {r['class_balance']}. No ImageNet weights exist offline: "
      "the VGG16- and ResNet50-style backbones are pretrained on a synthetic 10-class task instead, and are "
      f"width-reduced ({r['model']['width']:g} of the channels) for CPU.", "",
      "## Verdicts", "", f"- **Networks.** {r['verdicts']['table']}", f"- **Denoisers.** {r['verdicts']['denoisers']}", "",
      "## The slides' table and ours", "",
      f"The slides' numbers are quoted claims ({claims.SOURCE}; {claims.CAVEAT}). Ours: the epoch with the best "
      "validation accuracy is kept (the slides' protocol: the 'val' column is optimistic), then scored once on the "
      "held-out test split the slides never had.", "",
      report_lib.markdown_table(header, rows, 3), "",
  ]
  if "cnn1_raw" in runs:
    raw = runs["cnn1_raw"]
    lines += [f"Share of the test images in CNN-1's most frequent predicted class (100 % = a constant prediction, "
              f"the slides' collapse; 50 % here = balanced): raw 0-255 inputs {_constant_share(raw['test']):.0%} "
              f"(test accuracy {raw['test']['accuracy']:.3f})"
              + (f"; with inputs scaled to [0, 1] {_constant_share(runs['cnn1_scaled']['test']):.0%} "
                 f"(accuracy {runs['cnn1_scaled']['test']['accuracy']:.3f})" if "cnn1_scaled" in runs else "") + ".", ""]
  if pre:
    lines += ["Synthetic pretraining (10-class digit canvases, validation accuracy): "
              + ", ".join(f"{n} {a:.3f} ({s} steps)" for n, a, s in pre) + ".", ""]
  dn = r["denoisers"]
  dn_header = ["denoiser", "setting (tuned on val)", "val PSNR (dB)", "ours: val", "ours: test", "test 95 % CI",
               "test - no denoising", "McNemar p", "Holm p", "slides (val)"]
  dn_rows = []
  if dn["rows"] and "resnet50_finetuned" in runs:
    base = runs["resnet50_finetuned"]["test"]["accuracy"]
    dn_rows.append(["none (ResNet50-style fine-tuned; no ImageNet weights)", "-", dn.get("noisy_psnr"), runs["resnet50_finetuned"]["val"]["accuracy"],
                    base, _ci(runs["resnet50_finetuned"]["test"]), 0.0, "-", "-", f"{claims.SLIDES['resnet50_finetuned'][1]:.4f}"])
    for x in dn["rows"]:
      slide = claims.SLIDES_DENOISERS.get(x["denoiser"])
      dn_rows.append([x["denoiser"], ", ".join(f"{k}={v}" for k, v in x["setting"].items()), x["val_psnr"],
                      x["val_accuracy"], x["test_accuracy"], _ci({"correct": x["test_correct"], "n": x["n"]}),
                      x["test_accuracy"] - base, x["mcnemar"]["p_value"], x["holm_p"],
                      "-" if slide is None else f"{slide:.4f}"])
    lines += ["## Inputs denoised before fine-tuning the ResNet50-style network", "",
              "Each filter's setting is chosen on validation cutouts by PSNR against their noiseless GalSim renders "
              "(val PSNR; the noisy input's is on the first row), then applied to every split; the fine-tuning starts "
              "from the same frozen-backbone network each time. McNemar: exact test of the paired test predictions "
              "against no denoising; Holm: adjusted for the number of filters.", "",
              report_lib.markdown_table(dn_header, dn_rows, 3), ""]
  lines += ["## Explanations and their quality (held-out test images, maps of the predicted class)", "",
            explain_markdown(r["explain"])]
  tables = {"networks": (header, rows), "denoisers": (dn_header, dn_rows)}
  return "\n".join(lines), tables
