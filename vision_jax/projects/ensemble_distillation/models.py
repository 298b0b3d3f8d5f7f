"""The EKD paper's networks (seed 002 article 8; shared/specs/seed-002-a5-a9-...md, A8).

SGDRE teacher (Stephen et al.): 4 x [3x3 'valid' conv + ReLU, 2x2 max-pool] with 32, 64, 128, 128
  filters -> flatten -> dropout 0.5 -> Dense 512 ReLU -> Dense 2. At 200 x 200 x 1 the flatten is
  10 x 10 x 128 and the network has 6,795,394 parameters (2 outputs; the text's "1 neuron" would give
  6,794,881).
Student: 3x3 'valid' conv 32 + ReLU (Glorot uniform) -> BN -> 2x2 max-pool -> 3x3 conv 64 + ReLU ->
  BN -> max-pool -> flatten (48 x 48 x 64 at 200) -> Dense 32 ReLU (L2 0.01 on its kernel, added by
  the loss) -> dropout 0.5 -> Dense 2: 4,737,698 parameters at 200 x 200 x 1 (BN gamma, beta
  counted). The second conv's activation is not stated; ReLU is assumed.
Both return (logits, aux) with aux["feature_map"] (last conv block, through self.perturb) and
aux["pre_logits"] (the hidden dense activation).
"""

from __future__ import annotations

import flax.linen as nn

from vision_jax.models.classifiers.common import check_input, relu
from vision_jax.models.conv import Conv
from vision_jax.models.pool import max_pool

STUDENT_L2 = 0.01
L2_KERNEL = ("dense1", "kernel")  # the student's regularised kernel (params path)


class SGDRECNN(nn.Module):
  """The snapshot-ensemble teacher CNN."""
  num_classes: int = 2
  filters: tuple[int, ...] = (32, 64, 128, 128)
  dense: int = 512
  dropout_rate: float = 0.5
  in_channels: int | None = None
  arch: str = "sgdre_cnn"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=2 ** (len(self.filters) + 1) + 2 * len(self.filters))
    for i, f in enumerate(self.filters):
      x = relu(Conv(f, (3, 3), padding="VALID", name=f"conv{i + 1}")(x))
      x = max_pool(x, (2, 2), (2, 2))
    x = self.perturb("feature_map", x)
    fmap = x
    flat = x.reshape(x.shape[0], -1)
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(flat)
    h = relu(nn.Dense(self.dense, name="dense1")(h))
    logits = nn.Dense(self.num_classes, name="head")(h)
    return logits, {"feature_map": fmap, "pooled": flat, "pre_logits": h}


class StudentCNN(nn.Module):
  """The small student CNN (L2 on dense1's kernel is the loss's job: see STUDENT_L2)."""
  num_classes: int = 2
  filters: tuple[int, ...] = (32, 64)
  dense: int = 32
  dropout_rate: float = 0.5
  bn_momentum: float = 0.99  # Keras' default
  in_channels: int | None = None
  arch: str = "student_cnn"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=10)
    for i, f in enumerate(self.filters):
      x = relu(Conv(f, (3, 3), padding="VALID", kernel_init=nn.initializers.glorot_uniform(), name=f"conv{i + 1}")(x))
      x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, epsilon=1e-3, name=f"bn{i + 1}")(x)
      x = max_pool(x, (2, 2), (2, 2))
    x = self.perturb("feature_map", x)
    fmap = x
    flat = x.reshape(x.shape[0], -1)
    h = relu(nn.Dense(self.dense, name="dense1")(flat))
    pre = h
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    logits = nn.Dense(self.num_classes, name="head")(h)
    return logits, {"feature_map": fmap, "pooled": flat, "pre_logits": pre}
