"""Project medmnist_ensembles (seed 002 article 5, Prvan et al.): lightweight late ensembles of custom
CNNs and (here: from-scratch) DNNs on MedMNIST, chosen by Pareto fronts and weighted radar areas.
See README.md in this folder for the paper's claims, the protocols and the measured verdicts.

models:  the paper's custom CNNs (A, B1-B4, C1, C3, D1-D3) and its DNN members (registry models).
data:    the medmnist: (MedMNIST v2 npz files) and medmnist_synth: (offline stand-in) sources.
members: one member's sub-run (train, then FLOPs / size / time / probabilities / int8).
study:   every ensemble, the selection under the paper's and the held-out protocol, stacking, int8.
claims:  the paper's numbers (as claims) and the verdict lines; report / figures: the result files.
run:     train / report (config.project = "medmnist_ensembles").
The ensemble, cost and statistics code lives in the library (vision_jax.metrics.ensembles, .cost, .stats).
"""

from vision_jax.projects.medmnist_ensembles import data, run

data.register()

MODES = {"train": run.train, "report": run.report_mode}
