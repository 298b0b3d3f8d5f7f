"""Denoiser registry: `get_denoiser(name, **fields)` builds a Flax Linen denoiser by name.

Image denoisers map NHWC (N, H, W, C) -> ((N, H, W, C_out), aux); see common.py for the
contract. "coord_mlp" is a coordinate network (P, 3) -> ((P,), {}) for PINN fits.
"""

from vision_jax.models.denoisers.common import count_params
from vision_jax.models.denoisers.coord_mlp import CoordMLP, scalar_fn
from vision_jax.models.denoisers.dncnn import DnCNN
from vision_jax.models.denoisers.resunet import ResUNet
from vision_jax.models.denoisers.tnrd import TNRD
from vision_jax.models.denoisers.u2net import ResU2Net, U2Net
from vision_jax.models.denoisers.unet import UNet

DENOISERS = {
    "unet": UNet,
    "resunet": ResUNet,
    "u2net": U2Net,
    "resu2net": ResU2Net,
    "dncnn": DnCNN,
    "tnrd": TNRD,
    "coord_mlp": CoordMLP,
}


def get_denoiser(name, **kwargs):
  """Builds the denoiser registered as `name` with its dataclass fields `kwargs`."""
  if name not in DENOISERS:
    raise ValueError(f"unknown denoiser {name!r}; valid: {', '.join(sorted(DENOISERS))}")
  return DENOISERS[name](**kwargs)


__all__ = ["DENOISERS", "get_denoiser", "count_params", "scalar_fn", "CoordMLP", "DnCNN",
           "ResUNet", "ResU2Net", "TNRD", "U2Net", "UNet"]
