"""Project pv_soiling (seed 002 article 3, Khan, Wadood et al.): a Random Forest on hand-crafted texture
features and MobileNetV3-Small fused by an OR rule, with a probability Soiling Index; the paper's
10-seed protocol, its full-set evaluation next to the held-out test split, the domain-shift test, and
the arithmetic audit that shows which of the paper's ensemble figures an OR rule cannot produce.
See README.md for the claims, the protocols and the measured verdict.

panels:    synthetic PV panel photographs (clean / dusty, seen and shifted domains).
data:      panel sets, the Kaggle Clean/ Dusty/ folder loader, classify sources pv_synthetic: / pv_folder:.
features:  the RF branch (Laplacian variance, LBP histogram, mean, std, RMS contrast, local std) and the forest.
cnn:       the CNN branch (registry MobileNetV3-Small, the paper's recipe, generic loop, one sub-run per seed).
fusion:    OR fusion, p_ens, SI and its bands, binary scores, the t-based CI.
audit:     the paper's tables checked against what an OR of its members allows.
protocols: the evaluation registry (held-out test split vs the paper's full seen set).
claims / study / report: the paper's numbers, the train / report modes, the result files.
"""

from vision_jax.projects.pv_soiling import data as _data  # noqa: F401 (registers the pv_* classify sources)
from vision_jax.projects.pv_soiling import study

MODES = study.MODES
