"""Xception (Chollet 2017), Keras `applications.Xception` layout.

Entry flow: 3x3/2 conv 32 (valid) -> 3x3 conv 64 (valid) -> three residual blocks of
[ReLU] SepConv-BN-ReLU-SepConv-BN-MaxPool 3/2 (widths 128, 256, 728; 1x1/2 conv + BN
shortcuts; the first block has no leading ReLU). Middle flow: `middle_blocks` (8) residual
blocks of 3x (ReLU-SepConv 728-BN). Exit flow: residual block (728, 1024) with max-pool,
then SepConv 1536-BN-ReLU, SepConv 2048-BN-ReLU, GAP, FC.
SepConv = depthwise 3x3 (feature_group_count = C, depth multiplier 1) then 1x1 pointwise,
both without bias (Keras SeparableConv2D(use_bias=False)).

Count at 299, 1000 classes: 22,855,952 = Keras' trainable parameters (Keras' total
22,910,480 adds the 54,528 BN moving means/variances, which live in `batch_stats` here).
`width_multiplier` scales every width; `middle_blocks` sets the middle-flow depth (small
CPU variants). feature_map: the final 2048-channel ReLU map (N, 10, 10, 2048 at 299).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import check_input, relu, scaled
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool


class SeparableConv(nn.Module):
  """Depthwise kxk conv (one filter per input channel) followed by a 1x1 pointwise conv."""
  features: int
  kernel: int = 3

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    x = Conv(c, (self.kernel, self.kernel), padding="SAME", feature_group_count=c,
             use_bias=False, name="depthwise")(x)
    return Conv(self.features, (1, 1), use_bias=False, name="pointwise")(x)


def _bn(train: bool, name: str):
  return nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3, name=name)


class XceptionDownBlock(nn.Module):
  """[ReLU]-SepConv(c1)-BN-ReLU-SepConv(c2)-BN-MaxPool3/2 + (1x1/2 conv(c2)-BN) shortcut."""
  c1: int
  c2: int
  pre_relu: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    shortcut = Conv(self.c2, (1, 1), (2, 2), padding="SAME", use_bias=False,
                    name="shortcut_conv")(x)
    shortcut = _bn(train, "shortcut_bn")(shortcut)
    y = relu(x) if self.pre_relu else x
    y = relu(_bn(train, "bn1")(SeparableConv(self.c1, name="sepconv1")(y)))
    y = _bn(train, "bn2")(SeparableConv(self.c2, name="sepconv2")(y))
    y = max_pool(y, (3, 3), strides=(2, 2), padding="SAME")
    return y + shortcut


class XceptionMiddleBlock(nn.Module):
  """Three ReLU-SepConv-BN units with an identity shortcut."""
  features: int

  @nn.compact
  def __call__(self, x, train: bool = False):
    y = x
    for i in range(3):
      y = _bn(train, f"bn{i + 1}")(SeparableConv(self.features, name=f"sepconv{i + 1}")(relu(y)))
    return x + y


class Xception(nn.Module):
  """Xception classifier (see module docstring)."""
  num_classes: int = 1000
  width_multiplier: float = 1.0
  middle_blocks: int = 8
  in_channels: int | None = None
  arch: str = "xception"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=5)
    s = lambda c: scaled(c, self.width_multiplier)
    x = Conv(s(32), (3, 3), (2, 2), padding="VALID", use_bias=False, name="block1_conv1")(x)
    x = relu(_bn(train, "block1_bn1")(x))
    x = Conv(s(64), (3, 3), padding="VALID", use_bias=False, name="block1_conv2")(x)
    x = relu(_bn(train, "block1_bn2")(x))
    x = XceptionDownBlock(s(128), s(128), pre_relu=False, name="block2")(x, train)
    x = XceptionDownBlock(s(256), s(256), name="block3")(x, train)
    x = XceptionDownBlock(s(728), s(728), name="block4")(x, train)
    for i in range(self.middle_blocks):
      x = XceptionMiddleBlock(s(728), name=f"block{i + 5}")(x, train)
    x = XceptionDownBlock(s(728), s(1024), name="exit_block")(x, train)
    x = relu(_bn(train, "exit_bn1")(SeparableConv(s(1536), name="exit_sepconv1")(x)))
    x = relu(_bn(train, "exit_bn2")(SeparableConv(s(2048), name="exit_sepconv2")(x)))
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, name="head")(pooled)
    return logits, {"feature_map": fmap, "pre_logits": pooled}
