"""The slides' networks (seed 003) at 64 x 64, and a transfer wrapper for pretrained backbones.

CNN-1 (slides): [Conv 3x3 ReLU (32) -> MaxPool 2] -> [Conv (64) -> MaxPool] -> [Conv (128) -> MaxPool]
  -> Flatten -> Dense(dense) ReLU -> Dropout 0.5 -> Dense(2). Keras defaults: "valid" padding,
  glorot-uniform kernels, zero biases. `input_scale` multiplies the input first: 255 feeds raw 0-255
  pixels (the slides' CNN-1, whose loss starts near 9.9 and ends at ln 2, i.e. a constant prediction).
CNN-2 (slides): CNN-1 plus BatchNorm after each conv and after the Dense layer and Dropout 0.25 after each
  conv block (trained with augmentation and balanced class weights).
Both put the last conv block's output in aux["feature_map"] (through self.perturb, for Grad-CAM) and the
Dense activation in aux["pre_logits"]. The slides' sigmoid unit is written as two logits with softmax
cross-entropy (the same model: p(Other) = sigmoid(z1 - z0)).

TransferNet: a registry backbone (VGG16- or ResNet50-style) whose aux["feature_map"] feeds a new head
  (flatten for VGG as in the slides' Flatten -> Dense 512 -> BN -> Dropout 0.5 -> Dense; global average
  pooling for ResNet). freeze=True runs the backbone in inference mode (BatchNorm statistics fixed), and
  the training loss sees the backbone's parameters through jax.lax.stop_gradient (`freeze_params`), which
  is Keras' `trainable = False`: with an optimizer without weight decay the backbone does not move.
  The model itself stays differentiable end to end, so explainers work on frozen models too; its
  feature map is the backbone's (perturbed there, one perturbation for Grad-CAM). Pretrained weights are
  copied in by `load_backbone` (the train loop's init_transform).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from vision_jax.models.classifiers.common import check_input, relu
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool

glorot = nn.initializers.glorot_uniform()


class SlidesCNN(nn.Module):
  """CNN-1 (batch_norm=False, block_dropout=0) or CNN-2 (batch_norm=True, block_dropout=0.25)."""
  num_classes: int = 2
  filters: tuple[int, ...] = (32, 64, 128)
  dense: int = 128
  batch_norm: bool = False
  block_dropout: float = 0.0
  input_scale: float = 1.0
  in_channels: int | None = None
  arch: str = "cnn1"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=2 ** (len(self.filters) + 2))
    x = x * self.input_scale
    bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3, name=name)  # Keras
    for i, f in enumerate(self.filters):
      x = Conv(f, (3, 3), padding="VALID", kernel_init=glorot, name=f"conv{i + 1}")(x)
      if self.batch_norm:
        x = bn(f"bn{i + 1}")(x)
      x = relu(x)
      if i == len(self.filters) - 1:
        x = self.perturb("feature_map", x)
        fmap = x
      x = max_pool(x, (2, 2), strides=(2, 2))
      if self.block_dropout:
        x = nn.Dropout(self.block_dropout, deterministic=not train)(x)
    x = x.reshape(x.shape[0], -1)
    x = nn.Dense(self.dense, kernel_init=glorot, name="dense")(x)
    if self.batch_norm:
      x = bn("bn_dense")(x)
    x = relu(x)
    pre = x
    x = nn.Dropout(0.5, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes, kernel_init=glorot, name="head")(x)
    return logits, {"feature_map": fmap, "pre_logits": pre}


class TransferNet(nn.Module):
  """backbone (a registry classifier) -> its aux["feature_map"] -> head. pool: "flatten" | "gap"."""
  backbone: nn.Module
  num_classes: int = 2
  pool: str = "gap"
  dense: int = 128
  freeze: bool = False
  arch: str = "transfer"

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.pool not in ("flatten", "gap"):
      raise ValueError(f"pool={self.pool!r} is invalid; expected flatten or gap")
    _, aux = self.backbone(x, train=train and not self.freeze)
    fmap = aux["feature_map"]
    x = fmap.reshape(fmap.shape[0], -1) if self.pool == "flatten" else jnp.mean(fmap, axis=(1, 2))
    x = nn.Dense(self.dense, name="head_dense")(x)
    x = relu(nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3, name="head_bn")(x))
    pre = x
    x = nn.Dropout(0.5, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes, name="head_out")(x)
    return logits, {"feature_map": fmap, "pre_logits": pre}


def freeze_params(params: dict) -> dict:
  """params with the "backbone" subtree behind stop_gradient (used by the loss of frozen runs)."""
  return {**params, "backbone": jax.lax.stop_gradient(params["backbone"])}


def load_backbone(pretrained: dict):
  """init_transform copying a pretrained backbone's variables ({"params", "batch_stats"?}) into a
  TransferNet's variables (under the "backbone" key); shapes must match exactly."""
  def transform(variables):
    out = {k: dict(v) for k, v in variables.items()}
    for col in ("params", "batch_stats"):
      if jax.tree.leaves(pretrained.get(col, {})) and "backbone" in out.get(col, {}):
        want = jax.tree.map(jnp.shape, out[col]["backbone"])
        got = jax.tree.map(jnp.shape, pretrained[col])
        if want != got:
          raise ValueError(f"pretrained backbone {col} do not match the TransferNet's backbone; "
                           "pretrain with the same backbone fields")
        out[col]["backbone"] = jax.tree.map(jnp.asarray, pretrained[col])
    return out
  return transform


def load_all(trained: dict):
  """init_transform replacing every variable by a trained state's (fine-tuning a frozen run's result)."""
  def transform(variables):
    out = {k: dict(v) for k, v in variables.items()}
    for col in ("params", "batch_stats"):
      if jax.tree.leaves(trained.get(col, {})) and col in out:
        if jax.tree.map(jnp.shape, out[col]) != jax.tree.map(jnp.shape, trained[col]):
          raise ValueError(f"the trained {col} do not match this model; the frozen and fine-tuned runs must share the model")
        out[col] = jax.tree.map(jnp.asarray, trained[col])
    return out
  return transform
