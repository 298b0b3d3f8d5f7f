"""UNet denoiser (Ronneberger et al. 2015), the paper's first backbone.

Encoder: per level two 3x3 conv + ReLU, 2x2 max-pool between levels (features 32-64-128-256
by default; the last level is the bottleneck). Decoder: resize x2 (nearest or bilinear), a 3x3
"up-conv" + ReLU down to the skip's width, concatenation with the skip, two 3x3 conv + ReLU.
Head: 1x1 conv. No BatchNorm (``train`` is accepted and ignored).

Parameter count for features (f_0..f_{L-1}), C_in input and C_out output channels
(conv(k, a, b) = k*k*a*b + b):

    sum_i [conv(3, f_{i-1}, f_i) + conv(3, f_i, f_i)]                         (f_{-1} = C_in)
  + sum_{i<L-1} [conv(3, f_{i+1}, f_i) + conv(3, 2 f_i, f_i) + conv(3, f_i, f_i)]
  + conv(1, f_0, C_out)

which is 2,140,065 for the default (32, 64, 128, 256) with C_in = C_out = 1.
"""

from __future__ import annotations

from typing import Sequence

import jax
from flax import linen as nn

from vision_jax.models.conv import Conv
from vision_jax.models.denoisers import common


class UNet(nn.Module):
  """UNet: (N, H, W, C) -> ((N, H, W, C_out), aux); H, W multiples of 2**(len(features)-1).

  Fields:
    features: channel widths per level, top to bottom (the last is the bottleneck).
    residual: predict the noise n and return x - n (aux["noise"] = n); else return the head.
    upsample: "nearest" or "bilinear" (jax.image.resize) before each up-conv.
    out_channels: output channels (None = input channels; must equal them when residual).
  """
  features: Sequence[int] = (32, 64, 128, 256)
  residual: bool = True
  upsample: str = "bilinear"
  out_channels: int | None = None

  @property
  def multiple(self) -> int:
    return 2 ** (len(self.features) - 1)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    common.check_choice(self.upsample, ("nearest", "bilinear"), "unet upsample method")
    common.check_image_input(x, self.multiple, "unet")
    c_out = common.resolve_out_channels(x, self.out_channels, self.residual, "unet")
    conv = lambda f, name: Conv(f, (3, 3), padding="SAME", name=name)

    skips = []
    h = x
    for i, f in enumerate(self.features):
      if i > 0:
        h = common.max_pool2(h)
      h = nn.relu(conv(f, f"enc{i}_conv0")(h))
      h = nn.relu(conv(f, f"enc{i}_conv1")(h))
      skips.append(h)
    for i in range(len(self.features) - 2, -1, -1):
      f = self.features[i]
      skip = skips[i]
      h = common.resize_to(h, skip.shape[1:3], self.upsample)
      h = nn.relu(conv(f, f"dec{i}_upconv")(h))
      h = jax.numpy.concatenate([h, skip], axis=-1)
      h = nn.relu(conv(f, f"dec{i}_conv0")(h))
      h = nn.relu(conv(f, f"dec{i}_conv1")(h))
    head = Conv(c_out, (1, 1), name="head")(h)
    if self.residual:
      return x - head, {"noise": head}
    return head, {}
