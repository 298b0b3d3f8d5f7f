"""The CNN branch: the registry MobileNetV3-Small with the paper's recipe, trained by the classify task's
pieces and the generic loop (one keyed sub-run per seed).

The paper fine-tunes ImageNet weights; no ImageNet weights exist offline, so the network is trained
from scratch (every table says so). Inputs are normalised with the ImageNet mean / std as in the
paper (`ImageNetNormalized`, inside the model, so the data stay in [0, 1]). Recipe (Section 4.2):
AdamW, lr 1e-4, weight decay 1e-4, batch 32, cross-entropy, at most 50 epochs, the checkpoint with the
best validation accuracy kept (train.select_metric = "val_accuracy"), augmentation on the training
split only: horizontal flip, rotation within +-5 degrees, mild colour jitter (`make_augmented_batch_fn`).

BatchNorm statistics: MobileNetV3's BN layers keep running averages with momentum 0.99 (torchvision's
0.01), which after the ~100 steps of a small budget still hold ~40 % of their initial values, so an
eval-mode network is far from its training-mode self (validation accuracy at chance while training
accuracy is 0.97, measured). Both the validation metric that selects the checkpoint and the final
predictions therefore use precise BN statistics (Wu & Johnson 2021): the population mean and variance
of every BN layer over the (unaugmented) training images, from one training-mode pass
(`precise_batch_stats`). A pretrained network, as in the paper, would not need this.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from scipy import ndimage

from vision_jax.data import batching
from vision_jax.metrics.evaluation import softmax
from vision_jax.tasks.classify import common as classify
from vision_jax.train import loop, workdir as workdir_lib
from vision_jax.train.state import apply_model

MOBILENET_BN_MOMENTUM = 0.99  # every BatchNorm of the registry MobileNetV3-Small (torchvision's 0.01)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSIFY_FIELDS = ("task", "seed", "model", "data", "loss", "optim", "train", "eval", "mesh", "distributed",
                   "tensorboard", "resume")


class ImageNetNormalized(nn.Module):
  """inner((x - mean) / std): the paper's ImageNet input normalisation in front of any classifier."""
  inner: nn.Module

  @nn.compact
  def __call__(self, x, train: bool = False):
    mean = jnp.asarray(IMAGENET_MEAN, x.dtype)
    std = jnp.asarray(IMAGENET_STD, x.dtype)
    return self.inner((x - mean) / std, train=train)


def jitter_colour(images: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
  """Per image brightness, contrast and saturation factors in [1 - strength, 1 + strength], clipped to [0, 1]."""
  n = images.shape[0]
  b, c, s = (rng.uniform(1 - strength, 1 + strength, (n, 1, 1, 1)) for _ in range(3))
  x = images * b
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  x = mean + (x - mean) * c
  gray = x.mean(axis=-1, keepdims=True)
  return np.clip(gray + (x - gray) * s, 0.0, 1.0).astype(np.float32)


def augment(images: np.ndarray, rng: np.random.Generator, max_degrees: float, jitter: float) -> np.ndarray:
  """Horizontal flip (p = 0.5), rotation by U(-max_degrees, max_degrees) (bilinear, reflected edges)
  and colour jitter, per image; (N, H, W, 3) -> same."""
  out = images.copy()
  flip = rng.random(len(out)) < 0.5
  out[flip] = out[flip, :, ::-1]
  if max_degrees > 0:
    for i, angle in enumerate(rng.uniform(-max_degrees, max_degrees, len(out))):
      out[i] = ndimage.rotate(out[i], angle, axes=(0, 1), reshape=False, order=1, mode="reflect")
  return jitter_colour(out, rng, jitter) if jitter > 0 else out


def make_augmented_batch_fn(train, config):
  """batch_fn(step) -> {"image", "label"}: epoch e = step // (N // B) visits the training images in
  np.random.default_rng([seed, e]).permutation(N) order; the i-th batch of epoch e is augmented with
  np.random.default_rng([seed, e, i]) (a pure function of the step, so resumed runs match)."""
  d = config.data
  seed = int(config.seed)
  indices = batching.epoch_batches(len(train), int(d.batch_size), seed)

  def batch_fn(step):
    epoch, i, idx = indices(step)
    images = train.images[idx]
    if bool(d.augment):
      images = augment(images, np.random.default_rng([seed, epoch, i]), float(d.rotate_degrees), float(d.jitter))
    return {"image": images, "label": train.labels[idx]}

  return batch_fn


@functools.partial(jax.jit, static_argnames=("model", "momentum"))
def _precise(model, params, batch_stats, images, momentum):
  _, _, new = apply_model(model, params, batch_stats, images, True, rngs={"dropout": jax.random.key(0)})
  # A training-mode pass sets new = m old + (1 - m) batch for every BN statistic: solve for the batch value.
  return jax.tree.map(lambda n, o: (n - momentum * o) / (1.0 - momentum), new, batch_stats)


def precise_batch_stats(model, state: dict, images: np.ndarray, momentum: float = 0.99) -> dict:
  """`state` with every BatchNorm running mean / variance replaced by its value over `images` (N, H, W, C)
  in one training-mode pass (the statistics each layer sees when the earlier ones normalise by batch);
  `momentum` must be the BN layers' (0.99 in the registry MobileNetV3-Small)."""
  if not jax.tree.leaves(state.get("batch_stats", {})):
    return state
  stats = _precise(model, state["params"], state["batch_stats"], jnp.asarray(images, jnp.float32), float(momentum))
  return {**state, "batch_stats": stats}


def seed_config(config, seed: int):
  """The classify config of the CNN of one seed: run seed and split seed = `seed`, train.steps =
  train.epochs x (train images // batch), one evaluation per epoch."""
  sub = ml_collections.ConfigDict({k: config[k].to_dict() if hasattr(config[k], "to_dict") else config[k]
                                   for k in CLASSIFY_FIELDS if k in config})
  sub.seed = int(seed)
  sub.data.seed = int(seed)
  n_train = len(classify.load_split(sub, "train"))
  per_epoch = max(n_train // int(config.data.batch_size), 1)
  sub.train.steps = int(config.train.epochs) * per_epoch
  sub.train.eval_every = per_epoch
  return sub


def train_seed(config, workdir: str, seed: int, progress: bool = True):
  """Trains (or resumes) the CNN of `seed` in workdir/cnn-seed<seed>-<fingerprint[:10]>; returns
  (setup with the normalised model, state of the best validation accuracy, info)."""
  sub = seed_config(config, seed)
  s = classify.setup(sub)
  s = dataclasses.replace(s, model=ImageNetNormalized(s.model))
  val = classify.load_eval_split(sub, s, "val")
  out_dir = os.path.join(workdir, f"cnn-seed{seed}-{workdir_lib.fingerprint(sub)[:10]}")
  workdir_lib.prepare(sub, out_dir)
  momentum = MOBILENET_BN_MOMENTUM

  def eval_fn(state, step):  # validation accuracy with precise BN statistics (selects the checkpoint)
    precise = precise_batch_stats(s.model, state, s.train.images, momentum)
    return classify.validation_metrics(s.model, precise, val, int(sub.eval.batch_size))

  problem = classify.make_problem(sub, s, val)
  problem = dataclasses.replace(problem, batch_fn=make_augmented_batch_fn(s.train, sub), eval_fn=eval_fn)
  if not progress:
    sub.train.progress = False
  res = loop.fit(problem, sub, out_dir, desc=f"mobilenet_v3_small seed {seed}")
  state, step = res.state, int(res.state["step"])
  if res.best:
    state, step = loop.restore_state(problem, sub, out_dir, which="best")
  state = precise_batch_stats(s.model, state, s.train.images, momentum)
  info = {"dir": os.path.basename(out_dir), "steps": int(sub.train.steps), "selected_step": int(step),
          "best_val_accuracy": None if not res.best else res.best["value"], "train_seconds": res.seconds,
          "stopped_early": bool(res.best and res.best["stopped_early"])}
  return s, state, info


def dusty_probability(s, state, images: np.ndarray, image_size: int, batch_size: int = 256) -> np.ndarray:
  """(N,) p(dusty) of images (N, S, S, 3) resized to the CNN's image_size."""
  from vision_jax.data import classification as data_lib
  x = data_lib.resize_images(images, image_size) if image_size and images.shape[1] != image_size else images
  return softmax(classify.predict_logits(s.model, state, x, batch_size))[:, 1]
