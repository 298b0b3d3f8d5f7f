"""The galaxy study's training runs: one registry entry per network of the slides (plus the ViT), each
trained by the generic loop in its own sub-run folder <name>-<fingerprint[:10]> (reruns read back).

Every run: softmax cross-entropy (class weights per entry), validation accuracy evaluated once per
epoch and the best epoch kept (train.select_metric = "val_accuracy", the slides' choice), then the
kept state is scored on validation (the slides' protocol: model chosen and scored on the same images)
and on the held-out test split (ours). Augmentation (rotation 20 deg, shift 0.2, zoom 0.8-1.2, flip,
nearest fill) runs inside the jitted step (vision_jax.data.augment) with the step's rng.

Transfer learning without ImageNet weights: the VGG16- and ResNet50-style backbones are pretrained on
a synthetic 10-class task (localization:digits canvases, class labels only), then
  *_frozen: new head on the frozen backbone (BatchNorm in inference mode, no gradient; Adam 1e-3);
  *_finetuned: the frozen run's final network, every layer trained at a 10x lower rate (the slides'
  ResNet50 protocol: head first, then fine-tuning).
Denoiser runs: the ResNet50 fine-tuning of the same frozen network on denoised inputs (train, val and
test all denoised with the setting tuned on validation images).
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vision_jax.data import augment
from vision_jax.losses.classification import softmax_cross_entropy
from vision_jax.metrics.evaluation import compute_metrics, softmax
from vision_jax.models import get_classifier
from vision_jax.models.classifiers import VGG, ResNet
from vision_jax.models.classifiers.lenet_alexnet_vgg import VGG_STAGES
from vision_jax.projects.galaxy_morphology import models
from vision_jax.tasks.classify import common as classify
from vision_jax.train import loop, precise_bn, state as state_lib, workdir as workdir_lib
from vision_jax.train.state import apply_model


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One network of the study. init: "" (scratch), "pretrained" (the backbone's pretraining run) or
  "frozen" (this backbone's frozen run, fine-tuning)."""
  name: str
  arch: str                     # cnn1 | cnn2 | vgg16 | resnet50 | vit
  label: str
  input_scale: float = 1.0
  augment: bool = False
  class_weights: str = ""
  optim: str = "adam"
  lr: float = 1e-3
  schedule: str = "constant"
  weight_decay: float = 0.0
  init: str = ""
  freeze: bool = False
  epochs_key: str = "epochs"    # config.study field with the epoch count


RUNS = {r.name: r for r in (
    RunSpec("cnn1_raw", "cnn1", "CNN-1, raw 0-255 inputs (the slides' setup)", input_scale=255.0),
    RunSpec("cnn1_scaled", "cnn1", "CNN-1, inputs in [0, 1]"),
    RunSpec("cnn2", "cnn2", "CNN-2 (BatchNorm, dropout, augmentation, class weights)", augment=True,
            class_weights="balanced"),
    RunSpec("vgg16_frozen", "vgg16", "VGG16-style, frozen backbone (synthetic pretraining; no ImageNet weights)", init="pretrained",
            freeze=True),
    RunSpec("vgg16_finetuned", "vgg16", "VGG16-style, fine-tuned (no ImageNet weights)", init="frozen", lr=1e-4),
    RunSpec("resnet50_frozen", "resnet50", "ResNet50-style, frozen backbone (synthetic pretraining; no ImageNet weights)",
            init="pretrained", freeze=True),
    RunSpec("resnet50_finetuned", "resnet50", "ResNet50-style, fine-tuned (no ImageNet weights)", init="frozen", lr=1e-4),
    RunSpec("vit", "vit", "ViT (patch 8, dim 64, 4 heads, 4 layers; ours: the title's transformer)", optim="adamw",
            schedule="warmup_cosine", weight_decay=1e-4, augment=True),
)}
PRETRAIN = {"vgg16": "pretrain_vgg16", "resnet50": "pretrain_resnet50"}


def backbone(arch: str, num_classes: int, width: float):
  """The registry backbone of a transfer arch (width-reduced for CPU). The VGG16-style one is initialized by
  `pretrain_init` (He). The ResNet50-style one starts each
  residual block as the identity (zero last-BatchNorm scale, Goyal et al. 2017): only the pretraining sees
  that initialization, the transfer runs copy the pretrained weights in."""
  if arch == "vgg16":  # the pretext head (fc 64-64-10) gets no dropout: see PRETRAIN_OPTIM; transfer discards it
    return VGG(num_classes=num_classes, stage_sizes=VGG_STAGES["vgg16"], width_multiplier=width, fc_dim=64,
               pool_size=1, dropout_rate=0.0, arch="vgg16_style")
  return ResNet(num_classes=num_classes, stage_sizes=(3, 4, 6, 3), block="bottleneck",
                num_filters=max(4, int(round(64 * width))), zero_init_residual=True, arch="resnet50_style")


# The synthetic pretraining's optimizer per backbone (issue 14). The ResNet50-style backbone (16 bottlenecks
# of 8-64 channels) stayed at chance with Adam 1e-3 + cosine: 0.10 validation accuracy after 50 steps, and
# 0.13 after 400 on 1,500 canvases, which it memorized instead (0.65 train accuracy). Probes on the pretraining
# validation canvases (8,000 training canvases, 800 steps): 0.82 with Adam 3e-3, a 10 % linear warm-up then
# cosine, and the zero-initialized residual branches; 0.19 with LAMB 1e-2 one-cycle; at 400 steps on 6,000,
# 0.20 without the zero initialization vs 0.40 with it. The VGG16-style backbone (no BatchNorm) stayed at ln 10
# with flax's LeCun init, which fades the signal 1e-4-fold over 13 ReLU convs (see he_normal_relu_layers), and with
# dropout 0.5 on its 64-unit pretext head. Probes (Adam, 10 % warm-up cosine, batch 32): 256 canvases, 200
# steps, train loss 2.29 LeCun without dropout, 2.28 He with dropout, 1.37 He without; 8,000 canvases, 600
# steps, He without dropout: validation accuracy 0.29 at 1e-3, 0.36 at 3e-4 (both at 2.30 until step ~300).
PRETRAIN_OPTIM = {
    "resnet50": {"name": "adam", "lr": 3e-3, "schedule": "warmup_cosine", "warmup_fraction": 0.1},
    "vgg16": {"name": "adam", "lr": 3e-4, "schedule": "warmup_cosine", "warmup_fraction": 0.1},
}


def he_normal_relu_layers(variables: dict) -> dict:
  """VGG16-style init_transform: every kernel followed by a ReLU (the 13 convs, fc1, fc2) times sqrt(2).

  flax's default kernel init is LeCun normal, variance_scaling(1, fan_in, truncated normal); sqrt(2) times a
  draw of it is a draw of He normal, variance_scaling(2, fan_in, truncated normal) (He et al. 2015). Under
  LeCun init each ReLU halves the activations' second moment: 1e-4 of the first conv's after 13 convs, logits
  with std 0.004, and the pretraining stayed at ln 10 (issue 14). fc3 (the logits) keeps LeCun."""
  params = jax.tree_util.tree_map_with_path(
      lambda path, a: a * np.sqrt(2.0).astype(a.dtype)
      if path[-1].key == "kernel" and "fc3" not in jax.tree_util.keystr(path) else a, variables["params"])
  return {**variables, "params": params}


PRETRAIN_INIT = {"vgg16": "he_normal (fan_in) before ReLUs", "resnet50": "flax default, zero-init residual branches"}


def pretrain_init(arch: str):
  """init_transform of the pretraining of `arch` (None: the module's own initializers)."""
  return he_normal_relu_layers if arch == "vgg16" else None


def pretrain_optim(arch: str, steps: int) -> dict:
  """config.optim of the pretraining of `arch` over `steps` steps."""
  o = PRETRAIN_OPTIM[arch]
  out = {"name": o["name"], "lr": o["lr"], "schedule": o["schedule"], "weight_decay": 0.0, "grad_clip": 0.0}
  if o["warmup_fraction"]:
    out["warmup_steps"] = max(1, int(steps * o["warmup_fraction"]))
  return out


def build_model(arch: str, sizes, *, input_scale: float = 1.0, freeze: bool = False, pretrain_classes: int = 10):
  """Flax module of `arch` (2 classes); sizes: config.model (dense, width, vit fields)."""
  if arch in ("cnn1", "cnn2"):
    bn = arch == "cnn2"
    return models.SlidesCNN(num_classes=2, dense=int(sizes.dense), batch_norm=bn, block_dropout=0.25 if bn else 0.0,
                            input_scale=float(input_scale), in_channels=3, arch=arch)
  if arch in ("vgg16", "resnet50"):
    return models.TransferNet(backbone=backbone(arch, pretrain_classes, float(sizes.width)), num_classes=2,
                              pool="flatten" if arch == "vgg16" else "gap", dense=int(sizes.dense), freeze=freeze,
                              arch=f"{arch}_transfer")
  if arch == "vit":
    v = sizes.vit
    return get_classifier("vit", 2, patch_size=int(v.patch_size), width=int(v.width), depth=int(v.depth),
                          num_heads=int(v.num_heads), mlp_dim=int(v.mlp_dim), in_channels=3)
  raise ValueError(f"unknown arch {arch!r}; valid: cnn1, cnn2, vgg16, resnet50, vit")


def sub_config(config, name: str, steps: int, steps_per_epoch: int, optim: dict, extra: dict) -> ml_collections.ConfigDict:
  """The config of one sub-run: the project config's run fields + this run's optimizer, steps and fields."""
  c = ml_collections.ConfigDict()
  c.project = "galaxy_morphology.sub"
  c.seed = int(config.seed)
  c.run = ml_collections.ConfigDict({"name": name, **extra})
  c.data_key = str(config.data_key) if "data_key" in config else ""
  c.optim = ml_collections.ConfigDict(optim)
  c.train = ml_collections.ConfigDict({
      "steps": int(steps), "log_every": max(1, steps_per_epoch // 2), "checkpoint_every": steps_per_epoch,
      "eval_every": steps_per_epoch, "keep_checkpoints": 1, "progress": bool(config.train.progress),
      "select_metric": "val_accuracy", "select_mode": "max", "patience": int(config.train.patience)})
  for key in ("mesh", "distributed", "tensorboard", "resume"):
    c[key] = config[key]
  c.eval = ml_collections.ConfigDict({"batch_size": int(config.eval.batch_size)})
  return c


def make_loss_fn(model, class_weights, augment_on: bool, aug, freeze: bool):
  def loss_fn(params, batch_stats, batch, rng):
    k_aug, k_drop = jax.random.split(rng)
    x = batch["image"]
    if augment_on:
      x = augment.random_affine(k_aug, x, rotation_deg=float(aug.rotation_deg), shift=float(aug.shift),
                                zoom=(float(aug.zoom_lo), float(aug.zoom_hi)), hflip=bool(aug.hflip))
    p = models.freeze_params(params) if freeze else params
    logits, _, new_bs = apply_model(model, p, batch_stats, x, True, rngs={"dropout": k_drop})
    loss = softmax_cross_entropy(logits, batch["label"], class_weights=class_weights)
    acc = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return loss, ({"accuracy": acc}, new_bs)
  return loss_fn


def _batch_fn(train, batch_size: int, seed: int):
  cfg = ml_collections.ConfigDict({"seed": seed, "data": {"batch_size": batch_size, "augment": False}})
  return classify.make_batch_fn(train, cfg)


def fit_run(sub, folder: str, model, train, val, *, class_weights=None, augment_on=False, aug=None, freeze=False,
            init_transform=None, batch_size: int = 32, inference_bn: bool = False) -> tuple[dict, int, dict]:
  """Trains one sub-run in `folder` (resumes) and returns (best state, its step, fit info).

  inference_bn: every validation (best-epoch selection) and the returned state use `inference_bn_state`."""
  example = np.zeros((1, *train.images.shape[1:]), np.float32)
  bs_eval = int(sub.eval.batch_size)
  recal = (lambda st: inference_bn_state(model, st, train.images, batch_size=batch_size, seed=int(sub.seed))) \
      if inference_bn else (lambda st: st)

  def eval_fn(state, step):
    return classify.validation_metrics(model, recal(state), val, bs_eval)

  problem = loop.TrainProblem(model, example, make_loss_fn(model, class_weights, augment_on, aug, freeze),
                              _batch_fn(train, batch_size, int(sub.seed)), eval_fn, init_transform=init_transform)
  workdir_lib.prepare(sub, folder)
  res = loop.fit(problem, sub, folder, desc=sub.run.name)
  state, step = loop.restore_state(problem, sub, folder, which="best")
  state = recal(state)
  return state, int(step), {"train_seconds": res.seconds, "parameters": state_lib.count_params(state["params"]),
                            "best_val_accuracy": res.best["value"] if res.best else None,
                            "stopped_early": bool(res.best and res.best["stopped_early"])}


INFERENCE_BN_BATCHES = 16  # training batches (no augmentation) averaged for the BatchNorm statistics


def needs_inference_bn(arch: str) -> bool:
  """CNN-2 puts Dropout(0.25) before the next conv + BatchNorm: its running averages, gathered with dropout
  on, do not match the eval-mode inputs (the dropout / BatchNorm variance shift, Li et al. 2019). The
  transfer heads put BatchNorm before their dropout, CNN-1 and the ViT have no BatchNorm."""
  return arch == "cnn2"


def inference_bn_state(model, state: dict, images, num_batches: int = INFERENCE_BN_BATCHES, batch_size: int = 32,
                       seed: int = 0) -> dict:
  """`state` with its BatchNorm statistics replaced by population statistics under inference conditions:
  the average over `num_batches` fixed training batches of each BatchNorm input's mean and variance in a
  train-mode pass with dropout off (precise BN, Wu & Johnson 2021, without the dropout variance shift)."""
  if not jax.tree.leaves(state.get("batch_stats", {})):
    return state
  order = np.random.default_rng([int(seed), 7]).permutation(len(images))
  k = max(1, min(int(num_batches), len(images) // batch_size))
  batches = [images[order[i * batch_size:(i + 1) * batch_size]] for i in range(k)]
  return {**state, "batch_stats": precise_bn.precise_batch_stats(model, state, batches)}


def scores(model, state, data, batch_size: int) -> dict:
  """Accuracy, per-class precision / recall / F1 and the confusion matrix of `state` on `data`."""
  logits = classify.predict_logits(model, state, data.images, batch_size)
  m = compute_metrics(data.labels, softmax(logits))
  pred = logits.argmax(-1)
  return {"accuracy": float(m["summary"]["accuracy"]), "correct": int(np.sum(pred == data.labels)), "n": len(data),
          "precision": [float(v) for v in m["per_class"]["precision"]], "recall": [float(v) for v in m["per_class"]["recall"]],
          "f1": [float(v) for v in m["per_class"]["f1"]], "support": [int(v) for v in m["per_class"]["support"]],
          "confusion": np.asarray(m["confusion_matrix"]).tolist(), "predictions": pred.astype(int).tolist(),
          "log_loss": float(m["summary"].get("log_loss", np.nan))}


def read_done(folder: str) -> dict | None:
  path = os.path.join(folder, "run.json")
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return None


def write_done(folder: str, result: dict) -> None:
  tmp = os.path.join(folder, "run.json.tmp")
  with open(tmp, "w") as f:
    json.dump(result, f)
  os.replace(tmp, os.path.join(folder, "run.json"))
