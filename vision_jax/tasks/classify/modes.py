"""train / eval / report of the classify task: any registered classifier on an offline source,
trained with the generic loop and evaluated on a held-out split.

    python -m vision_jax.main --config=configs/classify/default.py:small --workdir=W               # train + test report
    python -m vision_jax.main --config=configs/classify/default.py:small --workdir=W --mode=eval   # checkpoint -> eval_results.*
    python -m vision_jax.main --config=configs/classify/default.py:small --workdir=W --mode=explain

Results in the workdir: config.json, results.md / results.json / results.csv (summary metrics),
per_class.csv, confusion_matrix.png, mistakes.png, predictions.npz, metrics.jsonl, training_curves.png
and checkpoints/. The report states the majority-class baseline next to the accuracy.
"""

from __future__ import annotations

from vision_jax import report as report_lib
from vision_jax.tasks.classify import common
from vision_jax.tasks.classify.report import write_results
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib


def train(config, workdir: str):
  """Trains config.model on the train split (generic loop; resumes), then evaluates on config.eval.split."""
  s = common.setup(config)
  split = str(config.eval.split)
  test = common.load_eval_split(config, s, split)
  val = common.load_eval_split(config, s, "val") if int(config.train.get("eval_every", 0)) else None
  workdir_lib.prepare(config, workdir)
  problem = common.make_problem(config, s, val)
  res = loop.fit(problem, config, workdir, desc=f"classify-{config.model.name}")
  report_lib.training_curves(workdir, title=f"{config.model.name} on {config.data.source}")  # training_curves.png
  state, step = res.state, int(res.state["step"])
  info = {"train_images": len(s.train), "train_steps": int(config.train.steps),
          "train_seconds": res.seconds, "resumed_from_step": res.start_step,
          "parameters": state_lib.count_params(res.state["params"]),
          **{f"final_train_{k}": v for k, v in res.metrics.items()}}
  if res.best:  # evaluate the state the validation metric chose (early stopping)
    state, step = loop.restore_state(problem, config, workdir, which="best")
    info.update({f"selected_by_{res.best['metric']}": res.best["value"], "selected_step": step,
                 "stopped_early": res.best["stopped_early"]})
  logits = common.predict_logits(s.model, state, test.images, int(config.eval.batch_size))
  return write_results(workdir, "", config, s, test, logits, step, split, info)


def eval(config, workdir: str):  # noqa: A001 (mode name)
  """Evaluates the newest checkpoint (the best one when train.select_metric is set) on config.eval.split;
  writes eval_results.* and eval_predictions.npz."""
  s = common.setup(config)
  split = str(config.eval.split)
  data = common.load_eval_split(config, s, split)
  state, step = common.restore(config, workdir, s)
  logits = common.predict_logits(s.model, state, data.images, int(config.eval.batch_size))
  return write_results(workdir, "eval_", config, s, data, logits, int(step), split)


def report(config, workdir: str):
  """--mode=report: rewrites the evaluation report from the checkpoint (same as eval)."""
  return eval(config, workdir)
