"""Project ensemble_distillation (seed 002 article 8, Vrbancic & Podgorelec): an SGDR snapshot ensemble
of teacher CNNs (SGDRE) distilled into a small student (EKD), against the student alone and
single-teacher KD, under k-fold cross-validation with the paper's statistics.
See README.md in this folder for the paper's claims, the protocol and the measured verdict.

models:   the SGDRE teacher CNN and the student (exact parameter counts at 200 x 200 x 1).
data:     the kermany: folder layout and the cxr_synth: stand-in.
protocol: folds, the inner validation split, one keyed training run (generic loop) and its files.
methods:  Student / SGDRE / KD / EKD on one fold.
claims:   the paper's numbers (as claims) and the verdict; report: result files; run: train / report.
The loss is the library's vision_jax.losses.distillation; the tests are vision_jax.metrics.stats.
"""

from vision_jax.projects.ensemble_distillation import data, run

data.register()

MODES = {"train": run.train, "report": run.report_mode}
