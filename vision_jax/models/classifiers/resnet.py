"""ResNet (He et al. 2015) with basic and bottleneck blocks, torchvision layout.

Convs have no bias and are followed by BatchNorm (momentum 0.9 in Flax terms = torch 0.1,
eps 1e-5); the shortcut is a 1x1 conv + BN when the shape changes (option B), identity
otherwise. Stem: 7x7/2 pad 3 conv -> BN -> ReLU -> 3x3/2 pad 1 max-pool (or the CIFAR stem
3x3/1 conv without max-pool when `cifar_stem=True`).

`version` chooses where the bottleneck downsamples:
  "1"   : stride on the first 1x1 conv (original paper, the book's Keras code);
  "1.5" : stride on the 3x3 conv (torchvision / NVIDIA "v1.5"; default).
Both have identical parameter shapes; only the activations differ. Basic blocks always
stride on their first 3x3 conv.

Counts at 224, 1000 classes: ResNet-18 11,689,512; -34 21,797,672; -50 25,557,032;
-101 44,549,160; -152 60,192,808 (torchvision; BN scale/bias counted, running stats not).
feature_map: last stage output (N, 7, 7, 512 or 2048 at 224).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import check_choice, check_input, relu
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool

conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # torch kaiming_normal_


def _bn(train: bool, name: str, zero: bool = False):
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name,
                      scale_init=nn.initializers.zeros if zero else nn.initializers.ones)


def _conv(features: int, kernel: int, stride: int, name: str):
  pad = (kernel - 1) // 2
  return Conv(features, (kernel, kernel), (stride, stride), padding=[(pad, pad)] * 2,
              use_bias=False, kernel_init=conv_init, name=name)


class BasicBlock(nn.Module):
  """conv3x3(stride)-BN-ReLU-conv3x3-BN + shortcut, ReLU. Output channels = filters."""
  filters: int
  stride: int = 1
  version: str = "1.5"
  zero_init_residual: bool = False
  expansion = 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    y = relu(_bn(train, "bn1")(_conv(self.filters, 3, self.stride, "conv1")(x)))
    y = _bn(train, "bn2", self.zero_init_residual)(_conv(self.filters, 3, 1, "conv2")(y))
    if x.shape[-1] != self.filters or self.stride != 1:
      x = _bn(train, "downsample_bn")(_conv(self.filters, 1, self.stride, "downsample_conv")(x))
    return relu(x + y)


class Bottleneck(nn.Module):
  """1x1-BN-ReLU-3x3-BN-ReLU-1x1(4*filters)-BN + shortcut, ReLU; stride placement by version."""
  filters: int
  stride: int = 1
  version: str = "1.5"
  zero_init_residual: bool = False
  expansion = 4

  @nn.compact
  def __call__(self, x, train: bool = False):
    s1, s3 = (self.stride, 1) if self.version == "1" else (1, self.stride)
    out = self.filters * self.expansion
    y = relu(_bn(train, "bn1")(_conv(self.filters, 1, s1, "conv1")(x)))
    y = relu(_bn(train, "bn2")(_conv(self.filters, 3, s3, "conv2")(y)))
    y = _bn(train, "bn3", self.zero_init_residual)(_conv(out, 1, 1, "conv3")(y))
    if x.shape[-1] != out or self.stride != 1:
      x = _bn(train, "downsample_bn")(_conv(out, 1, self.stride, "downsample_conv")(x))
    return relu(x + y)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
  """ResNet classifier. Fields: stage_sizes (blocks per stage), block ("basic" | "bottleneck"),
  num_filters (stem/first-stage width; doubles per stage), version ("1" | "1.5"),
  cifar_stem, zero_init_residual (zero gamma of each block's last BN)."""
  num_classes: int = 1000
  stage_sizes: tuple[int, ...] = (2, 2, 2, 2)
  block: str = "basic"
  num_filters: int = 64
  version: str = "1.5"
  cifar_stem: bool = False
  zero_init_residual: bool = False
  in_channels: int | None = None
  arch: str = "resnet"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    check_choice(self.block, tuple(BLOCKS), "ResNet block")
    check_choice(self.version, ("1", "1.5"), "ResNet version")
    if self.cifar_stem:
      x = relu(_bn(train, "bn_stem")(_conv(self.num_filters, 3, 1, "conv_stem")(x)))
    else:
      x = relu(_bn(train, "bn_stem")(_conv(self.num_filters, 7, 2, "conv_stem")(x)))
      x = max_pool(x, (3, 3), strides=(2, 2), padding=[(1, 1), (1, 1)])
    block_cls = BLOCKS[self.block]
    for i, n_blocks in enumerate(self.stage_sizes):
      for j in range(n_blocks):
        stride = 2 if i > 0 and j == 0 else 1
        x = block_cls(self.num_filters * 2 ** i, stride, self.version, self.zero_init_residual,
                      name=f"stage{i + 1}_block{j + 1}")(x, train)
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, name="head")(pooled)
    return logits, {"feature_map": fmap, "pre_logits": pooled}
