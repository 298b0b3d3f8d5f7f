"""GoogLeNet / Inception v1 (Szegedy et al. 2014) from the spec's inception table.

Parameter count at 224 with 1000 classes and no auxiliary heads: 6,998,552, the spec's
*[computed]* number for the original network (conv biases, no BatchNorm, true 5x5 branch,
'same' padding as in the book's Keras code). torchvision's `googlenet` reports 6,624,904
because it differs in three ways: BatchNorm after every conv with bias-free convs, a 3x3
kernel in the "5x5" branch (a known torchvision quirk kept for weight compatibility), and
LRN dropped. `use_bn=True` here gives bias-free convs + BN but keeps the 5x5 kernels, so it
matches neither torchvision nor the paper; it exists for training from scratch.

Layout: 7x7/2 conv 64 -> maxpool 3/2 -> 1x1 conv 64 -> 3x3 conv 192 -> maxpool 3/2 ->
3a 3b -> maxpool -> 4a..4e -> maxpool -> 5a 5b -> GAP -> dropout 0.4 -> FC.
feature_map: output of 5b (N, 7, 7, 1024 at 224).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import check_input, local_response_norm, relu, scaled
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool

# (name, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj); "M" = max-pool 3x3/2.
INCEPTION_V1 = (
    ("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64), "M",
    ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128), "M",
    ("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128),
)


class ConvAct(nn.Module):
  """Conv (+ bias, or bias-free + BN when use_bn) + ReLU with 'same' padding."""
  features: int
  kernel: int
  stride: int = 1
  use_bn: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride),
             padding="SAME", use_bias=not self.use_bn)(x)
    if self.use_bn:
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3)(x)
    return relu(x)


class Inception(nn.Module):
  """Four parallel branches concatenated on channels: 1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1."""
  c1: int
  c3r: int
  c3: int
  c5r: int
  c5: int
  cp: int
  use_bn: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn = self.use_bn
    b1 = ConvAct(self.c1, 1, use_bn=bn, name="b1")(x, train)
    b2 = ConvAct(self.c3r, 1, use_bn=bn, name="b2_reduce")(x, train)
    b2 = ConvAct(self.c3, 3, use_bn=bn, name="b2")(b2, train)
    b3 = ConvAct(self.c5r, 1, use_bn=bn, name="b3_reduce")(x, train)
    b3 = ConvAct(self.c5, 5, use_bn=bn, name="b3")(b3, train)
    b4 = max_pool(x, (3, 3), strides=(1, 1), padding="SAME")
    b4 = ConvAct(self.cp, 1, use_bn=bn, name="b4_proj")(b4, train)
    return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class GoogLeNet(nn.Module):
  """Inception v1 classifier; all widths times `width_multiplier` (small CPU variants)."""
  num_classes: int = 1000
  width_multiplier: float = 1.0
  use_bn: bool = False
  lrn: bool = False          # the paper's LRN after the stem pools (no parameters)
  dropout_rate: float = 0.4
  table: tuple = INCEPTION_V1
  in_channels: int | None = None
  arch: str = "googlenet"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    s = lambda c: scaled(c, self.width_multiplier)
    pool = lambda y: max_pool(y, (3, 3), strides=(2, 2), padding="SAME")
    x = ConvAct(s(64), 7, 2, self.use_bn, name="conv1")(x, train)
    x = pool(x)
    x = local_response_norm(x) if self.lrn else x
    x = ConvAct(s(64), 1, use_bn=self.use_bn, name="conv2_reduce")(x, train)
    x = ConvAct(s(192), 3, use_bn=self.use_bn, name="conv2")(x, train)
    x = local_response_norm(x) if self.lrn else x
    x = pool(x)
    for row in self.table:
      if row == "M":
        x = pool(x)
        continue
      name, *widths = row
      x = Inception(*[s(c) for c in widths], use_bn=self.use_bn, name=f"inception{name}")(x, train)
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(pooled)
    logits = nn.Dense(self.num_classes, name="head")(x)
    return logits, {"feature_map": fmap, "pre_logits": pooled}
