"""The cross-validation protocol of the EKD project and one keyed training run inside it.

Folds: StratifiedKFold(cv.folds, shuffle, cv.seed) over the pooled images; every method (Student,
SGDRE, KD, EKD) sees the same folds. Inside a fold's training part a stratified cv.val_fraction is
held out as the validation set of every method (early stopping, snapshot choice); the test fold
takes part in no choice. (The paper does not state its validation split.)

A run (one network fit) lives in workdir/fold<i>/<name>-<fingerprint[:10]>/ with the generic loop's
checkpoints (the best by validation AUC, and the last state once at the end: a run takes a minute or
two, so an interrupted one restarts from scratch), run.json (epochs, seconds, best validation AUC, inference seconds on the test fold) and
logits.npz (eval-mode logits on the fold's fit / val / test images); a finished run is read back.
"""

from __future__ import annotations

import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vision_jax import report as report_lib
from vision_jax.data import batching, classification as data_lib
from vision_jax.losses import classification as cls_losses, distillation as kd_loss
from vision_jax.metrics import cost
from vision_jax.tasks.classify import common as classify
from vision_jax.train import loop, workdir as workdir_lib
from vision_jax.train.state import apply_model

RUN_FILE = "run.json"
LOGITS_FILE = "logits.npz"


def folds(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
  """[(train indices, test indices)] of a stratified k-fold split."""
  from sklearn.model_selection import StratifiedKFold
  counts = np.bincount(labels)
  if k < 2 or counts.min() < k:
    raise ValueError(f"cv.folds={k} is invalid for class counts {counts.tolist()}; expected 2 <= folds <= "
                     "the smallest class count")
  return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))


def inner_split(train_idx: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(fit, val) indices: a stratified `fraction` of a fold's training part is the validation set."""
  from sklearn.model_selection import train_test_split
  fit, val = train_test_split(train_idx, test_size=fraction, stratify=labels[train_idx], random_state=seed)
  return np.sort(fit), np.sort(val)


def subset(data: data_lib.ClassificationData, idx: np.ndarray) -> data_lib.ClassificationData:
  return data_lib.ClassificationData(data.images[idx], data.labels[idx], data.class_names)


@functools.lru_cache(maxsize=None)
def _forward(model):
  return jax.jit(lambda v, x: model.apply(v, x, train=False)[0])


def logits_of(model, variables, images: np.ndarray, batch_size: int) -> np.ndarray:
  """Eval-mode logits (N, C) in batches (the last one zero-padded, so one program serves all)."""
  fwd = _forward(model)
  return batching.predict_in_batches(lambda chunk: fwd(variables, jnp.asarray(chunk)), images, batch_size).astype(np.float32)


def batch_fn_with_index(train: data_lib.ClassificationData, batch_size: int, seed: int):
  """batch_fn(step) -> {"image", "label", "index"} with the classify task's epoch order
  (np.random.default_rng([seed, epoch]).permutation(N)); "index" addresses per-example soft targets."""
  indices = batching.epoch_batches(len(train), int(batch_size), seed)

  def batch_fn(step):
    _, _, idx = indices(step)
    return {"image": train.images[idx], "label": train.labels[idx], "index": idx.astype(np.int32)}

  return batch_fn


def l2_penalty(params, path: tuple[str, ...] | None, weight: float):
  """weight * sum(w^2) of the kernel at `path` (Keras' kernel_regularizer=l2(weight)); 0 without one."""
  if path is None or not weight:
    return 0.0
  w = params
  for key in path:
    w = w[key]
  return weight * jnp.sum(jnp.square(w))


def make_loss(model, *, alpha: float | None, temperature: float, l2_path, l2: float):
  """loss_fn for the loop: cross-entropy (alpha None) or the KD / EKD loss reading
  extra["soft_targets"][batch["index"]], plus the L2 kernel penalty."""
  def logits_and_stats(params, batch_stats, batch, rng):
    return apply_model(model, params, batch_stats, batch["image"], True, rngs={"dropout": rng})

  if alpha is None:
    def loss_fn(params, batch_stats, batch, rng):
      logits, _, new_bs = logits_and_stats(params, batch_stats, batch, rng)
      ce = cls_losses.softmax_cross_entropy(logits, batch["label"])
      acc = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
      return ce + l2_penalty(params, l2_path, l2), ({"accuracy": acc, "ce": ce}, new_bs)
    return loss_fn

  def kd_loss_fn(params, batch_stats, batch, rng, extra):
    logits, _, new_bs = logits_and_stats(params, batch_stats, batch, rng)
    targets = extra["soft_targets"][batch["index"]]
    loss, parts = kd_loss.distillation_loss(logits, batch["label"], targets, alpha=alpha, temperature=temperature)
    acc = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return loss + l2_penalty(params, l2_path, l2), ({"accuracy": acc, **parts}, new_bs, extra)
  return kd_loss_fn


def run_config(config, fold: int, name: str, optim: dict, epochs: int, patience: int, per_epoch: int,
               select: bool, **key) -> ml_collections.ConfigDict:
  """The config of one run: data, fold, optimizer and training fields plus `key` (what else keys it)."""
  sub = ml_collections.ConfigDict()
  sub.seed = int(config.seed) + fold
  sub.name = name
  sub.key = ml_collections.ConfigDict({k: v for k, v in key.items()})
  sub.data = ml_collections.ConfigDict({"scheme": config.data.scheme, "name": config.data.name,
                                        "options": dict(config.data.options), "image_size": int(config.data.image_size),
                                        "seed": int(config.data.seed), "batch_size": int(config.data.batch_size),
                                        "featurewise_center": bool(config.data.get("featurewise_center", False))})
  sub.cv = ml_collections.ConfigDict({**config.cv.to_dict(), "fold": fold})
  sub.optim = ml_collections.ConfigDict(optim)
  sub.train = ml_collections.ConfigDict({
      "steps": int(epochs) * per_epoch, "log_every": per_epoch, "checkpoint_every": int(epochs) * per_epoch,
      "eval_every": per_epoch, "keep_checkpoints": 1, "progress": bool(config.train.progress),
      "select_metric": "val_roc_auc" if select else "", "select_mode": "max", "patience": int(patience) if select else 0})
  for k in ("mesh", "distributed", "tensorboard", "resume"):
    sub[k] = config[k]
  return sub


def run_dir(workdir: str, sub) -> str:
  return os.path.join(workdir, f"fold{sub.cv.fold}", f"{sub.name}-{workdir_lib.fingerprint(sub)[:10]}")


def read_run(out_dir: str):
  """(record, logits) of a finished run, or None."""
  if not os.path.exists(os.path.join(out_dir, RUN_FILE)):
    return None
  with open(os.path.join(out_dir, RUN_FILE)) as f:
    record = json.load(f)
  with np.load(os.path.join(out_dir, LOGITS_FILE), allow_pickle=False) as z:
    return record, {k: z[k] for k in z.files}


def fit_run(sub, workdir: str, model, parts: dict, loss_fn, *, extra=None, init_params=None,
            batch_size: int, read_only: bool = False):
  """Trains one run (or reads it back); returns (record, logits {"fit", "val", "test"}, out_dir).

  parts: {"fit", "val", "test"} ClassificationData of the fold; extra: a pytree for the loss (soft
  targets); init_params: {"params", "batch_stats"} to start from (a warm restart), else fresh init.
  """
  out_dir = run_dir(workdir, sub)
  done = read_run(out_dir)
  if done is not None:
    return (*done, out_dir)
  if read_only:
    raise FileNotFoundError(f"run {out_dir} has not finished; --mode=report only reads finished runs")
  fit = parts["fit"]
  transform = None
  if init_params is not None:
    transform = lambda v: {**v, **{k: init_params[k] for k in ("params", "batch_stats") if k in init_params}}  # noqa: E731
  eval_fn = None
  if sub.train.select_metric:
    def eval_fn(state, step):
      return classify.validation_metrics(model, state, parts["val"], batch_size)
  batch_fn = batch_fn_with_index(fit, int(sub.data.batch_size), int(sub.seed))
  problem = loop.TrainProblem(model, np.zeros((1, *fit.images.shape[1:]), np.float32), loss_fn, batch_fn, eval_fn,
                              extra_init=None if extra is None else (lambda: extra), init_transform=transform)
  workdir_lib.prepare(sub, out_dir)
  res = loop.fit(problem, sub, out_dir, desc=f"fold{sub.cv.fold}/{sub.name}")
  state = res.state
  per_epoch = int(sub.train.eval_every)
  if res.best:
    state, _ = loop.restore_state(problem, sub, out_dir, which="best")
  variables = {"params": state["params"]}
  if jax.tree.leaves(state.get("batch_stats", {})):
    variables["batch_stats"] = state["batch_stats"]
  steps = int(sub.train.steps)
  if res.best and res.best["stopped_early"]:
    steps = min(steps, int(res.best["step"]) + int(sub.train.patience) * per_epoch)
  logits = {k: logits_of(model, variables, parts[k].images, batch_size) for k in ("fit", "val", "test")}
  infer = cost.time_call(lambda: logits_of(model, variables, parts["test"].images, batch_size))
  record = {"name": str(sub.name), "fold": int(sub.cv.fold), "epochs": steps / per_epoch,
            "train_seconds": res.seconds, "inference_seconds": infer,
            "best_val_auc": res.best["value"] if res.best else None,
            "selected_epoch": (res.best["step"] / per_epoch) if res.best else steps / per_epoch}
  np.savez(os.path.join(out_dir, LOGITS_FILE), **logits)
  np.savez(os.path.join(out_dir, "params.npz"), **_flat(variables))
  report_lib.write_json(os.path.join(out_dir, RUN_FILE), record)
  return record, logits, out_dir


def _flat(variables) -> dict:
  """{'params/a/b': array}: the kept state, loadable with np.load (warm restarts read it back)."""
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    flat["/".join(str(getattr(p, "key", p)) for p in path)] = np.asarray(leaf)
  return flat


def load_variables(out_dir: str) -> dict:
  """The variables a finished run saved (params.npz) as a nested dict of jnp arrays."""
  out: dict = {}
  with np.load(os.path.join(out_dir, "params.npz"), allow_pickle=False) as z:
    for key in z.files:
      node = out
      *parents, leaf = key.split("/")
      for p in parents:
        node = node.setdefault(p, {})
      node[leaf] = jnp.asarray(z[key])
  return out


def timed(fn):
  """(result, seconds) of fn()."""
  t0 = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - t0
