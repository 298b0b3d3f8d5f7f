"""Project causal_localization (seed 000): a bottleneck ResNet with a class head and a box head on
single-object canvases, the paper's PCA + pairwise Granger analysis run in class order and shuffled,
a linear-head ablation, and the seed-001 explanation-quality table. See README.md in this folder.

model:     LocalizationResNet (stages [2, 2, 2], GAP, dropout 0.5, class head + sigmoid cxcywh box head).
problem:   config validation, data (vision_jax.data.localization sources), loss (CE + L1 + GIoU), batches.
baselines: mean-box and Grad-CAM-box localization on the same test images.
analysis:  PCA by eigh, Granger graphs in both sample orders, the ablation, figures.
claims:    the paper's numbers as claims, the targets and the verdict lines.
run:       train / eval / report / explain (config.project = "causal_localization").
"""

from vision_jax.projects.causal_localization import run

MODES = {"train": run.train, "eval": run.eval, "report": run.report, "explain": run.explain}
