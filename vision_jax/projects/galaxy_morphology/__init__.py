"""Project galaxy_morphology (seed 003): Elliptical vs Other on GalSim cutouts (vision_jax.data.galaxies);
the slides' CNN-1 (its collapse with raw inputs) and CNN-2, VGG16- / ResNet50-style backbones frozen vs
fine-tuned after synthetic pretraining, the ViT the title promises, input denoisers with exact McNemar
tests, and the slides' explanations scored by the seed-001 evaluation layer. See README.md.

models:  SlidesCNN (CNN-1 / CNN-2), TransferNet (+ load_backbone / load_all / freeze_params).
runs:    the RUNS registry, sub-run configs, loss with in-step JAX augmentation, fitting and scoring.
study:   pretraining, the runs and the denoiser runs as keyed sub-runs (read back when finished).
denoise: the filters and their validation tuning against noiseless renders.
xai:     Grad-CAM + TV, IG + blur (+ completeness), LIME on SLIC, activation grids, quality tables.
claims:  the slides' numbers as claims, intervals, McNemar / Holm, verdict lines.
run:     train / report / explain (config.project = "galaxy_morphology").
"""

from vision_jax.projects.galaxy_morphology import run

MODES = {"train": run.train, "report": run.report, "explain": run.explain}
