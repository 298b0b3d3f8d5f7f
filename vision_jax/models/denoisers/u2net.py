"""U2-Net (Qin et al., Pattern Recognition 2020) and ResU2Net, a lighter residual variant.

RSU-L ("residual U-block" of height L), input (N, H, W, C_in) -> (N, H, W, out):
  hx_in = REBN(out)(x); a small UNet on hx_in with L-1 encoder convs (mid channels) and L-2
  2x2 max-pools, a dilation-2 bottom conv, L-1 decoder convs on [upsampled, skip] concatenations
  (the last one back to `out` channels); returns decoder_output + hx_in.
RSU-LF (the paper's RSU-4F): same wiring without pooling; dilations 1, 2, 4, ..., 2**(L-1).
REBN(c, d) = 3x3 conv (dilation d, with bias) + BatchNorm + ReLU.

U2Net: encoder stages RSU7, RSU6, RSU5, RSU4 (heights configurable) then RSU4F, RSU4F, with
2x2 max-pools between stages; the decoder mirrors stages 5..1 on [upsampled deeper, skip].
Side outputs: a 3x3 conv (to C_out) on each decoder stage and on stage 6, bilinearly upsampled
to full resolution (d1..d6); d0 = 1x1 conv of concat(d1..d6). The paper applies a sigmoid to
d0..d6; here `output` selects "sigmoid" (paper), "none" or "residual" (x - d).

Channels are multiples of `width`; width = 16 gives the paper's U2Net (encoder mid/out 32/64,
32/128, 64/256, 128/512, 256/512, 256/512; decoder 256/512, 128/256, 64/128, 32/64, 16/64):
44,009,869 parameters with C_in = 3, C_out = 1 (the paper's 44.0M).

H and W must be multiples of 2**max(5, max_k(k + heights[k] - 2)) (5 = the five stage pools).

aux: "side_outputs" (d1..d6 after `output`, each (N, H, W, C_out)), "side_logits" (raw d1..d6),
"fused_logits" (raw d0; y = output(d0)).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from vision_jax.models.conv import Conv
from vision_jax.models.denoisers import common

# Channel multipliers of the paper's U2Net in units of `width` (width = 16 gives the paper).
_ENC_MID = (2, 2, 4, 8, 16, 16)
_ENC_OUT = (4, 8, 16, 32, 32, 32)
_DEC_MID = (16, 8, 4, 2, 1)  # decoder stages 5, 4, 3, 2, 1
_DEC_OUT = (32, 16, 8, 4, 4)


class REBNConv(nn.Module):
  """3x3 conv (dilation `dilation`, bias) + BN + ReLU: (N, H, W, *) -> (N, H, W, features)."""
  features: int
  dilation: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = Conv(self.features, (3, 3), padding="SAME", kernel_dilation=self.dilation)(x)
    return nn.relu(common.batch_norm(train)(x))


class RSU(nn.Module):
  """Residual U-block RSU-L (dilated=False) or RSU-LF (dilated=True).

  (N, H, W, C) -> (N, H, W, out). Non-dilated needs H, W multiples of 2**(height-2).
  """
  height: int
  mid: int
  out: int
  dilated: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.height < 2:
      raise ValueError(f"RSU height={self.height} is invalid; expected >= 2")
    dil = (lambda i: 2 ** i) if self.dilated else (lambda i: 1)
    hx_in = REBNConv(self.out, name="conv_in")(x, train)
    enc = []
    h = hx_in
    for i in range(self.height - 1):
      if i > 0 and not self.dilated:
        h = common.max_pool2(h)
      h = REBNConv(self.mid, dil(i), name=f"enc{i}")(h, train)
      enc.append(h)
    bottom = 2 ** (self.height - 1) if self.dilated else 2
    h = REBNConv(self.mid, bottom, name="bottom")(h, train)
    for i in range(self.height - 2, -1, -1):
      h = common.resize_to(h, enc[i].shape[1:3])
      feats = self.out if i == 0 else self.mid
      h = REBNConv(feats, dil(i), name=f"dec{i}")(jnp.concatenate([h, enc[i]], axis=-1), train)
    return h + hx_in


def _u2_forward(x, train, heights, enc_ch, dec_ch, c_out, output, add_skips):
  """Shared six-stage U2 wiring; must be called inside a compact method (creates submodules).

  enc_ch: six (mid, out) pairs; dec_ch: five (mid, out) pairs for decoder stages 5..1.
  add_skips: ResU2Net's extra residual connection (decoder stage k output += encoder stage k).
  Returns (y, aux).
  """
  specs = [(h, False) for h in heights] + [(4, True), (4, True)]
  enc = []
  h = x
  for k, ((height, dilated), (mid, out)) in enumerate(zip(specs, enc_ch)):
    if k > 0:
      h = common.max_pool2(h)
    h = RSU(height, mid, out, dilated, name=f"stage{k + 1}")(h, train)
    enc.append(h)
  dec = [None] * 5
  for j, k in enumerate(range(4, -1, -1)):  # decoder stages 5..1, 0-based k
    height, dilated = specs[k]
    mid, out = dec_ch[j]
    up = common.resize_to(h, enc[k].shape[1:3])
    h = RSU(height, mid, out, dilated, name=f"stage{k + 1}d")(
        jnp.concatenate([up, enc[k]], axis=-1), train)
    if add_skips:
      h = h + enc[k]
    dec[k] = h
  hw = x.shape[1:3]
  sides = dec + [enc[5]]
  side_logits = tuple(
      common.resize_to(Conv(c_out, (3, 3), padding="SAME", name=f"side{k + 1}")(s), hw)
      for k, s in enumerate(sides))
  fused = Conv(c_out, (1, 1), name="fuse")(jnp.concatenate(side_logits, axis=-1))
  aux = {
      "side_outputs": tuple(common.apply_output(x, d, output) for d in side_logits),
      "side_logits": side_logits,
      "fused_logits": fused,
  }
  if output == "residual":
    aux["noise"] = fused
  return common.apply_output(x, fused, output), aux


def _check_heights(heights, arch):
  heights = tuple(int(h) for h in heights)
  if len(heights) != 4 or min(heights) < 2:
    raise ValueError(f"{arch} heights={heights} is invalid; expected 4 RSU heights >= 2 "
                     "(stages 5 and 6 are always RSU-4F)")
  return heights


def required_multiple(heights: Sequence[int]) -> int:
  """2**depth: stage k (0-based) runs at 1/2**k and pools heights[k]-2 more times; 5 stage pools."""
  return 2 ** max([5] + [k + h - 2 for k, h in enumerate(heights)])


class U2Net(nn.Module):
  """U2-Net: (N, H, W, C) -> ((N, H, W, C_out), aux with six full-resolution side outputs).

  Fields:
    width: channel scale; 16 = the paper's U2Net (44.0M params), 2-4 trains on a CPU.
    heights: RSU heights of encoder stages 1-4 (paper (7, 6, 5, 4)); mirrored in the decoder.
    output: "sigmoid" (paper), "none" or "residual" (y = x - d0, predicted noise).
    out_channels: output channels (None = input channels; must equal them for "residual").
  """
  width: int = 16
  heights: Sequence[int] = (7, 6, 5, 4)
  output: str = "sigmoid"
  out_channels: int | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    common.check_choice(self.output, common.OUTPUTS, "u2net output")
    heights = _check_heights(self.heights, "u2net")
    common.check_image_input(x, required_multiple(heights), "u2net")
    c_out = common.resolve_out_channels(x, self.out_channels, self.output == "residual", "u2net")
    scale = lambda m: m * self.width
    enc_ch = [(scale(m), scale(o)) for m, o in zip(_ENC_MID, _ENC_OUT)]
    dec_ch = [(scale(m), scale(o)) for m, o in zip(_DEC_MID, _DEC_OUT)]
    return _u2_forward(x, train, heights, enc_ch, dec_ch, c_out, self.output, add_skips=False)


class ResU2Net(nn.Module):
  """ResU2Net: a lighter U2-Net with additive encoder->decoder residual connections.

  Every stage has `features` output channels and `mid` internal channels (like U2-Net-lite);
  decoder stage k gets concat(upsampled deeper decoder, encoder k) as in U2Net and its output
  is RSU(...) + encoder_k (the residual connection). Deep supervision: six side outputs as in
  U2Net. (N, H, W, C) -> ((N, H, W, C_out), aux); same H, W rule as U2Net.

  Fields:
    mid: RSU internal channels (16 -> about 1.1M params with features = 64).
    features: channels of every stage output.
    heights: RSU heights of encoder stages 1-4 (stages 5, 6 are RSU-4F).
    output: "sigmoid", "none" or "residual".
    out_channels: output channels (None = input channels; must equal them for "residual").
  """
  mid: int = 16
  features: int = 64
  heights: Sequence[int] = (7, 6, 5, 4)
  output: str = "sigmoid"
  out_channels: int | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False):
    common.check_choice(self.output, common.OUTPUTS, "resu2net output")
    heights = _check_heights(self.heights, "resu2net")
    common.check_image_input(x, required_multiple(heights), "resu2net")
    c_out = common.resolve_out_channels(x, self.out_channels, self.output == "residual",
                                        "resu2net")
    enc_ch = [(self.mid, self.features)] * 6
    dec_ch = [(self.mid, self.features)] * 5
    return _u2_forward(x, train, heights, enc_ch, dec_ch, c_out, self.output, add_skips=True)
