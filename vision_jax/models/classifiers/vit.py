"""Vision Transformer (Dosovitskiy et al. 2021), pre-LN encoder as in big_vision / torchvision.

patch_size x patch_size / patch_size conv embedding -> [class token] + learned position
embedding -> `depth` blocks of (LN -> MHSA -> residual, LN -> MLP(GELU) -> residual) -> LN ->
class token (classifier="token") or mean of tokens (classifier="gap") -> Dense.

aux["attention"]: a tuple with one (N, heads, T, T) softmax attention map per block
(T = tokens incl. the class token). aux["feature_map"]: the patch tokens reshaped to
(N, H/p, W/p, width). With classifier="token" these are the tokens *entering the last block*
(the final-layer patch tokens do not reach the class token, so their gradient would be 0;
this is the usual ViT Grad-CAM layer); with classifier="gap" they are the final normalised
tokens that are averaged. aux["pre_logits"]: the final class-token / mean vector.

`vit_param_count` is the closed-form count; ViT-B/16 at 224 with 1000 classes: 86,567,656.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from vision_jax.models.classifiers.common import check_choice, check_input, gelu
from vision_jax.models.conv import Conv


def vit_param_count(image_size: int, patch_size: int, width: int, depth: int, mlp_dim: int,
                    num_classes: int, in_channels: int = 3, class_token: bool = True) -> int:
  """Closed-form parameter count of `ViT` (biases and LayerNorm scale/bias included)."""
  tokens = (image_size // patch_size) ** 2 + int(class_token)
  embed = patch_size * patch_size * in_channels * width + width
  per_block = (2 * 2 * width                 # two LayerNorms
               + 4 * (width * width + width)   # q, k, v, out projections
               + width * mlp_dim + mlp_dim + mlp_dim * width + width)
  return (embed + int(class_token) * width + tokens * width + depth * per_block
          + 2 * width + width * num_classes + num_classes)


class SelfAttention(nn.Module):
  """Multi-head self-attention returning (output (N, T, D), weights (N, heads, T, T))."""
  num_heads: int
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    d = x.shape[-1]
    if d % self.num_heads:
      raise ValueError(f"width {d} is not divisible by num_heads={self.num_heads}")
    head_dim = d // self.num_heads
    proj = lambda name: nn.DenseGeneral((self.num_heads, head_dim), name=name)(x)
    q, k, v = proj("query"), proj("key"), proj("value")
    logits = jnp.einsum("nqhd,nkhd->nhqk", q, k) / jnp.sqrt(head_dim).astype(x.dtype)
    weights = nn.softmax(logits, axis=-1)
    attn = nn.Dropout(self.dropout_rate, deterministic=not train)(weights)
    out = jnp.einsum("nhqk,nkhd->nqhd", attn, v)
    return nn.DenseGeneral(d, axis=(-2, -1), name="out")(out), weights


class EncoderBlock(nn.Module):
  """Pre-LN transformer block; returns (tokens, attention weights)."""
  num_heads: int
  mlp_dim: int
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    drop = lambda y: nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y, weights = SelfAttention(self.num_heads, self.dropout_rate, name="attention")(
        nn.LayerNorm(epsilon=1e-6, name="ln1")(x), train)
    x = x + drop(y)
    y = nn.LayerNorm(epsilon=1e-6, name="ln2")(x)
    y = drop(gelu(nn.Dense(self.mlp_dim, name="mlp_in")(y)))
    y = drop(nn.Dense(x.shape[-1], name="mlp_out")(y))
    return x + y, weights


class ViT(nn.Module):
  """ViT classifier. Defaults are ViT-B/16 (patch 16, width 768, depth 12, 12 heads, MLP 3072).
  The position embedding is sized from the input seen at init, so apply at that size."""
  num_classes: int = 1000
  patch_size: int = 16
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  dropout_rate: float = 0.0
  classifier: str = "token"   # token | gap
  in_channels: int | None = None
  arch: str = "vit"

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_input(x, self.in_channels, self.arch, min_hw=self.patch_size)
    check_choice(self.classifier, ("token", "gap"), "ViT classifier")
    if self.depth < 1:
      raise ValueError(f"ViT depth={self.depth} is invalid; expected >= 1")
    n, hh, ww, _ = x.shape
    if hh % self.patch_size or ww % self.patch_size:
      raise ValueError(f"model {self.arch} needs H and W divisible by patch_size="
                       f"{self.patch_size}, got {hh}x{ww}")
    p = self.patch_size
    x = Conv(self.width, (p, p), (p, p), padding="VALID", name="embedding")(x)
    gh, gw = x.shape[1], x.shape[2]
    x = x.reshape(n, gh * gw, self.width)
    token = self.classifier == "token"
    if token:
      cls = self.param("cls", nn.initializers.zeros, (1, 1, self.width))
      x = jnp.concatenate([jnp.broadcast_to(cls, (n, 1, self.width)), x], axis=1)
    pos = self.param("pos_embedding", nn.initializers.normal(0.02), (1,) + x.shape[1:])
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x + pos)
    attention = []
    block = lambda i: EncoderBlock(self.num_heads, self.mlp_dim, self.dropout_rate,
                                   name=f"encoderblock_{i}")
    for i in range(self.depth - 1 if token else self.depth):
      x, w = block(i)(x, train)
      attention.append(w)
    if token:
      fmap = self.perturb("feature_map", x[:, 1:].reshape(n, gh, gw, self.width))
      x = jnp.concatenate([x[:, :1], fmap.reshape(n, gh * gw, self.width)], axis=1)
      x, w = block(self.depth - 1)(x, train)
      attention.append(w)
      pre = nn.LayerNorm(epsilon=1e-6, name="encoder_norm")(x)[:, 0]
    else:
      x = nn.LayerNorm(epsilon=1e-6, name="encoder_norm")(x)
      fmap = self.perturb("feature_map", x.reshape(n, gh, gw, self.width))
      pre = jnp.mean(fmap, axis=(1, 2))
    logits = nn.Dense(self.num_classes, name="head")(pre)
    return logits, {"feature_map": fmap, "pre_logits": pre, "attention": tuple(attention)}
