"""VGG19 for 1-D global views (the feature extractor of seed 002 article 12, Step 1).

The standard VGG19 configuration [64, 64, M, 128, 128, M, 256 x 4, M, 512 x 4, M, 512 x 4, M] with
same-padded convolutions (kernel 3: the paper gives no kernel size) and valid max-pooling of size 3,
stride 2 (the paper's): 201 -> 100 -> 49 -> 24 -> 11 -> 5, so the flattened feature is 5 x 512 = 2560
(the paper's number). The classifier MLP is not given: fc_dim-fc_dim-classes with dropout, as VGG.

Layout: views (N, L, C) (C = 1 for a global view). Internally a view is an (N, 1, L, C) image and
every convolution is a 1 x k `vision_jax.models.conv.Conv`, so the model follows the classifier
contract: (logits, aux) with aux["feature_map"] (N, 1, 5, 512) through self.perturb, aux["pooled"]
the flattened 2560-d feature that the paper saves for t-SNE, aux["pre_logits"] the last hidden layer.
"""

from __future__ import annotations

import flax.linen as nn
import numpy as np

from vision_jax.models.classifiers.common import relu, scaled
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool

VGG19_STAGES = (2, 2, 4, 4, 4)
VGG_WIDTHS = (64, 128, 256, 512, 512)


def pooled_length(length: int, stages: int = len(VGG19_STAGES), pool: int = 3, stride: int = 2) -> int:
  """Sequence length after `stages` valid max-pools of size `pool` and stride `stride`."""
  for _ in range(stages):
    length = (length - pool) // stride + 1
  return length


class VGG1D(nn.Module):
  """VGG19-1D: `stage_sizes` 1 x kernel_size convs per stage (widths VGG_WIDTHS x width_multiplier,
  ReLU, optional BatchNorm), a valid max-pool (pool_size, pool_stride) after each stage, flatten,
  then fc_dim-fc_dim-classes with dropout."""
  num_classes: int = 3
  stage_sizes: tuple[int, ...] = VGG19_STAGES
  width_multiplier: float = 1.0
  kernel_size: int = 3
  pool_size: int = 3
  pool_stride: int = 2
  batch_norm: bool = False
  fc_dim: int = 512
  dropout_rate: float = 0.5
  in_channels: int | None = 1
  arch: str = "vgg19_1d"

  @nn.compact
  def __call__(self, x, train: bool = False):
    if np.ndim(x) != 3:
      raise ValueError(f"model {self.arch} expects views (N, L, C) of rank 3, got shape {tuple(np.shape(x))}")
    if self.in_channels is not None and x.shape[-1] != self.in_channels:
      raise ValueError(f"model {self.arch} expects {self.in_channels} input channels, got {x.shape[-1]}")
    if pooled_length(x.shape[1], len(self.stage_sizes), self.pool_size, self.pool_stride) < 1:
      raise ValueError(f"model {self.arch} needs views long enough for {len(self.stage_sizes)} poolings, "
                       f"got length {x.shape[1]}")
    x = x[:, None]  # (N, 1, L, C)
    pad = (self.kernel_size - 1) // 2
    for s, n in enumerate(self.stage_sizes):
      for i in range(n):
        x = Conv(scaled(VGG_WIDTHS[s], self.width_multiplier), (1, self.kernel_size),
                 padding=[(0, 0), (pad, self.kernel_size - 1 - pad)], name=f"block{s + 1}_conv{i + 1}")(x)
        if self.batch_norm:
          x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"block{s + 1}_bn{i + 1}")(x)
        x = relu(x)
      x = max_pool(x, (1, self.pool_size), strides=(1, self.pool_stride), padding="VALID")
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = x.reshape(x.shape[0], -1)
    h = pooled
    for i in range(2):
      h = relu(nn.Dense(self.fc_dim, name=f"fc{i + 1}")(h))
      pre_logits = h
      h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    logits = nn.Dense(self.num_classes, name="head")(h)
    return logits, {"feature_map": fmap, "pooled": pooled, "pre_logits": pre_logits}


def feature_dim(model: VGG1D, length: int = 201) -> int:
  """Length of the flattened feature aux["pooled"] for views of `length` points."""
  width = scaled(VGG_WIDTHS[len(model.stage_sizes) - 1], model.width_multiplier)
  return pooled_length(length, len(model.stage_sizes), model.pool_size, model.pool_stride) * width

