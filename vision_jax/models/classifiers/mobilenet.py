"""MobileNetV2 (Sandler et al. 2018) and MobileNetV3-Small (Howard et al. 2019), torchvision layout.

Depthwise convs use feature_group_count = channels; every conv is bias-free and followed by
BatchNorm, except the SE 1x1 convs (with bias) and the V3 head Dense layers.
Counts at 224, 1000 classes: MobileNetV2 3,504,872 (torchvision = Keras trainable);
MobileNetV3-Small 2,542,856 (torchvision; Keras' MobileNetV3Small differs in SE widths).
Channel widths are `make_divisible(c * width_multiplier, 8)` as in torchvision.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from vision_jax.models.classifiers.common import activation, check_input, make_divisible, relu
from vision_jax.models.conv import Conv


class ConvBNAct(nn.Module):
  """kxk conv (pad (k-1)//2, no bias, optional depthwise) -> BN -> activation (or none)."""
  features: int
  kernel: int = 1
  stride: int = 1
  depthwise: bool = False
  act: str | None = "relu6"
  bn_momentum: float = 0.9
  bn_eps: float = 1e-5

  @nn.compact
  def __call__(self, x, train: bool = False):
    p = (self.kernel - 1) // 2
    groups = x.shape[-1] if self.depthwise else 1
    x = Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride),
             padding=[(p, p)] * 2, feature_group_count=groups, use_bias=False, name="conv")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                     epsilon=self.bn_eps, name="bn")(x)
    return x if self.act is None else activation(self.act)(x)


# (expand ratio t, output channels c, repeats n, first stride s) -- MobileNetV2 Table 2.
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class InvertedResidualV2(nn.Module):
  """[1x1 expand-BN-ReLU6] -> 3x3 depthwise(stride)-BN-ReLU6 -> 1x1 project-BN (+ identity)."""
  features: int
  stride: int
  expand_ratio: int

  @nn.compact
  def __call__(self, x, train: bool = False):
    c_in = x.shape[-1]
    hidden = int(round(c_in * self.expand_ratio))
    y = ConvBNAct(hidden, 1, name="expand")(x, train) if self.expand_ratio != 1 else x
    y = ConvBNAct(hidden, 3, self.stride, depthwise=True, name="depthwise")(y, train)
    y = ConvBNAct(self.features, 1, act=None, name="project")(y, train)
    return x + y if self.stride == 1 and c_in == self.features else y


class MobileNetV2(nn.Module):
  """MobileNetV2: 3x3/2 conv 32 -> inverted residual table -> 1x1 conv 1280 -> GAP -> dropout
  0.2 -> FC. feature_map: the 1280-channel map (N, 7, 7, 1280 at 224)."""
  num_classes: int = 1000
  width_multiplier: float = 1.0
  dropout_rate: float = 0.2
  in_channels: int | None = None
  arch: str = "mobilenet_v2"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    w = self.width_multiplier
    x = ConvBNAct(make_divisible(32 * w), 3, 2, name="stem")(x, train)
    for b, (t, c, n, s) in enumerate(MOBILENET_V2):
      for i in range(n):
        x = InvertedResidualV2(make_divisible(c * w), s if i == 0 else 1, t,
                               name=f"block{b + 1}_{i + 1}")(x, train)
    x = ConvBNAct(make_divisible(1280 * max(1.0, w)), 1, name="last_conv")(x, train)
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(pooled)
    logits = nn.Dense(self.num_classes, name="head")(x)
    return logits, {"feature_map": fmap, "pre_logits": pooled}


# (kernel, expanded, out, SE, activation, stride) -- MobileNetV3-Small Table 2 (input 16).
MOBILENET_V3_SMALL = (
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hard_swish", 2), (5, 240, 40, True, "hard_swish", 1),
    (5, 240, 40, True, "hard_swish", 1), (5, 120, 48, True, "hard_swish", 1),
    (5, 144, 48, True, "hard_swish", 1), (5, 288, 96, True, "hard_swish", 2),
    (5, 576, 96, True, "hard_swish", 1), (5, 576, 96, True, "hard_swish", 1),
)


class SqueezeExcite(nn.Module):
  """s = hard_sigmoid(W2 ReLU(W1 GAP(x))), x * s; 1x1 convs with bias (torchvision)."""
  squeeze: int

  @nn.compact
  def __call__(self, x):
    s = jnp.mean(x, axis=(1, 2), keepdims=True)
    s = relu(Conv(self.squeeze, (1, 1), name="fc1")(s))
    s = jax.nn.hard_sigmoid(Conv(x.shape[-1], (1, 1), name="fc2")(s))
    return x * s


class InvertedResidualV3(nn.Module):
  """[1x1 expand-BN-act] -> kxk depthwise-BN-act -> [SE] -> 1x1 project-BN (+ identity)."""
  kernel: int
  expanded: int
  features: int
  use_se: bool
  act: str
  stride: int
  bn_momentum: float = 0.99

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn = dict(bn_momentum=self.bn_momentum, bn_eps=1e-3)
    c_in = x.shape[-1]
    y = x
    if self.expanded != c_in:
      y = ConvBNAct(self.expanded, 1, act=self.act, name="expand", **bn)(y, train)
    y = ConvBNAct(self.expanded, self.kernel, self.stride, depthwise=True, act=self.act,
                  name="depthwise", **bn)(y, train)
    if self.use_se:
      y = SqueezeExcite(make_divisible(self.expanded // 4, 8), name="se")(y)
    y = ConvBNAct(self.features, 1, act=None, name="project", **bn)(y, train)
    return x + y if self.stride == 1 and c_in == self.features else y


class MobileNetV3Small(nn.Module):
  """MobileNetV3-Small: 3x3/2 conv 16 (h-swish) -> 11 bottlenecks -> 1x1 conv 576 (h-swish) ->
  GAP -> FC 1024 (h-swish, no BN) -> dropout 0.2 -> FC. feature_map: the 576-channel map;
  aux["pooled"]: its GAP; aux["pre_logits"]: the 1024-d hidden vector."""
  num_classes: int = 1000
  width_multiplier: float = 1.0
  last_channel: int = 1024
  dropout_rate: float = 0.2
  in_channels: int | None = None
  arch: str = "mobilenet_v3_small"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    adj = lambda c: make_divisible(c * self.width_multiplier, 8)
    bn = dict(bn_momentum=0.99, bn_eps=1e-3)
    x = ConvBNAct(adj(16), 3, 2, act="hard_swish", name="stem", **bn)(x, train)
    for i, (k, e, c, se, act, s) in enumerate(MOBILENET_V3_SMALL):
      x = InvertedResidualV3(k, adj(e), adj(c), se, act, s, name=f"block{i + 1}")(x, train)
    x = ConvBNAct(6 * x.shape[-1], 1, act="hard_swish", name="last_conv", **bn)(x, train)
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    x = activation("hard_swish")(nn.Dense(adj(self.last_channel), name="fc_hidden")(pooled))
    pre = x
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes, name="head")(x)
    return logits, {"feature_map": fmap, "pooled": pooled, "pre_logits": pre}
