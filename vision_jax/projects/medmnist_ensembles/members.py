"""One base learner of one dataset: trained with the classify task's pieces and the generic loop,
then measured (probabilities on val and test, FLOPs, size fp32 / int8, inference time).

Each member is a sub-run in workdir/<dataset>/<member>-<fingerprint[:10]>/ whose fingerprint covers
only what changes that member (its data, model, loss, optimizer and training fields), so adding a
member to the config, or another ensemble setting, never retrains the others; a finished sub-run
(member.json exists) is read back.
"""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np

from vision_jax import report as report_lib
from vision_jax.data import classification as data_lib
from vision_jax.metrics import cost, ensembles as ens
from vision_jax.metrics.evaluation import softmax
from vision_jax.projects.medmnist_ensembles import models
from vision_jax.tasks.classify import common as classify
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib

MEMBER_FILE = "member.json"
PROBS_FILE = "member_probs.npz"


def member_config(config, dataset: str, member: str, num_train: int) -> ml_collections.ConfigDict:
  """The classify-task config of one member: the shared data / loss / optim fields, this dataset's
  source, the member's name and train.steps = epochs * (num_train // batch) with one evaluation per
  epoch (early stopping on validation log loss with train.patience)."""
  d = config.data
  bs = int(d.batch_size)
  per_epoch = max(1, num_train // bs)
  sub = ml_collections.ConfigDict()
  sub.seed = int(config.seed)
  sub.model = ml_collections.ConfigDict({"name": member, "num_classes": 0, "in_channels": 0,
                                         "kwargs": {"bn_momentum": float(config.members.bn_momentum)}})
  sub.data = ml_collections.ConfigDict(d.to_dict())
  sub.data.source = f"{d.scheme}:{dataset}"
  del sub.data["scheme"]
  sub.loss = ml_collections.ConfigDict(config.loss.to_dict())
  sub.optim = ml_collections.ConfigDict(config.optim.to_dict())
  t = config.train
  sub.train = ml_collections.ConfigDict({
      "steps": int(t.epochs) * per_epoch, "log_every": per_epoch, "checkpoint_every": per_epoch,
      "eval_every": per_epoch, "keep_checkpoints": 1, "progress": bool(t.progress),
      "select_metric": str(t.select_metric), "select_mode": str(t.select_mode), "patience": int(t.patience)})
  sub.eval = ml_collections.ConfigDict({"batch_size": int(config.eval.batch_size)})
  for key in ("mesh", "distributed", "tensorboard", "resume"):
    sub[key] = config[key]
  return sub


def member_dir(workdir: str, dataset: str, sub) -> str:
  return os.path.join(workdir, dataset, f"{sub.model.name}-{workdir_lib.fingerprint(sub)[:10]}")


def _probs(model, state, images, batch_size) -> np.ndarray:
  return softmax(classify.predict_logits(model, state, images, batch_size)).astype(np.float32)


def measure(model, state, splits: dict, image_shape, batch_size: int, time_repeats: int) -> tuple[dict, dict]:
  """(record, arrays): FLOPs per image, sizes (fp32, int8 weights), params, test-set inference time
  (s, all test images, median of time_repeats after a warm-up), the paper's metrics on val / test in
  fp32 and with int8 weights, and the probability arrays."""
  variables = state_lib.model_variables(state)
  abstract = {k: v for k, v in cost.abstract_variables(model, image_shape).items() if k != "perturbations"}
  record = {"flops": cost.model_flops(model, abstract, image_shape), "params": cost.num_values(state["params"]),
            "stored_values": cost.num_values(variables), "size_mb": cost.size_mb(variables),
            "size_int8_mb": cost.quantized_size_mb(variables)}
  test = splits["test"]
  record["time_s"] = cost.time_call(lambda: _probs(model, state, test.images, batch_size), repeats=time_repeats)
  q_params, worst = cost.quantize_weights(state["params"])
  q_state = {**state, "params": q_params}
  record["int8_worst_error_steps"] = worst
  arrays = {}
  for split in ("val", "test"):
    data = splits[split]
    arrays[f"probs_{split}"] = _probs(model, state, data.images, batch_size)
    arrays[f"probs_{split}_int8"] = _probs(model, q_state, data.images, batch_size)
    arrays[f"labels_{split}"] = data.labels
    record[f"metrics_{split}"] = ens.paper_metrics(data.labels, arrays[f"probs_{split}"])
    record[f"metrics_{split}_int8"] = ens.paper_metrics(data.labels, arrays[f"probs_{split}_int8"])
  return record, arrays


def load_member(out_dir: str) -> tuple[dict, dict] | None:
  """(record, arrays) of a finished member sub-run, or None."""
  path = os.path.join(out_dir, MEMBER_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    record = json.load(f)
  with np.load(os.path.join(out_dir, PROBS_FILE), allow_pickle=False) as z:
    arrays = {k: z[k] for k in z.files}
  return record, arrays


def train_member(config, workdir: str, dataset: str, member: str, splits: dict, *,
                 read_only: bool = False) -> tuple[dict, dict]:
  """Trains (or reads back) member `member` on `splits` ({"train", "val", "test"} ClassificationData
  of `dataset`); returns (record, arrays) as `measure` plus kind, epochs and training seconds."""
  train = splits["train"]
  sub = member_config(config, dataset, member, len(train))
  out_dir = member_dir(workdir, dataset, sub)
  done = load_member(out_dir)
  if done is not None:
    return done
  if read_only:
    raise FileNotFoundError(f"member sub-run {out_dir} has not finished; --mode=report only reads finished "
                            "sub-runs (run --mode=train first)")
  model = models.build_member(member, train.num_classes, float(config.members.bn_momentum))
  s = classify.Setup(model, train, train.num_classes, tuple(train.class_names), int(train.images.shape[-1]),
                     tuple(train.images.shape[1:3]), None)
  workdir_lib.prepare(sub, out_dir)
  problem = classify.make_problem(sub, s, splits["val"])
  res = loop.fit(problem, sub, out_dir, desc=f"{dataset}/{member}")
  state, step = res.state, int(res.state["step"])
  if res.best:
    state, step = loop.restore_state(problem, sub, out_dir, which="best")
  per_epoch = int(sub.train.eval_every)
  record, arrays = measure(model, state, splits, (1, *train.images.shape[1:]), int(config.eval.batch_size),
                           int(config.eval.time_repeats))
  trained_steps = int(res.best["step"]) + int(sub.train.patience) * per_epoch if res.best and res.best["stopped_early"] \
      else int(sub.train.steps)
  record.update({"name": member, "kind": models.member_kind(member), "dataset": dataset,
                 "selected_epoch": step / per_epoch, "epochs_trained": min(trained_steps, int(sub.train.steps)) / per_epoch,
                 "train_seconds": res.seconds, "train_images": len(train), "dir": os.path.basename(out_dir)})
  np.savez(os.path.join(out_dir, PROBS_FILE), **arrays)
  report_lib.write_json(os.path.join(out_dir, MEMBER_FILE), record)
  return record, arrays


def load_splits(config, dataset: str) -> dict:
  """{"train", "val", "test"} of `dataset` from config.data (scheme, options, seed)."""
  d = config.data
  out = {}
  for split in ("train", "val", "test"):
    try:
      out[split] = data_lib.load_classification(f"{d.scheme}:{dataset}", split, image_size=None,
                                                seed=int(d.seed), **dict(d.options))
    except TypeError as e:
      raise ValueError(f"data.options {sorted(dict(d.options))} has a field source {d.scheme}:{dataset} does not "
                       f"take ({e})") from None
  if int(config.data.batch_size) > len(out["train"]):
    raise ValueError(f"data.batch_size={config.data.batch_size} is invalid for {len(out['train'])} training images "
                     f"of {dataset}; expected 1..{len(out['train'])}")
  return out
