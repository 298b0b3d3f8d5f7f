"""Image classification: any registered classifier on an offline source, trained with the generic
loop, evaluated on a held-out split, and explained (see classify_explain.py).

    python -m vision_jax.main --config=configs/classify.py:small --workdir=W               # train + test report
    python -m vision_jax.main --config=configs/classify.py:small --workdir=W --mode=eval   # checkpoint -> eval_results.*
    python -m vision_jax.main --config=configs/classify.py:small --workdir=W --mode=explain

The config is checked (model name, data source, channels, labels vs num_classes, loss, optimizer,
batch size) in plain Python before the workdir is created. Results in the workdir:
results.md / results.json / results.csv (summary metrics), per_class.csv, confusion_matrix.png,
predictions.npz (labels, predictions, probabilities, logits; load with allow_pickle=False),
metrics.jsonl and checkpoints/. The report states the majority-class baseline next to the accuracy.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import report as report_lib
from vision_jax.data import classification as data_lib
from vision_jax.losses import classification as losses
from vision_jax.metrics import classification as cm
from vision_jax.models import get_classifier
from vision_jax.tasks.pinn_model import apply_model
from vision_jax.train import loop, state as state_lib

LOSSES = ("ce", "focal")


@dataclasses.dataclass
class Setup:
  """Everything the modes share, built by `setup` after validation."""
  model: object
  train: data_lib.ClassificationData
  num_classes: int
  class_names: tuple[str, ...]
  channels: int
  image_hw: tuple[int, int]
  class_weights: np.ndarray | None


# ----------------------------------------------------------------------------- validation
def load_split(config, split: str) -> data_lib.ClassificationData:
  """One split of config.data.source at config.data.image_size (0: native size)."""
  d = config.data
  source = str(d.source)
  kw = {}
  if source.startswith("synthetic:") and int(d.get("num_per_class", 0)):
    kw["num_per_class"] = int(d.num_per_class)
  size = int(d.image_size) or None
  return data_lib.load_classification(source, split, image_size=size, seed=int(d.get("seed", 0)), **kw)


def parse_floats(text: str, name: str) -> list[float]:
  """'0.1, 0.5' -> [0.1, 0.5]; ValueError naming the field for a bad entry."""
  out = []
  for item in str(text).split(","):
    if item.strip():
      try:
        out.append(float(item))
      except ValueError:
        raise ValueError(f"{name}={text!r} has a non-number {item.strip()!r}; expected comma-separated numbers") from None
  return out


def class_weights_of(config, train: data_lib.ClassificationData, num_classes: int) -> np.ndarray | None:
  """config.loss.class_weights: "" -> None, "balanced" -> N / (K n_k) from the train labels, or K numbers."""
  spec = str(config.loss.get("class_weights", "") or "").strip()
  if not spec:
    return None
  if spec == "balanced":
    counts = np.bincount(train.labels, minlength=num_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return w.astype(np.float32)
  w = np.asarray(parse_floats(spec, "loss.class_weights"), np.float32)
  if w.shape != (num_classes,) or np.any(w < 0):
    raise ValueError(f"loss.class_weights={spec!r} gives {w.size} values; expected {num_classes} "
                     "nonnegative numbers (one per class), 'balanced' or ''")
  return w


def check_labels_fit(data: data_lib.ClassificationData, num_classes: int, where: str) -> None:
  """ValueError naming the label if `data` holds a label outside [0, num_classes)."""
  if data.labels.size and int(data.labels.max()) >= num_classes:
    bad = int(data.labels.max())
    raise ValueError(f"{where} has label {bad}, outside [0, {num_classes}) for model.num_classes={num_classes}; "
                     f"set model.num_classes >= {bad + 1} (or 0 to take it from the data)")


def check_images_match(data: data_lib.ClassificationData, s: Setup, where: str) -> None:
  """ValueError if a split's images differ in channels or size from the training split."""
  if data.images.shape[-1] != s.channels:
    raise ValueError(f"{where} has {data.images.shape[-1]}-channel images; the model was built for "
                     f"{s.channels} channels (training split)")
  if tuple(data.images.shape[1:3]) != s.image_hw:
    raise ValueError(f"{where} has images of size {data.images.shape[1:3]}; expected {s.image_hw} as in training "
                     "(set data.image_size)")


def setup(config) -> Setup:
  """Validates the config and builds model and training data; raises ValueError (one line) before
  anything is written. Checks: loss, optimizer, model name and fields, data source, channel count
  vs model.in_channels, labels vs model.num_classes, batch size, and that the model accepts the
  input (shape-only trace through jax.eval_shape)."""
  if config.loss.kind not in LOSSES:
    raise ValueError(f"unknown loss.kind {config.loss.kind!r}; valid: {', '.join(LOSSES)}")
  if not 0.0 <= float(config.loss.label_smoothing) < 1.0:
    raise ValueError(f"loss.label_smoothing={config.loss.label_smoothing!r} is invalid; expected 0 <= eps < 1")
  if float(config.loss.focal_gamma) < 0:
    raise ValueError(f"loss.focal_gamma={config.loss.focal_gamma!r} is invalid; expected >= 0")
  if int(config.train.steps) < 1:
    raise ValueError(f"train.steps={config.train.steps!r} is invalid; expected >= 1")
  state_lib.make_optimizer(config.optim, int(config.train.steps))  # unknown optimizer / schedule
  name = str(config.model.name)
  get_classifier(name, 2)  # unknown name -> ValueError listing the registry, before loading data
  train = load_split(config, "train")
  channels = int(train.images.shape[-1])
  want = int(config.model.get("in_channels", 0) or 0)
  if want and want != channels:
    raise ValueError(f"model.in_channels={want} but data source {config.data.source!r} has {channels}-channel "
                     f"images; set model.in_channels={channels} (or 0 to take it from the data)")
  num_classes = int(config.model.get("num_classes", 0) or 0) or train.num_classes
  if num_classes < 2:
    raise ValueError(f"model.num_classes={num_classes} is invalid; a classifier needs at least 2 classes")
  check_labels_fit(train, num_classes, f"training split of {config.data.source!r}")
  class_names = tuple(train.class_names) + tuple(str(k) for k in range(train.num_classes, num_classes))
  kwargs = dict(config.model.get("kwargs", {}) or {})
  try:
    model = get_classifier(name, num_classes, in_channels=channels, **kwargs)
  except TypeError as e:
    raise ValueError(f"config.model.kwargs {sorted(kwargs)} has a field model {name!r} does not take ({e}); "
                     f"pick the model with the config argument (configs/classify.py:model={name}) so its fields "
                     "are filled in") from None
  example = jnp.zeros((1, *train.images.shape[1:]), jnp.float32)
  try:  # the model's own input checks (channels, minimum size), on shapes only
    jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), example)
  except ValueError as e:
    raise ValueError(f"{e} (data {config.data.source!r} at data.image_size={config.data.image_size})") from None
  bs = int(config.data.batch_size)
  if not 1 <= bs <= len(train):
    raise ValueError(f"data.batch_size={bs} is invalid for {len(train)} training images; expected 1..{len(train)}")
  return Setup(model, train, num_classes, class_names, channels, tuple(train.images.shape[1:3]),
               class_weights_of(config, train, num_classes))


def load_eval_split(config, s: Setup, split: str) -> data_lib.ClassificationData:
  """A non-training split, checked against the model (labels, channels, size)."""
  data = load_split(config, split)
  where = f"{split} split of {config.data.source!r}"
  check_labels_fit(data, s.num_classes, where)
  check_images_match(data, s, where)
  return data


# ----------------------------------------------------------------------------- training
class _WithRngs:
  """Forwards model.apply with `rngs` (dropout) so pinn_model.apply_model serves every classifier."""

  def __init__(self, model, rngs):
    self.model, self.rngs = model, rngs

  def apply(self, variables, *args, **kw):
    return self.model.apply(variables, *args, rngs=self.rngs, **kw)


def classification_loss(logits, labels, lcfg, class_weights):
  """Mean loss of config.loss.kind ("ce" with label smoothing / class weights, or "focal")."""
  if lcfg.kind == "focal":
    alpha = None if class_weights is None else jnp.asarray(class_weights)
    return losses.focal_loss(logits, labels, gamma=float(lcfg.focal_gamma), alpha=alpha)
  return losses.softmax_cross_entropy(logits, labels, label_smoothing=float(lcfg.label_smoothing),
                                      class_weights=class_weights)


def make_loss_fn(model, config, class_weights):
  """Trainer loss_fn(params, batch_stats, batch, rng) -> (loss, ({accuracy}, new_batch_stats))."""
  lcfg = config.loss

  def loss_fn(params, batch_stats, batch, rng):
    logits, _, new_bs = apply_model(_WithRngs(model, {"dropout": rng}), params, batch_stats, batch["image"], True)
    loss = classification_loss(logits, batch["label"], lcfg, class_weights)
    acc = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return loss, ({"accuracy": acc}, new_bs)

  return loss_fn


def make_batch_fn(train: data_lib.ClassificationData, config):
  """batch_fn(step) -> {"image", "label"}: a pure function of step. Epoch e = step // (N // B)
  visits the examples in the order np.random.default_rng([seed, e]).permutation(N); augmentation
  (shifts/flips) draws from np.random.default_rng([seed, e, i]) for the i-th batch of the epoch."""
  d = config.data
  n, bs = len(train), int(d.batch_size)
  per_epoch = n // bs
  seed = int(config.seed)

  @functools.lru_cache(maxsize=2)
  def order(epoch):
    return np.random.default_rng([seed, epoch]).permutation(n)

  def batch_fn(step):
    epoch, i = divmod(int(step), per_epoch)
    idx = order(epoch)[i * bs:(i + 1) * bs]
    images = train.images[idx]
    if bool(d.augment):
      images = data_lib.simple_augment(images, np.random.default_rng([seed, epoch, i]), max_shift=int(d.max_shift),
                                       hflip=bool(d.hflip), vflip=bool(d.vflip))
    return {"image": images, "label": train.labels[idx]}

  return batch_fn


def make_problem(config, s: Setup, val: data_lib.ClassificationData | None = None) -> loop.TrainProblem:
  """The TrainProblem for the generic loop (eval_fn: accuracy on `val` when given)."""
  eval_fn = None
  if val is not None:
    def eval_fn(state, step):
      logits = predict_logits(s.model, state, val.images, int(config.eval.batch_size))
      return {"val_accuracy": float(np.mean(logits.argmax(-1) == val.labels))}
  example = np.zeros((1, *s.train.images.shape[1:]), np.float32)
  return loop.TrainProblem(s.model, example, make_loss_fn(s.model, config, s.class_weights),
                           make_batch_fn(s.train, config), eval_fn)


@functools.partial(jax.jit, static_argnames=("model",))
def _logits(model, params, batch_stats, x):
  return apply_model(model, params, batch_stats, x, False)[0]


def predict_logits(model, state: dict, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """(N, K) float32 logits of the trained model (eval mode: BatchNorm running statistics).
  The last batch is zero-padded to `batch_size` so one program serves every batch."""
  n = images.shape[0]
  bs = max(1, min(int(batch_size), n))
  out = []
  for start in range(0, n, bs):
    chunk = images[start:start + bs]
    pad = bs - chunk.shape[0]
    if pad:
      chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
    out.append(np.asarray(_logits(model, state["params"], state.get("batch_stats", {}), jnp.asarray(chunk)))[:bs - pad])
  return np.concatenate(out).astype(np.float32)


# ----------------------------------------------------------------------------- metrics
def softmax(logits: np.ndarray) -> np.ndarray:
  z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=-1, keepdims=True)


def compute_metrics(labels: np.ndarray, probs: np.ndarray, thresholds=()) -> dict:
  """All metrics of one evaluation from labels (N,) and class probabilities (N, K).

  Returns {"summary": {name: float}, "per_class": {precision, recall, f1, support, roc_auc: (K,)},
  "confusion_matrix": (K, K) ints (rows true, columns predicted), "threshold_sweep": rows for
  binary tasks}. ROC-AUC is one-vs-rest per class (NaN for a class absent from `labels`, or the only
  one present); macro ROC-AUC averages the defined ones; for K = 2 it is the AUC of p(class 1).
  """
  y = np.asarray(labels).astype(np.int32)
  probs = np.asarray(probs, np.float64)
  k = probs.shape[1]
  pred = probs.argmax(-1).astype(np.int32)
  f = lambda v: float(np.asarray(v))
  s = {"accuracy": f(cm.accuracy(y, pred, k)), "balanced_accuracy": f(cm.balanced_accuracy(y, pred, k))}
  for avg in ("macro", "weighted"):
    p, r, f1 = cm.precision_recall_f1(y, pred, k, avg)
    s.update({f"precision_{avg}": f(p), f"recall_{avg}": f(r), f"f1_{avg}": f(f1)})
  s["mcc"] = f(cm.matthews_corrcoef(y, pred, k))
  s["cohen_kappa"] = f(cm.cohen_kappa(y, pred, k))
  for top in (2, 5):
    if top < k:
      s[f"top{top}_accuracy"] = f(cm.top_k_accuracy(y, probs, top))
  s["log_loss"] = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-15, None))))
  aucs = np.full(k, np.nan)
  for c in range(k):
    pos = (y == c).astype(np.int32)
    if 0 < pos.sum() < len(y):
      aucs[c] = f(cm.roc_auc(pos, probs[:, c]))
  if k == 2 and np.isfinite(aucs[1]):
    s["roc_auc"] = float(aucs[1])
  else:
    s["roc_auc_macro"] = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")
  p, r, f1 = (np.asarray(v, np.float64) for v in cm.precision_recall_f1(y, pred, k, None))
  out = {"summary": s,
         "per_class": {"precision": p, "recall": r, "f1": f1, "support": np.bincount(y, minlength=k), "roc_auc": aucs},
         "confusion_matrix": np.asarray(cm.confusion_matrix(y, pred, k)),
         "threshold_sweep": []}
  if k == 2 and len(thresholds) and len(np.unique(y)) == 2:
    out["threshold_sweep"] = [dict(zip(("threshold", "tpr", "fpr", "precision", "f1"), row))
                              for row in cm.threshold_sweep(y, probs[:, 1], thresholds)]
  return out


# ----------------------------------------------------------------------------- reports
def confusion_png(path: str, matrix: np.ndarray, class_names, title: str) -> None:
  """Confusion matrix heatmap (rows true, columns predicted) with counts, as a PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  k = matrix.shape[0]
  side = min(1.5 + 0.55 * k, 14)
  fig, ax = plt.subplots(figsize=(side + 1, side))
  im = ax.imshow(matrix, cmap="Blues")
  fig.colorbar(im, ax=ax, fraction=0.046)
  ax.set_xticks(range(k), [str(c) for c in class_names], rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
  ax.set_yticks(range(k), [str(c) for c in class_names])
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  ax.set_title(title, fontsize=10)
  if k <= 30:
    hi = matrix.max() if matrix.size else 0
    for i in range(k):
      for j in range(k):
        ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                color="white" if matrix[i, j] > hi / 2 else "black")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write_results(workdir: str, prefix: str, config, s: Setup, data, logits: np.ndarray, step: int,
                  split: str, info: dict | None = None) -> dict:
  """Computes the metrics of `logits` on `data` and writes {prefix}results.md/json/csv,
  {prefix}per_class.csv, {prefix}confusion_matrix.png and {prefix}predictions.npz."""
  probs = softmax(logits)
  thresholds = parse_floats(config.eval.get("thresholds", ""), "eval.thresholds")
  m = compute_metrics(data.labels, probs, thresholds)
  summary, per = m["summary"], m["per_class"]
  counts = np.bincount(data.labels, minlength=s.num_classes)
  majority = float(counts.max() / max(counts.sum(), 1))
  name = str(config.model.name)
  np.savez(os.path.join(workdir, f"{prefix}predictions.npz"), labels=data.labels.astype(np.int32),
           predictions=probs.argmax(-1).astype(np.int32), probabilities=probs.astype(np.float32),
           logits=logits.astype(np.float32), class_names=np.asarray(s.class_names, dtype=str))
  class_rows = [[s.class_names[c], per["precision"][c], per["recall"][c], per["f1"][c], int(per["support"][c]),
                 per["roc_auc"][c]] for c in range(s.num_classes)]
  class_header = ["class", "precision", "recall", "f1", "support", "roc_auc"]
  md = [f"# Classification: {name} on `{config.data.source}` ({split} split)", "",
        f"Checkpoint step {step}; {len(data)} {split} images never used in training; "
        f"{s.num_classes} classes; majority-class baseline accuracy {majority:.3f}, "
        f"uniform chance {1 / s.num_classes:.3f}.", "",
        report_lib.markdown_table(["metric", "value"], [[k, v] for k, v in summary.items()], digits=4), "",
        "## Per class", "", report_lib.markdown_table(class_header, class_rows, digits=3), "",
        "## Confusion matrix (rows: true, columns: predicted)", "",
        report_lib.markdown_table(["true \\ pred"] + list(s.class_names),
                              [[s.class_names[i]] + [int(v) for v in row] for i, row in enumerate(m["confusion_matrix"])]),
        ""]
  if m["threshold_sweep"]:
    md += [f"## Threshold sweep on p({s.class_names[1]})", "",
           report_lib.markdown_table(["threshold", "tpr", "fpr", "precision", "f1"],
                                 [list(r.values()) for r in m["threshold_sweep"]], digits=3), ""]
  if info:
    md += ["## Run", ""] + [f"- {k}: {report_lib.format_value(v, 4)}" for k, v in info.items()] + [""]
  text = "\n".join(md)
  report_lib.write_text_atomic(os.path.join(workdir, f"{prefix}results.md"), text)
  report_lib.write_csv(os.path.join(workdir, f"{prefix}results.csv"), ["metric", "value"],
                   [[k, v] for k, v in summary.items()])
  report_lib.write_csv(os.path.join(workdir, f"{prefix}per_class.csv"), class_header, class_rows)
  result = {"task": "classify", "model": name, "data": str(config.data.source), "split": split, "step": step,
            "num_examples": len(data), "num_classes": s.num_classes, "class_names": list(s.class_names),
            "majority_baseline_accuracy": majority, "metrics": summary,
            "per_class": [dict(zip(class_header, row)) for row in class_rows],
            "confusion_matrix": m["confusion_matrix"], "threshold_sweep": m["threshold_sweep"], "info": info or {}}
  report_lib.write_json(os.path.join(workdir, f"{prefix}results.json"), result)
  confusion_png(os.path.join(workdir, f"{prefix}confusion_matrix.png"), m["confusion_matrix"], s.class_names,
                f"{name} on {config.data.source} ({split}): accuracy {summary['accuracy']:.3f}")
  print(text)
  print(f"wrote {workdir}/{prefix}results.md, .json, .csv, {prefix}per_class.csv, {prefix}confusion_matrix.png, "
        f"{prefix}predictions.npz")
  return result


# ----------------------------------------------------------------------------- modes
def train(config, workdir: str):
  """Trains config.model on the train split (generic loop; resumes), then evaluates on config.eval.split."""
  s = setup(config)
  split = str(config.eval.split)
  test = load_eval_split(config, s, split)
  val = load_eval_split(config, s, "val") if int(config.train.get("eval_every", 0)) else None
  os.makedirs(workdir, exist_ok=True)
  res = loop.fit(make_problem(config, s, val), config, workdir, desc=f"classify-{config.model.name}")
  logits = predict_logits(s.model, res.state, test.images, int(config.eval.batch_size))
  info = {"train_images": len(s.train), "train_steps": int(config.train.steps),
          "train_seconds_this_run": res.seconds, "resumed_from_step": res.start_step,
          "parameters": state_lib.count_params(res.state["params"]),
          **{f"final_train_{k}": v for k, v in res.metrics.items()}}
  return write_results(workdir, "", config, s, test, logits, int(config.train.steps), split, info)


def restore(config, workdir: str, s: Setup):
  """(state, step) of the newest checkpoint in workdir for the model of `s`."""
  problem = loop.TrainProblem(s.model, np.zeros((1, *s.train.images.shape[1:]), np.float32), None, None)
  return loop.restore_state(problem, config, workdir)


def eval(config, workdir: str):  # noqa: A001 (mode name)
  """Evaluates the newest checkpoint on config.eval.split; writes eval_results.* and eval_predictions.npz."""
  s = setup(config)
  split = str(config.eval.split)
  data = load_eval_split(config, s, split)
  state, step = restore(config, workdir, s)
  logits = predict_logits(s.model, state, data.images, int(config.eval.batch_size))
  return write_results(workdir, "eval_", config, s, data, logits, int(step), split)


def report(config, workdir: str):
  """--mode=report: rewrites the evaluation report from the checkpoint (same as eval)."""
  return eval(config, workdir)


def explain(config, workdir: str):
  """Attribution maps, overlays and sanity/faithfulness checks (see classify_explain.py)."""
  from vision_jax.tasks import classify_explain
  return classify_explain.run(config, workdir)

