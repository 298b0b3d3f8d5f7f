"""The classify task kind: any registered classifier on an offline source, and its explanations.

common:  validation, data, loss, batches, TrainProblem, prediction, restore (shared by every mode).
report:  result files of an evaluation.
modes:   train / eval / report.
explain: --mode=explain (attribution maps, overlays, sanity and faithfulness checks).
"""

from vision_jax.tasks.classify import explain, modes
from vision_jax.tasks.classify.common import (Setup, class_weights_of, load_eval_split, load_split, make_batch_fn,
                                              make_loss_fn, make_problem, parse_floats, predict_logits, restore,
                                              setup)

MODES = {"train": modes.train, "eval": modes.eval, "report": modes.report, "explain": explain.run}

__all__ = ["MODES", "Setup", "class_weights_of", "load_eval_split", "load_split", "make_batch_fn", "make_loss_fn",
           "make_problem", "parse_floats", "predict_logits", "restore", "setup"]
