"""ResUNet denoiser (a UNet whose levels are residual blocks; Zhang, Liu & Wang 2018 style).

Residual block (He et al. 2016): conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (identity when the
width is unchanged, else a 1x1 conv + BN projection), then ReLU. Convs before a BN have no bias.
Encoder: block per level, 2x2 max-pool between levels. Decoder: 2x2 stride-2 ConvTranspose to the
skip's width, concatenation with the skip, one residual block (2f -> f, projected shortcut).
Head: 1x1 conv (with bias).

Parameter count (BN: 2 per channel; conv(k, a, b) = k*k*a*b, no bias):

  block(a, b) = conv(3, a, b) + 2b + conv(3, b, b) + 2b + [a != b] (conv(1, a, b) + 2b)
  total = sum_i block(f_{i-1}, f_i)                                            (f_{-1} = C_in)
        + sum_{i<L-1} [4 f_{i+1} f_i + f_i + block(2 f_i, f_i)]
        + f_0 C_out + C_out
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from vision_jax.models.conv import Conv
from vision_jax.models.denoisers import common


class ResidualBlock(nn.Module):
  """(N, H, W, C_in) -> (N, H, W, features): relu(BN(conv(relu(BN(conv x)))) + shortcut(x))."""
  features: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    h = Conv(self.features, (3, 3), padding="SAME", use_bias=False)(x)
    h = nn.relu(common.batch_norm(train)(h))
    h = Conv(self.features, (3, 3), padding="SAME", use_bias=False)(h)
    h = common.batch_norm(train)(h)
    shortcut = x
    if x.shape[-1] != self.features:
      shortcut = Conv(self.features, (1, 1), use_bias=False, name="proj")(x)
      shortcut = common.batch_norm(train, name="proj_bn")(shortcut)
    return nn.relu(h + shortcut)


class ResUNet(nn.Module):
  """ResUNet: (N, H, W, C) -> ((N, H, W, C_out), aux); H, W multiples of 2**(len(features)-1).

  Fields:
    features: widths per level, top to bottom (the last is the bottleneck).
    residual: predict the noise n and return x - n (aux["noise"] = n); else return the head.
    out_channels: output channels (None = input channels; must equal them when residual).
  """
  features: Sequence[int] = (32, 64, 128, 256)
  residual: bool = True
  out_channels: int | None = None

  @property
  def multiple(self) -> int:
    return 2 ** (len(self.features) - 1)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    common.check_image_input(x, self.multiple, "resunet")
    c_out = common.resolve_out_channels(x, self.out_channels, self.residual, "resunet")
    skips = []
    h = x
    for i, f in enumerate(self.features):
      if i > 0:
        h = common.max_pool2(h)
      h = ResidualBlock(f, name=f"enc{i}")(h, train)
      skips.append(h)
    for i in range(len(self.features) - 2, -1, -1):
      f = self.features[i]
      h = nn.ConvTranspose(f, (2, 2), strides=(2, 2), padding="SAME", name=f"up{i}")(h)
      h = jnp.concatenate([h, skips[i]], axis=-1)
      h = ResidualBlock(f, name=f"dec{i}")(h, train)
    head = Conv(c_out, (1, 1), name="head")(h)
    if self.residual:
      return x - head, {"noise": head}
    return head, {}
