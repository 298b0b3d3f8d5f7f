"""MobileNetV3-Large (Howard et al. 2019), torchvision layout, built from the blocks of mobilenet.py.

3x3/2 conv 16 (h-swish) -> 15 bottlenecks -> 1x1 conv 960 (h-swish) -> GAP -> FC 1280 (h-swish) ->
dropout 0.2 -> FC. Count at 224, 1000 classes: 5,483,032 (torchvision mobilenet_v3_large).
last_channel=0 drops the hidden FC layer (GAP -> FC), the head the MedMNIST paper puts on Keras'
MobileNetV3Large without its top. Inputs of at least 32 x 32 (the paper zero-pads 28 x 28 to 32).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import activation, check_input, make_divisible
from vision_jax.models.classifiers.mobilenet import ConvBNAct, InvertedResidualV3

# (kernel, expanded, out, SE, activation, stride) -- MobileNetV3-Large Table 1 (input 16).
MOBILENET_V3_LARGE = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hard_swish", 2), (3, 200, 80, False, "hard_swish", 1),
    (3, 184, 80, False, "hard_swish", 1), (3, 184, 80, False, "hard_swish", 1),
    (3, 480, 112, True, "hard_swish", 1), (3, 672, 112, True, "hard_swish", 1),
    (5, 672, 160, True, "hard_swish", 2), (5, 960, 160, True, "hard_swish", 1),
    (5, 960, 160, True, "hard_swish", 1),
)


class MobileNetV3Large(nn.Module):
  """MobileNetV3-Large. feature_map: the 960-channel map; aux["pooled"]: its GAP;
  aux["pre_logits"]: the hidden vector (the pooled one when last_channel=0)."""
  num_classes: int = 1000
  width_multiplier: float = 1.0
  last_channel: int = 1280
  dropout_rate: float = 0.2
  bn_momentum: float = 0.99  # Flax convention (torchvision's momentum 0.01)
  in_channels: int | None = None
  arch: str = "mobilenet_v3_large"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch)
    adj = lambda c: make_divisible(c * self.width_multiplier, 8)
    bn = dict(bn_momentum=self.bn_momentum, bn_eps=1e-3)
    x = ConvBNAct(adj(16), 3, 2, act="hard_swish", name="stem", **bn)(x, train)
    for i, (k, e, c, se, act, s) in enumerate(MOBILENET_V3_LARGE):
      x = InvertedResidualV3(k, adj(e), adj(c), se, act, s, self.bn_momentum, name=f"block{i + 1}")(x, train)
    x = ConvBNAct(6 * x.shape[-1], 1, act="hard_swish", name="last_conv", **bn)(x, train)
    x = self.perturb("feature_map", x)
    fmap = x
    pooled = jnp.mean(x, axis=(1, 2))
    pre = pooled
    if self.last_channel:
      pre = activation("hard_swish")(nn.Dense(adj(self.last_channel), name="fc_hidden")(pooled))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(pre)
    logits = nn.Dense(self.num_classes, name="head")(x)
    return logits, {"feature_map": fmap, "pooled": pooled, "pre_logits": pre}
