"""DnCNN (Zhang et al., TIP 2017): residual-learning CNN denoiser.

Layers: conv3x3(C -> F) + ReLU; (depth - 2) x [conv3x3(F -> F, no bias) + BN + ReLU];
conv3x3(F -> C). The network predicts the noise n; the output is x - n (aux["noise"] = n).

Parameter count (BN contributes scale + bias = 2F per layer; running statistics live in
batch_stats and are not parameters):

  9 C F + [head_bias] F + (depth - 2)(9 F^2 + 2 F) + 9 F C + [tail_bias] C

DnCNN-S (depth 17, F = 64, C = 1): 640 + 15 * 36,992 + 576 = 556,096 with the default biases
(head_bias=True, tail_bias=False). With head_bias=False it is 556,032, the count of the widely
used bias-free PyTorch port (all convs bias=False).
"""

from __future__ import annotations

import jax
from flax import linen as nn

from vision_jax.models.conv import Conv
from vision_jax.models.denoisers import common


class DnCNN(nn.Module):
  """DnCNN: (N, H, W, C) -> ((N, H, W, C), {"noise": (N, H, W, C)}); any H, W.

  Fields:
    depth: number of conv layers (17 for DnCNN-S, 20 for DnCNN-B).
    features: width F of the hidden layers.
    head_bias: bias on the first conv (it has no BN after it).
    tail_bias: bias on the last conv.
  """
  depth: int = 17
  features: int = 64
  head_bias: bool = True
  tail_bias: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    if self.depth < 2:
      raise ValueError(f"dncnn depth={self.depth} is invalid; expected >= 2")
    common.check_image_input(x, 1, "dncnn")
    c = x.shape[-1]
    h = Conv(self.features, (3, 3), padding="SAME", use_bias=self.head_bias, name="head")(x)
    h = nn.relu(h)
    for i in range(self.depth - 2):
      h = Conv(self.features, (3, 3), padding="SAME", use_bias=False, name=f"conv{i}")(h)
      h = nn.relu(common.batch_norm(train, name=f"bn{i}")(h))
    noise = Conv(c, (3, 3), padding="SAME", use_bias=self.tail_bias, name="tail")(h)
    return x - noise, {"noise": noise}
