"""Denoiser registry: `get_denoiser(name, **fields)` builds a Flax Linen denoiser by name.

Image denoisers map NHWC (N, H, W, C) -> ((N, H, W, C_out), aux); see common.py for the
contract. "coord_mlp" is a coordinate network (P, 3) -> ((P,), {}) for PINN fits. "tnrd_blind"
takes the sigma / 255 noise level map as an extra last input channel (`takes_noise_map`).
"""

from vision_jax.models.denoisers.common import count_params
from vision_jax.models.denoisers.coord_mlp import CoordMLP, scalar_fn
from vision_jax.models.denoisers.dncnn import DnCNN
from vision_jax.models.denoisers.resunet import ResUNet
from vision_jax.models.denoisers.tnrd import TNRD
from vision_jax.models.denoisers.tnrd_blind import NoiseMapTNRD
from vision_jax.models.denoisers.u2net import ResU2Net, U2Net, required_multiple
from vision_jax.models.denoisers.unet import UNet

DENOISERS = {
    "unet": UNet,
    "resunet": ResUNet,
    "u2net": U2Net,
    "resu2net": ResU2Net,
    "dncnn": DnCNN,
    "tnrd": TNRD,
    "tnrd_blind": NoiseMapTNRD,
    "coord_mlp": CoordMLP,
}


def get_denoiser(name, **kwargs):
  """Builds the denoiser registered as `name` with its dataclass fields `kwargs`."""
  if name not in DENOISERS:
    raise ValueError(f"unknown denoiser {name!r}; valid: {', '.join(sorted(DENOISERS))}")
  return DENOISERS[name](**kwargs)


def takes_noise_map(model) -> bool:
  """True for denoisers whose input is concat(image, sigma / 255 map) (one channel more than the output)."""
  return bool(getattr(model, "takes_noise_map", False))


def input_multiple(model) -> int:
  """The multiple that H and W of an input must be for `model` (its pooling depth): 2**(levels - 1)
  for the (Res)UNet, 2**depth for the (Res)U2Net, 1 for the others (they keep any size)."""
  if isinstance(model, (UNet, ResUNet)):
    return 2 ** (len(model.features) - 1)
  if isinstance(model, (U2Net, ResU2Net)):
    return required_multiple(model.heights)
  return 1


__all__ = ["DENOISERS", "get_denoiser", "input_multiple", "takes_noise_map", "count_params", "scalar_fn", "CoordMLP",
           "DnCNN", "NoiseMapTNRD", "ResUNet", "ResU2Net", "TNRD", "U2Net", "UNet"]
