"""Config validation, data, loss, batches and prediction of the localization network.

Loss per batch: softmax cross-entropy of the class head + loss.box_weight * (l1_weight * L1 +
giou_weight * (1 - GIoU)) of the sigmoid box head against the ground-truth box in cxcywh fractions of
the image side (DETR's 5 and 2). The box head is our addition; loss.box_weight = 0 trains the paper's
classification-only network (its box head then stays at its initialisation).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax.data import batching, classification as data_lib
from vision_jax.data import localization  # noqa: F401  (registers localization: and voc: sources)
from vision_jax.losses import boxes as box_losses
from vision_jax.losses.classification import softmax_cross_entropy
from vision_jax.metrics import boxes as B
from vision_jax.projects.causal_localization.model import LocalizationResNet
from vision_jax.train import loop, state as state_lib
from vision_jax.train.state import apply_model

MODELS = ("localization_resnet",)


@dataclasses.dataclass
class Setup:
  model: LocalizationResNet
  train: data_lib.ClassificationData
  val: data_lib.ClassificationData
  test: data_lib.ClassificationData
  num_classes: int
  class_names: tuple[str, ...]


def load_split(config, split: str) -> data_lib.ClassificationData:
  d = config.data
  size = int(d.image_size) or None
  kw = dict(d.get("options", {}) or {})
  try:
    data = data_lib.load_classification(str(d.source), split, image_size=size, seed=int(d.seed), **kw)
  except TypeError as e:
    raise ValueError(f"data.options {sorted(kw)} has a field source {d.source!r} does not take ({e})") from None
  if "boxes" not in data.aux:
    raise ValueError(f"data source {d.source!r} has no boxes (aux['boxes']); expected a localization source "
                     "such as localization:digits or voc:ROOT")
  return data


def normalized_boxes(data: data_lib.ClassificationData) -> np.ndarray:
  """(N, 4) float32 ground-truth cxcywh as fractions of the image side (the box head's target)."""
  h, w = data.images.shape[1:3]
  scale = np.array([w, h, w, h], np.float64)
  return np.asarray(B.xyxy_to_cxcywh(data.aux["boxes"] / scale), np.float32)


def to_pixel_boxes(cxcywh, hw) -> np.ndarray:
  """Predicted cxcywh fractions (N, 4) -> xyxy pixels, clipped to the image."""
  h, w = hw
  xyxy = np.asarray(B.cxcywh_to_xyxy(np.asarray(cxcywh, np.float64))) * np.array([w, h, w, h])
  return np.clip(xyxy, 0, [w, h, w, h])


def setup(config) -> Setup:
  """Validates the config and loads the three splits (one-line ValueErrors, nothing written)."""
  if str(config.model.name) not in MODELS:
    raise ValueError(f"unknown model.name {config.model.name!r}; valid: {', '.join(MODELS)}")
  lc = config.loss
  for key in ("box_weight", "l1_weight", "giou_weight"):
    if float(lc[key]) < 0:
      raise ValueError(f"loss.{key}={lc[key]!r} is invalid; expected >= 0")
  if not 0.0 <= float(lc.label_smoothing) < 1.0:
    raise ValueError(f"loss.label_smoothing={lc.label_smoothing!r} is invalid; expected 0 <= eps < 1")
  if int(config.train.steps) < 1:
    raise ValueError(f"train.steps={config.train.steps!r} is invalid; expected >= 1")
  state_lib.make_optimizer(config.optim, int(config.train.steps))
  train, val, test = (load_split(config, s) for s in ("train", "val", "test"))
  for name, split in (("val", val), ("test", test)):
    if split.images.shape[1:] != train.images.shape[1:]:
      raise ValueError(f"{name} images have shape {split.images.shape[1:]}; expected {train.images.shape[1:]} as in training")
  num_classes = int(config.model.num_classes or 0) or train.num_classes
  if int(max(train.labels.max(), val.labels.max(), test.labels.max())) >= num_classes:
    raise ValueError(f"model.num_classes={num_classes} is smaller than the data's label range; set 0 (from data)")
  kwargs = dict(config.model.get("kwargs", {}) or {})
  try:
    model = LocalizationResNet(num_classes=num_classes, in_channels=int(train.images.shape[-1]), **kwargs)
  except TypeError as e:
    raise ValueError(f"model.kwargs {sorted(kwargs)} has a field LocalizationResNet does not take ({e})") from None
  jax.eval_shape(lambda x: model.init(jax.random.key(0), x), jnp.zeros((1, *train.images.shape[1:])))
  bs = int(config.data.batch_size)
  if not 1 <= bs <= len(train):
    raise ValueError(f"data.batch_size={bs} is invalid for {len(train)} training images; expected 1..{len(train)}")
  return Setup(model, train, val, test, num_classes, tuple(train.class_names))


def make_loss_fn(model, config):
  lc = config.loss
  box_w, l1_w, giou_w, eps = float(lc.box_weight), float(lc.l1_weight), float(lc.giou_weight), float(lc.label_smoothing)

  def loss_fn(params, batch_stats, batch, rng):
    logits, aux, new_bs = apply_model(model, params, batch_stats, batch["image"], True, rngs={"dropout": rng})
    ce = softmax_cross_entropy(logits, batch["label"], label_smoothing=eps)
    bl = box_losses.box_loss(aux["box"], batch["box"], l1_weight=l1_w, giou_weight=giou_w)
    loss = ce + box_w * bl["total"]
    acc = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    iou = B.box_iou(B.cxcywh_to_xyxy(aux["box"]), B.cxcywh_to_xyxy(batch["box"])).mean()
    return loss, ({"ce": ce, "l1": bl["l1"], "giou_loss": bl["giou"], "accuracy": acc, "iou": iou}, new_bs)

  return loss_fn


def make_batch_fn(train: data_lib.ClassificationData, config):
  """batch_fn(step): epoch e = step // (N // B) visits the images in np.random.default_rng([seed, e]).permutation(N)."""
  indices = batching.epoch_batches(len(train), int(config.data.batch_size), int(config.seed))
  boxes = normalized_boxes(train)

  def batch_fn(step):
    _, _, idx = indices(step)
    return {"image": train.images[idx], "label": train.labels[idx], "box": boxes[idx]}

  return batch_fn


@functools.partial(jax.jit, static_argnames=("model",))
def _forward(model, params, batch_stats, x):
  logits, aux, _ = apply_model(model, params, batch_stats, x, False)
  return logits, aux["box"], aux["pre_logits"]


def predict(model, state: dict, images: np.ndarray, batch_size: int = 256) -> dict:
  """{"logits" (N, K), "box" (N, 4) cxcywh fractions, "features" (N, D) pooled} in eval mode."""
  fn = lambda chunk: _forward(model, state["params"], state.get("batch_stats", {}), jnp.asarray(chunk))
  logits, box, feats = batching.predict_in_batches(fn, images, batch_size)
  return {"logits": logits.astype(np.float32), "box": box.astype(np.float64), "features": feats.astype(np.float64)}


def scores(model, state, data: data_lib.ClassificationData, batch_size: int) -> tuple[dict, dict]:
  """(prediction dict, localization_metrics on `data`)."""
  out = predict(model, state, data.images, batch_size)
  boxes = to_pixel_boxes(out["box"], data.images.shape[1:3])
  m = B.localization_metrics(out["logits"].argmax(-1), boxes, data.labels, data.aux["all_boxes"], data.aux["box_image"])
  out["pixel_boxes"] = boxes
  return out, m


def make_problem(config, s: Setup) -> loop.TrainProblem:
  bs = int(config.eval.batch_size)

  def eval_fn(state, step):
    _, m = scores(s.model, state, s.val, bs)
    return {f"val_{k}": v for k, v in m.items() if k != "iou"}

  example = np.zeros((1, *s.train.images.shape[1:]), np.float32)
  return loop.TrainProblem(s.model, example, make_loss_fn(s.model, config), make_batch_fn(s.train, config), eval_fn)


def restore(config, workdir: str, s: Setup):
  problem = loop.TrainProblem(s.model, np.zeros((1, *s.train.images.shape[1:]), np.float32), None, None)
  return loop.restore_state(problem, config, workdir, which="best" if config.train.get("select_metric", "") else "latest")
