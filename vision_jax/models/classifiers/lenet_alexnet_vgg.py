"""LeNet-5, AlexNet and VGG (plain stacks of convolutions with a fully connected head).

Parameter counts (1000 classes unless noted; `count_params` excludes BN running stats):
  LeNet-5 at 32x32x1, 10 classes ........ 61,706 (Keras book code: full C3, Dense(120))
  AlexNet torchvision (64-192-384-256-256) at 224 ... 61,100,840
  AlexNet original (96-256-384-384-256, no groups) at 227 ... 62,378,344 (spec's number)
  VGG-11 / 13 / 16 / 19 at 224 ... 132,863,336 / 133,047,848 / 138,357,544 / 143,667,240
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from vision_jax.models.classifiers.common import (activation, adaptive_avg_pool, check_choice,
                                                  check_input, local_response_norm, relu, scaled)
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool

# LeCun et al. 1998, Table I: C3 feature map j is connected to these S2 maps.
LENET_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5),
)


def lenet_c3_mask() -> np.ndarray:
  """(5, 5, 6, 16) 0/1 kernel mask of LeCun's partial C3 connectivity (60 connections)."""
  mask = np.zeros((5, 5, 6, 16), np.float32)
  for out, ins in enumerate(LENET_C3_TABLE):
    mask[:, :, list(ins), out] = 1.0
  return mask


def _pool(kind: str, x, window: int, stride: int, padding="VALID"):
  fn = nn.avg_pool if kind == "avg" else max_pool
  return fn(x, (window, window), strides=(stride, stride), padding=padding)


class LeNet5(nn.Module):
  """LeNet-5: C1 6@5x5 -> S2 pool -> C3 16@5x5 -> S4 pool -> C5 120 -> F6 84 -> classes.

  Input 32x32 (MNIST 28x28 zero-padded). C5 is a Dense(120) on the flattened S4 maps, which
  equals a 5x5 conv at 32x32 input and also works for other sizes. With `c3_table=True` the
  C3 kernel is masked with LeCun's connection table (the kernel array keeps its full shape,
  so `count_params` still reports 61,706; the effective count is 61,706 - 900 = 60,806:
  C3 has 60 connections * 25 + 16 = 1,516 weights instead of 2,416).
  feature_map: C3 activation (N, 10, 10, 16) at 32x32.
  """
  num_classes: int = 10
  act: str = "tanh"          # tanh | sigmoid | relu
  pooling: str = "avg"       # avg | max
  c3_table: bool = False
  in_channels: int | None = None
  arch: str = "lenet5"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=16)
    check_choice(self.pooling, ("avg", "max"), "pooling")
    f = activation(self.act)
    x = f(Conv(6, (5, 5), padding="VALID", name="c1")(x))
    x = _pool(self.pooling, x, 2, 2)
    mask = jnp.asarray(lenet_c3_mask()) if self.c3_table else None
    x = f(Conv(16, (5, 5), padding="VALID", mask=mask, name="c3")(x))
    x = self.perturb("feature_map", x)
    fmap = x
    x = _pool(self.pooling, x, 2, 2).reshape(x.shape[0], -1)
    pooled = x
    x = f(nn.Dense(120, name="c5")(x))
    x = f(nn.Dense(84, name="f6")(x))
    logits = nn.Dense(self.num_classes, name="head")(x)
    return logits, {"feature_map": fmap, "pooled": pooled, "pre_logits": x}


class FCHead(nn.Module):
  """Dropout-FC-ReLU-Dropout-FC-ReLU-FC (torchvision AlexNet order) or FC-ReLU-Dropout x2 (VGG)."""
  num_classes: int
  fc_dim: int = 4096
  dropout_rate: float = 0.5
  dropout_first: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    drop = lambda y: nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    for i in range(2):
      x = drop(x) if self.dropout_first else x
      x = relu(nn.Dense(self.fc_dim, name=f"fc{i + 1}")(x))
      pre_logits = x
      x = x if self.dropout_first else drop(x)
    return nn.Dense(self.num_classes, name="fc3")(x), pre_logits


class AlexNet(nn.Module):
  """AlexNet. variant="torchvision": 64-192-384-256-256 convs (11/4 pad 2, 5 pad 2, 3 pad 1),
  adaptive avg-pool to 6x6, 9216-4096-4096-classes; variant="original" (Krizhevsky 2012 as in
  the spec, single-tower, 227 input): 96@11/4 pad 0 - 256@5 - 384 - 384 - 256, optional LRN after
  the first two convs (`lrn=True`, no parameters). Small variants: `width_multiplier`, `fc_dim`,
  `pool_size` (the adaptive-pool output side). feature_map: last conv ReLU (before max-pool)."""
  num_classes: int = 1000
  variant: str = "torchvision"
  lrn: bool = False
  width_multiplier: float = 1.0
  fc_dim: int = 4096
  pool_size: int = 6
  dropout_rate: float = 0.5
  in_channels: int | None = None
  arch: str = "alexnet"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=63)
    check_choice(self.variant, ("torchvision", "original"), "AlexNet variant")
    widths = (64, 192, 384, 256, 256) if self.variant == "torchvision" else (96, 256, 384, 384, 256)
    w = [scaled(c, self.width_multiplier) for c in widths]
    p1 = 2 if self.variant == "torchvision" else 0
    x = relu(Conv(w[0], (11, 11), (4, 4), padding=[(p1, p1)] * 2, name="conv1")(x))
    x = local_response_norm(x) if self.lrn else x
    x = _pool("max", x, 3, 2)
    x = relu(Conv(w[1], (5, 5), padding=[(2, 2)] * 2, name="conv2")(x))
    x = local_response_norm(x) if self.lrn else x
    x = _pool("max", x, 3, 2)
    for i in (2, 3, 4):
      x = relu(Conv(w[i], (3, 3), padding=[(1, 1)] * 2, name=f"conv{i + 1}")(x))
    x = self.perturb("feature_map", x)
    fmap = x
    x = adaptive_avg_pool(_pool("max", x, 3, 2), (self.pool_size, self.pool_size))
    pooled = x.reshape(x.shape[0], -1)
    logits, pre = FCHead(self.num_classes, self.fc_dim, self.dropout_rate, dropout_first=True,
                         name="classifier")(pooled, train)
    return logits, {"feature_map": fmap, "pooled": pooled, "pre_logits": pre}


VGG_STAGES = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}


class VGG(nn.Module):
  """VGG: blocks of 3x3/1 pad-1 convs (`stage_sizes` convs per block, widths 64-128-256-512-512
  times `width_multiplier`), 2x2 max-pool after each block, adaptive avg-pool to
  `pool_size`^2 (7 -> identity at 224), classic head fc_dim-fc_dim-classes with dropout 0.5.
  `batch_norm=True` gives the BN variant (conv bias kept, as torchvision's vgg*_bn).
  feature_map: last conv ReLU (N, 14, 14, 512 at 224) before the final max-pool."""
  num_classes: int = 1000
  stage_sizes: tuple[int, ...] = VGG_STAGES["vgg16"]
  widths: tuple[int, ...] = (64, 128, 256, 512, 512)
  width_multiplier: float = 1.0
  batch_norm: bool = False
  fc_dim: int = 4096
  pool_size: int = 7
  dropout_rate: float = 0.5
  in_channels: int | None = None
  arch: str = "vgg16"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=2 ** len(self.stage_sizes))
    if len(self.stage_sizes) != len(self.widths):
      raise ValueError(f"stage_sizes {self.stage_sizes} and widths {self.widths} differ in length")
    for b, (n, c) in enumerate(zip(self.stage_sizes, self.widths)):
      for i in range(n):
        x = Conv(scaled(c, self.width_multiplier), (3, 3), padding=[(1, 1)] * 2,
                 name=f"block{b + 1}_conv{i + 1}")(x)
        if self.batch_norm:
          x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                           name=f"block{b + 1}_bn{i + 1}")(x)
        x = relu(x)
      if b == len(self.stage_sizes) - 1:
        x = self.perturb("feature_map", x)
        fmap = x
      x = _pool("max", x, 2, 2)
    x = adaptive_avg_pool(x, (self.pool_size, self.pool_size))
    pooled = x.reshape(x.shape[0], -1)
    logits, pre = FCHead(self.num_classes, self.fc_dim, self.dropout_rate, name="classifier")(
        pooled, train)
    return logits, {"feature_map": fmap, "pooled": pooled, "pre_logits": pre}
