"""What every mode of the classify task shares: config validation (`setup`), data splits, the loss,
the batch function, the TrainProblem, batched prediction and checkpoint restore.

The config is checked (model name, data source, channels, labels vs num_classes, loss, optimizer,
batch size) in plain Python before the workdir is created.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.data import batching, classification as data_lib
from vision_jax.losses import classification as losses
from vision_jax.models import get_classifier
from vision_jax.train import loop, state as state_lib
from vision_jax.train.state import apply_model

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
  kw = dict(d.get("options", {}) or {})  # per-source options (registered sources: whatever their loader takes)
  if source.startswith("synthetic:") and int(d.get("num_per_class", 0)):
    kw["num_per_class"] = int(d.num_per_class)
  size = int(d.image_size) or None
  try:
    return data_lib.load_classification(source, split, image_size=size, seed=int(d.get("seed", 0)), **kw)
  except TypeError as e:
    raise ValueError(f"data.options {sorted(kw)} has a field source {source!r} does not take ({e})") from None


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
    logits, _, new_bs = apply_model(model, params, batch_stats, batch["image"], True, rngs={"dropout": rng})
    loss = classification_loss(logits, batch["label"], lcfg, class_weights)
    acc = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return loss, ({"accuracy": acc}, new_bs)

  return loss_fn


def make_batch_fn(train: data_lib.ClassificationData, config):
  """batch_fn(step) -> {"image", "label"}: a pure function of step. Epoch e = step // (N // B)
  visits the examples in the order np.random.default_rng([seed, e]).permutation(N); augmentation
  (shifts/flips) draws from np.random.default_rng([seed, e, i]) for the i-th batch of the epoch."""
  d = config.data
  seed = int(config.seed)
  indices = batching.epoch_batches(len(train), int(d.batch_size), seed)

  def batch_fn(step):
    epoch, i, idx = indices(step)
    images = train.images[idx]
    if bool(d.augment):
      images = data_lib.simple_augment(images, np.random.default_rng([seed, epoch, i]), max_shift=int(d.max_shift),
                                       hflip=bool(d.hflip), vflip=bool(d.vflip))
    return {"image": images, "label": train.labels[idx]}

  return batch_fn


VAL_METRICS = ("accuracy", "balanced_accuracy", "mcc", "f1_macro", "roc_auc", "roc_auc_macro", "log_loss")


def validation_metrics(model, state, val: data_lib.ClassificationData, batch_size: int) -> dict:
  """{"val_<metric>": value} on the validation split (the metrics of VAL_METRICS that apply)."""
  from vision_jax.metrics.evaluation import compute_metrics, softmax
  summary = compute_metrics(val.labels, softmax(predict_logits(model, state, val.images, batch_size)))["summary"]
  return {f"val_{k}": float(summary[k]) for k in VAL_METRICS if k in summary}


def make_problem(config, s: Setup, val: data_lib.ClassificationData | None = None) -> loop.TrainProblem:
  """The TrainProblem for the generic loop (eval_fn: validation metrics on `val` when given, which
  train.select_metric can use to keep the best state and stop early)."""
  eval_fn = None
  if val is not None:
    def eval_fn(state, step):
      return validation_metrics(s.model, state, val, int(config.eval.batch_size))
  example = np.zeros((1, *s.train.images.shape[1:]), np.float32)
  return loop.TrainProblem(s.model, example, make_loss_fn(s.model, config, s.class_weights),
                           make_batch_fn(s.train, config), eval_fn)


@functools.partial(jax.jit, static_argnames=("model",))
def _logits(model, params, batch_stats, x):
  return apply_model(model, params, batch_stats, x, False)[0]


def predict_logits(model, state: dict, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """(N, K) float32 logits of the trained model (eval mode: BatchNorm running statistics).
  The last batch is zero-padded to `batch_size` so one program serves every batch."""
  fn = lambda chunk: _logits(model, state["params"], state.get("batch_stats", {}), jnp.asarray(chunk))
  return batching.predict_in_batches(fn, images, batch_size).astype(np.float32)


def restore(config, workdir: str, s: Setup):
  """(state, step) of the checkpoint the run reports: the best by train.select_metric if set, else the newest."""
  problem = loop.TrainProblem(s.model, np.zeros((1, *s.train.images.shape[1:]), np.float32), None, None)
  which = "best" if config.train.get("select_metric", "") else "latest"
  return loop.restore_state(problem, config, workdir, which=which)
