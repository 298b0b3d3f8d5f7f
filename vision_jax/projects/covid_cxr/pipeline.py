"""The paper's preprocessing (seed 002 article 1, section "Preprocessing"), one named step each:

1. `isolate_lungs`: image x lung mask (the dataset's mask; the phantoms' exact mask). Training input.
2. `safe_lung_mask`: Otsu threshold, dark pixels (levels <= t*) as lung, the 2 largest connected
   components, kept only if its area fraction AF is in (0.05, 0.80), else an all-ones mask. Used only
   for the Grad-CAM coverage metric, never for training.
3. CLAHE, OpenCV clipLimit 3.0 on an 8 x 8 tile grid (vision_jax.data.preprocess.clahe: scikit-image
   clip_limit = 3.0 / 256).
4. Bone suppression Base + 0.18 (I - Base), Base = bilateral(I) (sigmas UNSPEC in the paper: 0.1 in
   intensity, 1 px).
5. Four channels [ROI, radial FFT band-pass, Frangi vesselness max over scales 1-8 px, LBP(8, 1)], each
   min-max scaled to [0, 1] per image (the model sees 2 x - 1, i.e. [-1, 1]; see training.model_input).
   The band-pass radii are UNSPEC: r1 < d < r2 with d in cycles per image side (DFT index radius),
   default 6 < d < 32, so the band covers the same anatomy at any resolution.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vision_jax.data import preprocess as pp

CHANNELS = ("roi", "freq", "vessel", "lbp")
AREA_FRACTION_RANGE = (0.05, 0.80)


@dataclasses.dataclass(frozen=True)
class Pipeline:
  """Preprocessing settings (hashable: keys the caches of sources.py)."""
  isolate: bool = True
  clahe_clip: float = 3.0
  clahe_tiles: int = 8
  bone_weight: float = 0.18
  bilateral_sigma_color: float = 0.1
  bilateral_sigma_spatial: float = 1.0
  band_low: float = 6.0  # cycles per image side
  band_high: float = 32.0
  frangi_sigmas: tuple = tuple(float(s) for s in range(1, 9))
  channels: tuple = CHANNELS

  def __post_init__(self):
    bad = [c for c in self.channels if c not in CHANNELS]
    if bad or not self.channels or len(set(self.channels)) != len(self.channels):
      raise ValueError(f"channels={','.join(self.channels)!r} is invalid; expected distinct names among "
                       f"{', '.join(CHANNELS)}")
    if not 0 <= self.band_low < self.band_high:
      raise ValueError(f"band_low={self.band_low!r}, band_high={self.band_high!r} are invalid; expected "
                       "0 <= band_low < band_high (cycles per image side)")
    if not 0 <= self.bone_weight <= 1:
      raise ValueError(f"bone_weight={self.bone_weight!r} is invalid; expected 0 <= weight <= 1")
    if not self.frangi_sigmas or min(self.frangi_sigmas) <= 0:
      raise ValueError(f"frangi_sigmas={self.frangi_sigmas!r} is invalid; expected positive scales in pixels")
    if self.clahe_clip <= 0 or int(self.clahe_tiles) != self.clahe_tiles or self.clahe_tiles < 1:
      raise ValueError(f"clahe_clip={self.clahe_clip!r}, clahe_tiles={self.clahe_tiles!r} are invalid; expected "
                       "clip > 0 and a positive integer number of tiles")

  @property
  def stack_key(self):
    """The settings that change the four-channel stack (everything but the channel selection)."""
    return dataclasses.replace(self, channels=CHANNELS)

  def channel_index(self) -> list[int]:
    return [CHANNELS.index(c) for c in self.channels]


def _names(value) -> tuple:
  if isinstance(value, str):
    return tuple(t.strip() for t in value.split(",") if t.strip())
  return tuple(value)


def pipeline_from_options(options: dict) -> tuple[Pipeline, dict]:
  """(Pipeline, remaining options) from a loader's options: the Pipeline fields are taken out
  (channels and frangi_sigmas as comma lists or sequences)."""
  opts = dict(options)
  fields = {f.name for f in dataclasses.fields(Pipeline)}
  kw = {k: opts.pop(k) for k in list(opts) if k in fields}
  if "channels" in kw:
    kw["channels"] = _names(kw["channels"])
  if "frangi_sigmas" in kw:
    try:
      kw["frangi_sigmas"] = tuple(float(s) for s in _names(kw["frangi_sigmas"]))
    except ValueError:
      raise ValueError(f"frangi_sigmas={kw['frangi_sigmas']!r} is invalid; expected comma-separated scales") from None
  for key in ("clahe_clip", "bone_weight", "bilateral_sigma_color", "bilateral_sigma_spatial", "band_low", "band_high"):
    if key in kw:
      kw[key] = float(kw[key])
  if "clahe_tiles" in kw:
    kw["clahe_tiles"] = int(kw["clahe_tiles"])
  if "isolate" in kw:
    kw["isolate"] = bool(kw["isolate"])
  return Pipeline(**kw), opts


def check_same_size(image, mask, what: str = "mask") -> None:
  """ValueError unless the (H, W) mask has the image's size."""
  if np.shape(mask) != np.shape(image)[:2]:
    raise ValueError(f"{what} has shape {np.shape(mask)} but its image has shape {np.shape(image)[:2]}; "
                     "expected a mask of the image's size")


def isolate_lungs(image, mask) -> np.ndarray:
  """Step 1: image (H, W) x lung mask (H, W) (zero outside the lungs), float64."""
  check_same_size(image, mask)
  return np.asarray(image, np.float64) * np.asarray(mask, bool)


def safe_lung_mask(image, components: int = 2, area_range=AREA_FRACTION_RANGE) -> tuple[np.ndarray, str]:
  """Step 2: the paper's algorithmic lung mask of a radiograph (H, W) in [0, 1].

  M = 1[level <= t*] (Otsu t* on the uint8 levels; dark = lung), the `components` largest 8-connected
  components of M, AF = sum M / (H W). Returns (mask, "") when area_range[0] < AF < area_range[1], else
  (all-ones mask, reason) - the fallback, e.g. for an all-black image (every level in class 0, AF = 1).
  """
  u8 = pp.to_uint8(image)
  t = pp.otsu_threshold(u8)
  mask = pp.largest_components(u8 <= t, components)
  af = float(mask.mean())
  lo, hi = area_range
  if lo < af < hi:
    return mask, ""
  kind = "constant image" if u8.min() == u8.max() else f"area fraction {af:.3f}"
  return np.ones_like(mask, bool), f"{kind} outside ({lo:.2f}, {hi:.2f}): all-ones fallback"


def channel_stack(image, mask, p: Pipeline) -> np.ndarray:
  """Steps 1 and 3-5 on one radiograph (H, W) in [0, 1] with its lung mask: (H, W, 4) float32 in [0, 1],
  channels in CHANNELS order (select with p.channel_index())."""
  x = isolate_lungs(image, mask) if p.isolate else np.asarray(image, np.float64)
  x = pp.clahe(x, p.clahe_clip, p.clahe_tiles)
  x = np.clip(pp.bone_suppression(x, p.bone_weight, p.bilateral_sigma_color, p.bilateral_sigma_spatial), 0, 1)
  side = max(x.shape)
  freq = pp.radial_bandpass(x, p.band_low / side, p.band_high / side)
  vessel = pp.frangi_vesselness(x, p.frangi_sigmas, black_ridges=False)
  texture = pp.local_binary_pattern(x, 8, 1)
  return np.stack([pp.minmax_scale(c) for c in (x, freq, vessel, texture)], axis=-1)


def preprocess(images, masks, p: Pipeline, desc: str = "preprocess", progress: bool = True) -> np.ndarray:
  """channel_stack over a batch: images (N, H, W), masks (N, H, W) -> (N, H, W, 4) float32."""
  from vision_jax.progress import progress_bar
  images, masks = np.asarray(images), np.asarray(masks)
  if masks.shape != images.shape:
    raise ValueError(f"masks have shape {masks.shape} but images have shape {images.shape}; expected one mask "
                     "of the image's size per image")
  out = np.empty((*images.shape, len(CHANNELS)), np.float32)
  for i in progress_bar(range(images.shape[0]), desc=desc, unit="img", leave=False,
                        disable=not progress or images.shape[0] < 64):
    out[i] = channel_stack(images[i], masks[i], p)
  return out


def otsu_masks(images) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """safe_lung_mask of each image (N, H, W): masks (N, H, W) bool, fallback flags (N,), reasons."""
  results = [safe_lung_mask(im) for im in np.asarray(images)]
  masks = np.stack([m for m, _ in results]) if results else np.zeros((0, 0, 0), bool)
  reasons = [r for _, r in results]
  return masks, np.asarray([bool(r) for r in reasons]), reasons


def dice(a, b) -> np.ndarray:
  """Dice 2|A & B| / (|A| + |B|) of bool masks over the last two axes (1 where both are empty)."""
  a, b = np.asarray(a, bool), np.asarray(b, bool)
  inter = (a & b).sum(axis=(-2, -1))
  total = a.sum(axis=(-2, -1)) + b.sum(axis=(-2, -1))
  return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)
