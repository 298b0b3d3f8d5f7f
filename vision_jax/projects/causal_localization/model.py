"""The seed-000 network at CPU scale: a bottleneck ResNet with a class head and (our addition) a box head.

    stem: 3x3/stride-2 conv (16) -> BN -> ReLU                                  (64 -> 32 px)
    stages [2, 2, 2] of bottleneck blocks, widths 16 / 32 / 64 (outputs 64 / 128 / 256), stride 2 between
    global average pool -> dropout 0.5 -> Dense(num_classes)      ("FC(10) -> softmax", the paper's head)
                        -> [dropout 0.5 if box_dropout] -> Dense(4) -> sigmoid  (cx, cy, w, h, fractions of the side)

The blocks are the library's `models.classifiers.resnet.Bottleneck` (torchvision v1.5 layout, BN after
every conv). `coord_channels=True` appends two coordinate ramps (y, x in [-1, 1]) to the input
(CoordConv, Liu et al. 2018): global average pooling discards where features are, and the ramps let
the pooled features carry position; it is an ablation field (False = plain input). box_dropout=False
(default) feeds the box head the pooled vector before dropout: dropout on a regression input only
adds noise to its target, and the paper's dropout belongs to its class head.

aux: "feature_map" (last stage, through self.perturb for Grad-CAM), "pre_logits" (the pooled 256-d
vector before dropout: the penultimate features the causal analysis uses), "box" (N, 4) cxcywh.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import check_input, relu
from vision_jax.models.classifiers.resnet import Bottleneck, _bn, _conv


class LocalizationResNet(nn.Module):
  num_classes: int = 10
  stage_sizes: tuple[int, ...] = (2, 2, 2)
  num_filters: int = 16
  dropout_rate: float = 0.5
  coord_channels: bool = True
  box_dropout: bool = False
  in_channels: int | None = None
  arch: str = "localization_resnet"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=16)
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"dropout_rate={self.dropout_rate!r} is invalid; expected 0 <= rate < 1")
    if self.coord_channels:
      n, h, w, _ = x.shape
      yy, xx = jnp.meshgrid(jnp.linspace(-1.0, 1.0, h), jnp.linspace(-1.0, 1.0, w), indexing="ij")
      ramps = jnp.broadcast_to(jnp.stack([yy, xx], -1)[None], (n, h, w, 2)).astype(x.dtype)
      x = jnp.concatenate([x, ramps], axis=-1)
    x = relu(_bn(train, "bn_stem")(_conv(self.num_filters, 3, 2, "conv_stem")(x)))
    for i, n_blocks in enumerate(self.stage_sizes):
      for j in range(n_blocks):
        stride = 2 if i > 0 and j == 0 else 1
        x = Bottleneck(self.num_filters * 2 ** i, stride, name=f"stage{i + 1}_block{j + 1}")(x, train)
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    dropped = nn.Dropout(self.dropout_rate, deterministic=not train)(pooled)
    logits = nn.Dense(self.num_classes, name="head")(dropped)
    box = nn.sigmoid(nn.Dense(4, name="box_head")(dropped if self.box_dropout else pooled))
    return logits, {"feature_map": fmap, "pre_logits": pooled, "box": box}
