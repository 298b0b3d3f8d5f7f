"""The MedMNIST paper's base learners (seed 002 article 5, Table 2 and Section 3.2), as reconstructed
in shared/specs/seed-002-a5-a9-...md, plus its pretrained-DNN members built from the classifier
registry (from scratch: no ImageNet weights offline).

Custom CNNs (every conv 3x3 'same' with bias; ReLU; grayscale input replicated to 3 channels, as the
paper does, so the counts hold for every dataset):
  A  (Adjei_CNN5): 5 x [conv -> BN -> ReLU] (32, 64, 128, 128, 64) -> max-pool 2 -> flatten ->
     Dense 64 -> Dense 64 -> Dense n. PathMNIST: 1,123,081 parameters (BN gamma and beta counted).
  B1-B4 (Diniz): k blocks of [conv, conv, max-pool 2 'same'] with (32,32), (64,64), (128,128),
     (256,256) -> flatten -> Dense 256 -> Dense n. Path: 1,618,345 / 870,953 / 813,865 / 1,436,969.
  D1-D3 (DaSilva CNN9): k blocks of 3 x [conv -> BN -> ReLU] + max-pool 2 'same' with (32,32,64),
     (64,128,128), (256,256,512) -> flatten -> Dense 256 -> Dense n. Path: 3,242,729 / 1,896,105 /
     4,455,081.
  C1, C3 (da Silva, PathMNIST): the D1 / D3 blocks without BN, Dense 128 head: 1,635,561 / 3,402,281.
  (C2 and the OrganA / OCT C variants need the paper's Fig. 3 and cannot be rebuilt from the text.)
The activation after the BN (D) and in B's blocks and dense layers is ReLU: an assumption the
parameter counts cannot check.

DNN members: MobileNetV2 (registry, GAP -> FC head), MobileNetV3-Large without its hidden FC
layer (last_channel=0), ResNet-50, EfficientNet-B0 and DenseNet-121. At 28 x 28 their last maps are
1 x 1, so GAP -> FC is the paper's MaxPool -> Flatten -> Dense. MobileNetV3 and DenseNet inputs
are zero-padded to 32 x 32 as in the paper. Inputs are [0, 1] for every member (the paper feeds raw
0-255 pixels, and [-1, 1] to MobileNetV2).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models import get_classifier
from vision_jax.models.classifiers.common import check_input, relu
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool

DASILVA_BLOCKS = ((32, 32, 64), (64, 128, 128), (256, 256, 512))
DINIZ_BLOCKS = ((32, 32), (64, 64), (128, 128), (256, 256))


def as_rgb(x, channels: int):
  """Grayscale (C = 1) input replicated to `channels` channels; other inputs unchanged."""
  return jnp.repeat(x, channels, axis=-1) if x.shape[-1] == 1 and channels > 1 else x


def _conv(features: int, name: str):
  return Conv(features, (3, 3), padding="SAME", name=name)


def _bn(train: bool, name: str, momentum: float = 0.99):
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=1e-3, name=name)  # Keras defaults


def _head(module, x, hidden: tuple[int, ...], num_classes: int):
  """flatten -> Dense(h)-ReLU for h in hidden -> Dense(num_classes); returns (logits, aux)."""
  x = module.perturb("feature_map", x)
  fmap = x
  flat = x.reshape(x.shape[0], -1)
  h = flat
  for i, width in enumerate(hidden):
    h = relu(nn.Dense(width, name=f"dense{i + 1}")(h))
  logits = nn.Dense(num_classes, name="head")(h)
  return logits, {"feature_map": fmap, "pooled": flat, "pre_logits": h}


class AdjeiCNN5(nn.Module):
  """Model A: 5 x [conv-BN-ReLU] -> max-pool 2 -> Dense 64 -> Dense 64 -> Dense n."""
  num_classes: int = 9
  filters: tuple[int, ...] = (32, 64, 128, 128, 64)
  bn_momentum: float = 0.99
  input_channels: int = 3
  in_channels: int | None = None
  arch: str = "A"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=2)
    x = as_rgb(x, self.input_channels)
    for i, f in enumerate(self.filters):
      x = relu(_bn(train, f"bn{i + 1}", self.bn_momentum)(_conv(f, f"conv{i + 1}")(x)))
    x = max_pool(x, (2, 2), (2, 2))
    return _head(self, x, (64, 64), self.num_classes)


class DinizCNN(nn.Module):
  """Models B1-B4: `blocks` x [conv-ReLU, conv-ReLU, max-pool 2 'same'] -> Dense 256 -> Dense n."""
  num_classes: int = 9
  blocks: int = 1
  input_channels: int = 3
  in_channels: int | None = None
  arch: str = "B1"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    x = as_rgb(x, self.input_channels)
    for b, filters in enumerate(DINIZ_BLOCKS[:self.blocks]):
      for i, f in enumerate(filters):
        x = relu(_conv(f, f"block{b + 1}_conv{i + 1}")(x))
      x = max_pool(x, (2, 2), (2, 2), padding="SAME")
    return _head(self, x, (256,), self.num_classes)


class DaSilvaCNN(nn.Module):
  """Models D1-D3 (batch_norm=True, dense 256) and C1 / C3 (batch_norm=False, dense 128):
  `blocks` x [3 x (conv [-BN] -ReLU), max-pool 2 'same'] -> Dense -> Dense n."""
  num_classes: int = 9
  blocks: int = 1
  batch_norm: bool = True
  dense: int = 256
  bn_momentum: float = 0.99
  input_channels: int = 3
  in_channels: int | None = None
  arch: str = "D1"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    x = as_rgb(x, self.input_channels)
    for b, filters in enumerate(DASILVA_BLOCKS[:self.blocks]):
      for i, f in enumerate(filters):
        x = _conv(f, f"block{b + 1}_conv{i + 1}")(x)
        if self.batch_norm:
          x = _bn(train, f"block{b + 1}_bn{i + 1}", self.bn_momentum)(x)
        x = relu(x)
      x = max_pool(x, (2, 2), (2, 2), padding="SAME")
    return _head(self, x, (self.dense,), self.num_classes)


class PreparedInput(nn.Module):
  """A registry classifier behind the paper's input preparation: grayscale replicated to 3 channels,
  then zero-padded (centred) to at least `pad_to` x `pad_to`."""
  backbone: nn.Module
  pad_to: int = 0
  input_channels: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = as_rgb(x, self.input_channels)
    h, w = x.shape[1:3]
    if self.pad_to and min(h, w) < self.pad_to:
      ph, pw = max(0, self.pad_to - h), max(0, self.pad_to - w)
      x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    return self.backbone(x, train)


CNN_MEMBERS = {
    "A": lambda n: AdjeiCNN5(num_classes=n),
    **{f"B{k}": (lambda k: lambda n: DinizCNN(num_classes=n, blocks=k, arch=f"B{k}"))(k) for k in (1, 2, 3, 4)},
    "C1": lambda n: DaSilvaCNN(num_classes=n, blocks=1, batch_norm=False, dense=128, arch="C1"),
    "C3": lambda n: DaSilvaCNN(num_classes=n, blocks=3, batch_norm=False, dense=128, arch="C3"),
    **{f"D{k}": (lambda k: lambda n: DaSilvaCNN(num_classes=n, blocks=k, arch=f"D{k}"))(k) for k in (1, 2, 3)},
}
# paper name -> (registry name, fields, pad_to)
DNN_MEMBERS = {
    "MobNetV2": ("mobilenet_v2", {}, 0),
    "MobV3": ("mobilenet_v3_large", {"last_channel": 0}, 32),
    "Res50": ("resnet50", {}, 0),
    "EffB0": ("efficientnet_b0", {}, 0),
    "Dense121": ("densenet121", {}, 32),
}
# Cheap stand-ins of the same code for tests only (never in a config's member list).
TEST_MEMBERS = {"TinyMobV2": ("mobilenet_v2_tiny", {}, 0), "TinyMobV3": ("mobilenet_v3_large_tiny", {}, 32)}


def member_kind(name: str) -> str:
  """"CNN" or "DNN"; ValueError listing the members for an unknown name."""
  if name in CNN_MEMBERS:
    return "CNN"
  if name in DNN_MEMBERS or name in TEST_MEMBERS:
    return "DNN"
  raise ValueError(f"unknown ensemble member {name!r}; valid: {', '.join(list(CNN_MEMBERS) + list(DNN_MEMBERS))}")


def build_member(name: str, num_classes: int, bn_momentum: float = 0.0) -> nn.Module:
  """The Linen module of member `name` (CNN_MEMBERS or DNN_MEMBERS) with num_classes outputs.

  bn_momentum > 0 replaces the BatchNorm momentum of the members that expose it (A, D1-D3: Keras'
  0.99; MobileNetV3-Large: 0.99): short runs need a faster average (0.9) or their running statistics
  are still mostly the initial ones when evaluated. 0 keeps every model's own."""
  if member_kind(name) == "CNN":
    model = CNN_MEMBERS[name](num_classes)
  else:
    registry, fields, pad = {**DNN_MEMBERS, **TEST_MEMBERS}[name]
    backbone = get_classifier(registry, num_classes, **fields)
    if bn_momentum and hasattr(backbone, "bn_momentum"):
      backbone = backbone.clone(bn_momentum=float(bn_momentum))
    return PreparedInput(backbone, pad_to=pad)
  if bn_momentum and hasattr(model, "bn_momentum"):
    model = model.clone(bn_momentum=float(bn_momentum))
  return model
