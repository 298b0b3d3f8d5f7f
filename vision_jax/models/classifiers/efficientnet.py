"""EfficientNet-B0 (Tan & Le 2019), torchvision layout (= Keras' trainable variables).

Stem 3x3/2 conv 32 -> 16 MBConv blocks (depthwise kxk, squeeze-excitation with max(1, C_in // 4)
channels, SiLU) -> 1x1 conv 1280 -> GAP -> dropout 0.2 -> FC. Convs are bias-free and followed by
BatchNorm (eps 1e-3, torchvision); the SE 1x1 convs have biases. Residual blocks use stochastic
depth (per-sample drop of the residual branch, rate 0.2 * block / 16, active only when training).
Count at 224, 1000 classes: 5,288,548 (torchvision efficientnet_b0; Keras EfficientNetB0 has the same
trainable count, plus BatchNorm statistics and its input normalization layer).
feature_map: the 1280-channel map (N, 7, 7, 1280 at 224; 1 x 1 at 28 or 32).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import activation, check_input, make_divisible
from vision_jax.models.conv import Conv

# (expand ratio, kernel, stride, output channels, repeats) -- EfficientNet-B0, Table 1.
EFFICIENTNET_B0 = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                   (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


class ConvBNSiLU(nn.Module):
  """kxk conv (pad (k-1)//2, no bias, optional depthwise) -> BN -> SiLU (or no activation)."""
  features: int
  kernel: int = 1
  stride: int = 1
  depthwise: bool = False
  act: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    p = (self.kernel - 1) // 2
    x = Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride), padding=[(p, p)] * 2,
             feature_group_count=x.shape[-1] if self.depthwise else 1, use_bias=False, name="conv")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3, name="bn")(x)
    return activation("swish")(x) if self.act else x


class MBConv(nn.Module):
  """[1x1 expand-BN-SiLU] -> kxk depthwise(stride)-BN-SiLU -> SE -> 1x1 project-BN (+ identity,
  with stochastic depth)."""
  features: int
  kernel: int
  stride: int
  expand_ratio: int
  drop_rate: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    c_in = x.shape[-1]
    hidden = c_in * self.expand_ratio
    y = ConvBNSiLU(hidden, 1, name="expand")(x, train) if self.expand_ratio != 1 else x
    y = ConvBNSiLU(hidden, self.kernel, self.stride, depthwise=True, name="depthwise")(y, train)
    s = jnp.mean(y, axis=(1, 2), keepdims=True)
    s = activation("swish")(Conv(max(1, c_in // 4), (1, 1), name="se_reduce")(s))
    y = y * activation("sigmoid")(Conv(hidden, (1, 1), name="se_expand")(s))
    y = ConvBNSiLU(self.features, 1, act=False, name="project")(y, train)
    if self.stride == 1 and c_in == self.features:
      if self.drop_rate > 0:
        y = nn.Dropout(self.drop_rate, broadcast_dims=(1, 2, 3), deterministic=not train)(y)
      return x + y
    return y


class EfficientNetB0(nn.Module):
  """EfficientNet-B0 at width_multiplier = depth_multiplier = 1 (channels make_divisible(c w, 8),
  repeats ceil(n d), as EfficientNet's compound scaling). feature_map: the last 1x1 conv's output."""
  num_classes: int = 1000
  width_multiplier: float = 1.0
  depth_multiplier: float = 1.0
  dropout_rate: float = 0.2
  stochastic_depth: float = 0.2
  in_channels: int | None = None
  arch: str = "efficientnet_b0"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    w = lambda c: make_divisible(c * self.width_multiplier, 8)
    repeats = [math.ceil(n * self.depth_multiplier) for *_, n in EFFICIENTNET_B0]
    x = ConvBNSiLU(w(32), 3, 2, name="stem")(x, train)
    total, b = sum(repeats), 0
    for stage, ((t, k, s, c, _), n) in enumerate(zip(EFFICIENTNET_B0, repeats)):
      for i in range(n):
        x = MBConv(w(c), k, s if i == 0 else 1, t, self.stochastic_depth * b / total,
                   name=f"block{stage + 1}_{i + 1}")(x, train)
        b += 1
    x = ConvBNSiLU(w(1280), 1, name="last_conv")(x, train)
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(pooled)
    logits = nn.Dense(self.num_classes, name="head")(x)
    return logits, {"feature_map": fmap, "pre_logits": pooled}
