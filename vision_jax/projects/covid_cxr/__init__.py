"""Project covid_cxr (seed 002 article 1, Nicholas-Omoregbe et al.): four-channel chest X-ray pipeline,
Xception with one logit and sigmoid focal loss, threshold sweep, Grad-CAM lung coverage with explicit
rules, and the ablations the paper never ran. See README.md in this folder for the claims, the
protocol and the measured verdict.

sources:    the registered data sources covid_phantoms:default and covid_radiography:ROOT.
pipeline:   the paper's preprocessing steps (lung isolation, Otsu safe_lung_mask, CLAHE, bone
            suppression, [ROI, band-pass, Frangi, LBP] channels).
training:   model, sigmoid focal loss, oversampled / augmented batches, validation MCC (a TrainProblem
            for vision_jax.train.loop.fit).
evaluation: metrics at a threshold, Table 2 sweep, MCC plateau, bootstrap intervals, curves.
xai:        Grad-CAM of the one-logit model and lung coverage; rules: the rule table and texts.
ablations:  the ablation registry; single: one trained model; baselines: majority and texture LR.
claims:     the paper's numbers and the checks they pass; report: results.md; explain: --mode=explain.
run:        train / report / explain.
"""

from vision_jax.projects.covid_cxr import run, sources

sources.register()

# Models are sub-runs keyed by their own fingerprints; the top-level folder only collects them.
WORKDIR_POLICY = "subruns"
MODES = {"train": run.train, "report": run.report_mode, "explain": run.explain_mode}
