"""Model, loss, batches and validation of one covid_cxr run, as pieces of the generic loop
(vision_jax.train.loop.fit via a TrainProblem) and of the classify task (load_split, predict_logits,
restore, check_images_match).

- Model: the registry Xception with one logit (`get_classifier("xception", 1, in_channels=C, ...)`); the
  classify task's setup needs >= 2 classes, so `setup` here does the same checks for one logit.
- Loss: sigmoid focal loss (vision_jax.losses.classification.sigmoid_focal_loss, equal to
  optax.sigmoid_focal_loss), alpha 0.35 on positives, gamma 2, mean over the batch.
- Batches: a pure function of the step. Epoch e visits `oversample_indices(labels, rng([seed, e]))` (all
  negatives plus the positives resampled up to the negative count: the paper's balancing, training only),
  then each batch gets a horizontal flip (p = data.hflip_p) and a rotation U(+-data.rotate_degrees) and
  the [0, 1] -> [-1, 1] scaling (`model_input`).
- Validation: MCC, accuracy, F1, AUC and log loss of p = sigmoid(logit) at threshold 0.5, for early
  stopping by train.select_metric = "val_mcc".
- Precise BatchNorm statistics: every evaluation (validation, test, Grad-CAM) uses BatchNorm population
  statistics averaged over train.precise_bn_batches fixed training batches (Wu & Johnson 2021) instead of
  the running averages, whose momentum 0.99 makes them lag the weights for hundreds of steps when training
  from scratch (the small run's validation MCC at step 300: 0.33 with the running averages, 0.93 with
  precise statistics, same weights).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.data import batching, classification as data_lib
from vision_jax.data import preprocess as pp
from vision_jax.losses import classification as losses
from vision_jax.models import get_classifier
from vision_jax.projects.covid_cxr import evaluation, sources
from vision_jax.tasks.classify import common as classify
from vision_jax.train import loop, state as state_lib
from vision_jax.train.precise_bn import precise_batch_stats
from vision_jax.train.state import apply_model

LOSSES = ("sigmoid_focal",)


def model_input(images) -> np.ndarray:
  """[0, 1] channels -> the network's [-1, 1] input (the paper's scaling), float32."""
  return (2.0 * np.asarray(images, np.float32) - 1.0).astype(np.float32)


@dataclasses.dataclass
class Setup:
  """What every mode needs after validation: the model and the training split (+ the classify Setup
  that classify.restore / check_images_match take)."""
  model: object
  train: data_lib.ClassificationData
  channels: int
  image_hw: tuple[int, int]

  @property
  def classify(self) -> classify.Setup:
    return classify.Setup(self.model, self.train, 1, sources.CLASS_NAMES, self.channels, self.image_hw, None)


def check_config(config) -> None:
  """Plain-Python checks of the fields that need no data (one-line ValueErrors)."""
  lc = config.loss
  if lc.kind not in LOSSES:
    raise ValueError(f"unknown loss.kind {lc.kind!r}; valid: {', '.join(LOSSES)}")
  if not 0.0 < float(lc.focal_alpha) < 1.0:
    raise ValueError(f"loss.focal_alpha={lc.focal_alpha!r} is invalid; expected 0 < alpha < 1")
  if float(lc.focal_gamma) < 0:
    raise ValueError(f"loss.focal_gamma={lc.focal_gamma!r} is invalid; expected >= 0")
  if int(config.model.get("num_classes", 1)) != 1:
    raise ValueError(f"model.num_classes={config.model.num_classes!r} is invalid; this project trains one "
                     "COVID logit (sigmoid), expected 1")
  if int(config.train.steps) < 1:
    raise ValueError(f"train.steps={config.train.steps!r} is invalid; expected >= 1")
  if not 0.0 <= float(config.data.hflip_p) <= 1.0 or float(config.data.rotate_degrees) < 0:
    raise ValueError(f"data.hflip_p={config.data.hflip_p!r}, data.rotate_degrees={config.data.rotate_degrees!r} "
                     "are invalid; expected a probability and degrees >= 0")
  evaluation.check_threshold(float(config.eval.threshold), "eval.threshold")
  for t in evaluation.sweep_thresholds(config):
    evaluation.check_threshold(t, "eval.sweep")
  state_lib.make_optimizer(config.optim, int(config.train.steps))  # unknown optimizer / schedule
  get_classifier(str(config.model.name), 1)  # unknown name -> ValueError listing the registry


def setup(config) -> Setup:
  """Validates the config, loads the training split (checks: both classes, channels vs
  model.in_channels, the model accepts the input, batch size)."""
  sources.register()
  check_config(config)
  train = classify.load_split(config, "train")
  sources.check_both_classes(train.labels, f"training split of {config.data.source!r}")
  channels = int(train.images.shape[-1])
  want = int(config.model.get("in_channels", 0) or 0)
  if want and want != channels:
    raise ValueError(f"model.in_channels={want} but data source {config.data.source!r} gives {channels} channels "
                     f"(data.options.channels={config.data.options.get('channels', '')!r}); set model.in_channels="
                     f"{channels}")
  kwargs = dict(config.model.get("kwargs", {}) or {})
  try:
    model = get_classifier(str(config.model.name), 1, in_channels=channels, **kwargs)
  except TypeError as e:
    raise ValueError(f"config.model.kwargs {sorted(kwargs)} has a field model {config.model.name!r} does not take "
                     f"({e})") from None
  try:
    jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False),
                   jnp.zeros((1, *train.images.shape[1:]), jnp.float32))
  except ValueError as e:
    raise ValueError(f"{e} (data {config.data.source!r} at data.image_size={config.data.image_size})") from None
  bs = int(config.data.batch_size)
  if not 1 <= bs <= len(train):
    raise ValueError(f"data.batch_size={bs} is invalid for {len(train)} training images; expected 1..{len(train)}")
  return Setup(model, train, channels, tuple(train.images.shape[1:3]))


def load_eval_split(config, s: Setup, split: str, **option_overrides) -> data_lib.ClassificationData:
  """A validation / test split (both classes present, same channels and size as training);
  option_overrides replace data.options entries (e.g. marker_splits for a marked test set)."""
  cfg = config
  if option_overrides:
    from vision_jax.config_utils import with_overrides
    cfg = with_overrides(config, **{f"data.options.{k}": v for k, v in option_overrides.items()})
  data = classify.load_split(cfg, split)
  where = f"{split} split of {config.data.source!r}"
  sources.check_both_classes(data.labels, where)
  classify.check_images_match(data, s.classify, where)
  return data


def make_loss_fn(model, config):
  """loss_fn(params, batch_stats, batch, rng) -> (mean sigmoid focal loss, ({accuracy}, new_batch_stats))."""
  alpha, gamma = float(config.loss.focal_alpha), float(config.loss.focal_gamma)

  def loss_fn(params, batch_stats, batch, rng):
    logits, _, new_bs = apply_model(model, params, batch_stats, batch["image"], True, rngs={"dropout": rng})
    z = logits[:, 0]
    y = batch["label"].astype(z.dtype)
    loss = losses.sigmoid_focal_loss(z, y, gamma=gamma, alpha=alpha)
    acc = jnp.mean(((z >= 0) == (y > 0.5)).astype(jnp.float32))
    return loss, ({"accuracy": acc}, new_bs)

  return loss_fn


def oversample_indices(labels, rng: np.random.Generator) -> np.ndarray:
  """Indices of one balanced epoch, shuffled: every negative once, the positives repeated up to the
  negative count (whole copies, then a random subset without replacement for the remainder)."""
  labels = np.asarray(labels)
  pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels != 1)
  if pos.size == 0 or neg.size == 0 or pos.size >= neg.size:
    return rng.permutation(labels.size)
  reps, extra = divmod(neg.size, pos.size)
  chosen = np.concatenate([np.tile(pos, reps), rng.choice(pos, extra, replace=False)])
  return rng.permutation(np.concatenate([neg, chosen]))


def epoch_length(labels, oversample: bool) -> int:
  labels = np.asarray(labels)
  n_neg = int(np.sum(labels != 1))
  return 2 * n_neg if oversample and 0 < labels.size - n_neg < n_neg else int(labels.size)


def make_batch_fn(train: data_lib.ClassificationData, config):
  """batch_fn(step) -> {"image": (B, H, W, C) in [-1, 1], "label": (B,)}; see the module docstring."""
  d = config.data
  seed, oversample = int(config.seed), bool(d.oversample)
  order = (lambda rng: oversample_indices(train.labels, rng)) if oversample else None
  indices = batching.epoch_batches(len(train), int(d.batch_size), seed, order,
                                   epoch_length(train.labels, oversample))

  def batch_fn(step):
    epoch, i, idx = indices(step)
    images = train.images[idx]
    if bool(d.augment):
      images = pp.flip_rotate(images, np.random.default_rng([seed, epoch, i]), max_degrees=float(d.rotate_degrees),
                              hflip=float(d.hflip_p), cval=0.0)
    return {"image": model_input(images), "label": train.labels[idx]}

  return batch_fn


def predict_probs(model, state, images, batch_size: int = 128) -> np.ndarray:
  """p(COVID) = sigmoid(logit) (N,) float64 of [0, 1] channel images (N, H, W, C)."""
  logits = classify.predict_logits(model, state, model_input(images), batch_size)[:, 0].astype(np.float64)
  return 1.0 / (1.0 + np.exp(-logits))


def validation_scalars(labels, probs) -> dict:
  """{"val_mcc", "val_accuracy", "val_f1", "val_roc_auc", "val_log_loss"} at threshold 0.5."""
  m = evaluation.binary_metrics(labels, probs, 0.5)
  p = np.clip(probs, 1e-7, 1 - 1e-7)
  log_loss = float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
  return {"val_mcc": m["mcc"], "val_accuracy": m["accuracy"], "val_f1": m["f1"], "val_roc_auc": m["auc"],
          "val_log_loss": log_loss}


def make_problem(config, s: Setup, val: data_lib.ClassificationData | None) -> loop.TrainProblem:
  """The TrainProblem; its eval_fn scores the validation split with precise BatchNorm statistics
  (train.precise_bn_batches fixed training batches; 0: the running averages)."""
  eval_fn = None
  if val is not None:
    batches = calibration_batches(s.train, config)

    def eval_fn(state, step):
      state = calibrated(s.model, state, batches)
      return validation_scalars(val.labels, predict_probs(s.model, state, val.images, int(config.eval.batch_size)))
  example = np.zeros((1, *s.train.images.shape[1:]), np.float32)
  return loop.TrainProblem(s.model, example, make_loss_fn(s.model, config), make_batch_fn(s.train, config), eval_fn)


# ----------------------------------------------------------------------------- precise BatchNorm statistics
# precise_batch_stats (vision_jax/train/precise_bn.py) over the fixed batches of calibration_batches.
def calibration_batches(train: data_lib.ClassificationData, config) -> list[np.ndarray]:
  """The fixed training batches (no augmentation) that precise BN averages over: the first
  train.precise_bn_batches batches of the balanced order of epoch 0 at seed config.seed + 1."""
  k, bs = int(config.train.get("precise_bn_batches", 0)), int(config.data.batch_size)
  order = oversample_indices(train.labels, np.random.default_rng([int(config.seed) + 1, 0]))
  k = min(k, len(order) // bs)
  return [model_input(train.images[order[i * bs:(i + 1) * bs]]) for i in range(k)]


def calibrated(model, state, batches) -> dict:
  """The state with its BatchNorm running averages replaced by precise_batch_stats (no-op without batches)."""
  if not batches or not jax.tree.leaves(state.get("batch_stats", {})):
    return state
  return {**state, "batch_stats": precise_batch_stats(model, state, batches)}
