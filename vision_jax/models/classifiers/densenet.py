"""DenseNet-121 (Huang et al. 2017), torchvision layout (= Keras' trainable variables).

Stem 7x7/2 conv 64 -> BN -> ReLU -> 3x3/2 max-pool (pad 1); dense blocks of (6, 12, 24, 16) layers,
each layer BN-ReLU-1x1 conv (4 k) -BN-ReLU-3x3 conv (k) concatenated to its input (growth k = 32);
transitions BN-ReLU-1x1 conv (C / 2)-2x2/2 average pool; final BN-ReLU -> GAP -> FC. Every conv is
bias-free. Count at 224, 1000 classes: 7,978,856 (torchvision densenet121).
The input must be at least 32 x 32 (the MedMNIST paper zero-pads 28 x 28 images to 32 x 32).
feature_map: the final BN-ReLU map (N, 7, 7, 1024 at 224; 1 x 1 at 32).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import check_input, relu
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool


def _bn(train: bool, name: str):
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class DenseLayer(nn.Module):
  """BN-ReLU-1x1 conv (bn_size * growth)-BN-ReLU-3x3 conv (growth); returns concat(x, new)."""
  growth: int = 32
  bn_size: int = 4

  @nn.compact
  def __call__(self, x, train: bool = False):
    y = Conv(self.bn_size * self.growth, (1, 1), use_bias=False, name="conv1")(relu(_bn(train, "norm1")(x)))
    y = Conv(self.growth, (3, 3), padding=[(1, 1)] * 2, use_bias=False, name="conv2")(relu(_bn(train, "norm2")(y)))
    return jnp.concatenate([x, y], axis=-1)


class DenseNet(nn.Module):
  """DenseNet-BC with compression 0.5. block_sizes (6, 12, 24, 16) is DenseNet-121."""
  num_classes: int = 1000
  block_sizes: tuple[int, ...] = (6, 12, 24, 16)
  growth: int = 32
  init_features: int = 64
  bn_size: int = 4
  in_channels: int | None = None
  arch: str = "densenet121"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=2 ** (len(self.block_sizes) + 1))
    x = Conv(self.init_features, (7, 7), (2, 2), padding=[(3, 3)] * 2, use_bias=False, name="conv0")(x)
    x = relu(_bn(train, "norm0")(x))
    x = max_pool(x, (3, 3), (2, 2), padding=[(1, 1)] * 2)
    for b, layers in enumerate(self.block_sizes):
      for i in range(layers):
        x = DenseLayer(self.growth, self.bn_size, name=f"block{b + 1}_layer{i + 1}")(x, train)
      if b < len(self.block_sizes) - 1:
        x = Conv(x.shape[-1] // 2, (1, 1), use_bias=False, name=f"transition{b + 1}")(
            relu(_bn(train, f"transition{b + 1}_norm")(x)))
        x = nn.avg_pool(x, (2, 2), (2, 2))
    x = relu(_bn(train, "norm5")(x))
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, name="head")(pooled)
    return logits, {"feature_map": fmap, "pre_logits": pooled}
