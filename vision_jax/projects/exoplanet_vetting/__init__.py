"""Project exoplanet_vetting (seed 002 article 12, Fiscale et al.): global views of simulated (or real)
light curves -> VGG19-1D features -> 2-D t-SNE -> conditional flow matching with XGBoost, under the
paper's leaking protocol and honest ones side by side. See README.md for claims, protocols and the
measured verdict.

vgg1d:          the 1-D VGG19 feature extractor (2560-d flattened feature at length 201).
protocols:      the PROTOCOLS registry (paper / transductive / heldout) and the splits they make.
embedding:      t-SNE, nearest-neighbour placement of held-out points, the PCA comparison.
flow_matching:  the ForestDiffusion-style class-conditional flow classifier (XGBoost per class and level).
claims:         the paper's numbers (as claims) and the verdict line.
run / report:   train / report modes (config.project = "exoplanet_vetting") and the result files.
The light-curve preprocessing and the batman simulator are library code: vision_jax.data.lightcurves,
vision_jax.data.lightcurve_sim.
"""

from vision_jax.projects.exoplanet_vetting import run

MODES = run.MODES
