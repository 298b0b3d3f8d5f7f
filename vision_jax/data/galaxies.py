"""Synthetic galaxy cutouts rendered with GalSim, and a loader for folders of real cutouts.

Source "galsim:morphology" (label 0 "Elliptical", 1 "Other", balanced, shuffled):
- Elliptical: one Sersic profile, n ~ U(3, 5) on a 0.25 grid (GalSim caches each n's Hankel
  transform), half-light radius 0.6-1.8 arcsec, axis ratio q ~ U(0.5, 1), red colours.
- Other: an exponential disc (half-light radius 1.0-2.6 arcsec, random inclination, 20 % edge-on with
  q ~ U(0.12, 0.3)) with a small red bulge, logarithmic spiral arms (m = 2 or 3, pitch 12-28 deg;
  not on edge-on discs), star-forming clumps (galsim.RandomKnots), a bar with probability 0.35, blue
  colours.
- Colour overlap on purpose (real populations have red spirals and blue ellipticals): a fraction
  `red_disc_fraction` of the discs take elliptical colours and `blue_elliptical_fraction` of the
  ellipticals take disc colours, and every colour is jittered.
- A Moffat PSF (beta 3, FWHM 0.6-1.0 arcsec, the same in the three bands g, r, i), pixel response,
  0.2 arcsec pixels, 64 x 64 (12.8 arcsec), the galaxy within +-2 px of the centre; sky level
  `sky_level` ADU per pixel with Poisson noise of sky + source and Gaussian read noise (galsim.CCDNoise's
  model with gain 1, drawn with numpy, which is ~100x faster than GalSim's Poisson deviates), sky subtracted. Each component is drawn once at unit flux and combined per band with
  its colour, so a band image is sum_c flux_c * colour_{c,band} * image_c.
- Display stretch (fixed for every image, like survey JPEG cutouts): asinh(f / softening) scaled so
  `white_level` ADU maps to 1, plus a pedestal of 0.1, clipped to [0, 1]. masks = pixels where the
  noiseless galaxy exceeds the sky noise in the summed bands (the galaxy's footprint).

Every image has its own random stream np.random.default_rng([seed, split, i]), so any image's
noiseless version can be re-rendered (`render_split(..., noiseless=True)`) for tuning denoisers on
validation images. Rendering costs a few ms per image (`render_split` of 7k images: about a minute).

Source "galaxy_folder:ROOT" (Galaxy Zoo / GAMA style): ROOT/labels.csv with a header holding an id
column ("id", "objid", "GalaxyID" or "cataid"), a label column ("label" or "class": names or ints)
and optionally "split" (train / val / test); images ROOT/images/<id>.(png|jpg|jpeg) (RGB or gray).
Without a split column the rows are split 70/15/15 stratified by label with the data seed.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from vision_jax.data import classification as cls_data

__all__ = ["CLASS_NAMES", "BANDS", "GalaxyRenderer", "render_split", "load_galsim_morphology", "load_galaxy_folder",
           "stretch", "SPLIT_SIZES"]

CLASS_NAMES = ("Elliptical", "Other")
BANDS = ("g", "r", "i")
PIXEL_SCALE = 0.2  # arcsec per pixel
SPLIT_SIZES = {"train": 4820, "val": 1180, "test": 1180}  # 6,000 with the slides' 1,180 validation images, + test
RED = np.array([0.45, 0.78, 1.0])      # relative g, r, i flux of an old stellar population
BLUE = np.array([1.0, 0.82, 0.68])     # star-forming disc
CLUMP = np.array([1.0, 0.65, 0.45])    # young clumps
SERSIC_GRID = np.round(np.arange(3.0, 5.001, 0.25), 2)


def stretch(flux, softening: float, white_level: float, pedestal: float = 0.1) -> np.ndarray:
  """The fixed display stretch: clip(asinh(f / s) / asinh(white / s) + pedestal, 0, 1), float32."""
  return np.clip(np.arcsinh(np.asarray(flux) / softening) / np.arcsinh(white_level / softening) + pedestal,
                 0.0, 1.0).astype(np.float32)


def _colour(base, rng, jitter=0.08):
  return base * np.exp(rng.normal(0.0, jitter, 3))


def spiral_arms(size: int, hlr: float, q: float, beta: float, m: int, pitch_deg: float, phase: float,
                sharpness: float = 3.0) -> np.ndarray:
  """(size, size) unit-flux image of logarithmic spiral arms on an exponential disc, in pixels of
  PIXEL_SCALE, centred on the stamp's true centre, inclined like galsim's shear(q, beta)."""
  c = (size - 1) / 2.0
  yy, xx = (np.mgrid[0:size, 0:size] - c) * PIXEL_SCALE
  u = xx * np.cos(beta) + yy * np.sin(beta)
  v = -xx * np.sin(beta) + yy * np.cos(beta)
  u, v = u * np.sqrt(q), v / np.sqrt(q)  # undo galsim's area-preserving shear
  r = np.hypot(u, v) + 1e-9
  phi = np.arctan2(v, u)
  scale_length = hlr / 1.678  # exponential: half-light radius = 1.678 scale lengths
  wind = np.log(r / scale_length) / np.tan(np.deg2rad(pitch_deg))
  arms = ((1.0 + np.cos(m * (phi - wind) + phase)) / 2.0) ** sharpness
  img = np.exp(-r / scale_length) * arms * (1.0 - np.exp(-(r / (0.5 * scale_length)) ** 2))
  return img / img.sum()


class GalaxyRenderer:
  """Draws one galaxy's noiseless band images (3, size, size) in ADU from a parameter dict."""

  def __init__(self, size: int = 64):
    import galsim
    self.galsim = galsim
    self.size = int(size)
    self.gsparams = galsim.GSParams(folding_threshold=1e-2, maxk_threshold=3e-3)

  def _draw(self, profile, psf, offset, method="auto"):
    g = self.galsim
    img = g.Convolve(profile, psf, gsparams=self.gsparams).drawImage(nx=self.size, ny=self.size, scale=PIXEL_SCALE,
                                                                     offset=offset, method=method)
    return img.array.astype(np.float64)

  def components(self, p: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(unit-flux image (size, size), band fluxes (3,))] of every component of galaxy p."""
    g = self.galsim
    psf = g.Moffat(beta=3.0, fwhm=p["psf_fwhm"])
    off = tuple(p["offset"])
    out = []
    if p["kind"] == "elliptical":
      s = g.Sersic(n=p["n"], half_light_radius=p["hlr"], trunc=6 * p["hlr"], gsparams=self.gsparams)
      out.append((self._draw(s.shear(q=p["q"], beta=p["beta"] * g.radians), psf, off), p["flux"] * p["colour"]))
      return out
    fr = p["fractions"]  # disc, bulge, arms, clumps, bar (sum 1)
    disc = g.Exponential(half_light_radius=p["hlr"]).shear(q=p["q"], beta=p["beta"] * g.radians)
    out.append((self._draw(disc, psf, off), p["flux"] * fr[0] * p["colour"]))
    bulge = g.Sersic(n=2.0, half_light_radius=0.25 * p["hlr"], trunc=1.5 * p["hlr"], gsparams=self.gsparams)
    out.append((self._draw(bulge, psf, off), p["flux"] * fr[1] * p["bulge_colour"]))
    if fr[2] > 0:
      arms = spiral_arms(self.size, p["hlr"], p["q"], p["beta"], p["arms"], p["pitch"], p["arm_phase"])
      interp = g.InterpolatedImage(g.Image(arms, scale=PIXEL_SCALE), flux=1.0)
      out.append((self._draw(interp, psf, off, method="no_pixel"), p["flux"] * fr[2] * p["colour"]))
    if fr[3] > 0:
      knots = g.RandomKnots(npoints=p["knots"], half_light_radius=p["hlr"], rng=g.BaseDeviate(p["knot_seed"]))
      out.append((self._draw(knots.shear(q=p["q"], beta=p["beta"] * g.radians), psf, off), p["flux"] * fr[3] * CLUMP))
    if fr[4] > 0:
      bar = g.Gaussian(half_light_radius=0.5 * p["hlr"]).shear(q=p["bar_q"], beta=p["bar_beta"] * g.radians)
      out.append((self._draw(bar, psf, off), p["flux"] * fr[4] * p["bulge_colour"]))
    return out

  def render(self, p: dict) -> np.ndarray:
    """Noiseless (3, size, size) band images in ADU."""
    bands = np.zeros((3, self.size, self.size))
    for img, fluxes in self.components(p):
      bands += fluxes[:, None, None] * img
    return bands


def sample_params(rng: np.random.Generator, label: int, opts: dict) -> dict:
  """Random parameters of one galaxy of class `label` (0 Elliptical, 1 Other); see the module doc."""
  p = {"label": int(label), "psf_fwhm": rng.uniform(*opts["psf_fwhm"]), "offset": rng.uniform(-2, 2, 2),
       "flux": 10 ** rng.uniform(*opts["log_flux"]), "beta": rng.uniform(0, np.pi)}
  if label == 0:
    blue = rng.random() < opts["blue_elliptical_fraction"]
    p.update(kind="elliptical", n=float(rng.choice(SERSIC_GRID)), hlr=rng.uniform(0.6, 1.8), q=rng.uniform(0.5, 1.0),
             colour=_colour(BLUE if blue else RED, rng))
    return p
  edge_on = rng.random() < 0.2
  q = rng.uniform(0.12, 0.3) if edge_on else rng.uniform(0.35, 1.0)
  red = rng.random() < opts["red_disc_fraction"]
  bar = (not edge_on) and rng.random() < 0.35
  fr = np.array([rng.uniform(0.4, 0.6), rng.uniform(0.03, 0.15), 0.0 if edge_on else rng.uniform(0.2, 0.4),
                 rng.uniform(0.05, 0.2), rng.uniform(0.05, 0.15) if bar else 0.0])
  p.update(kind="disc", hlr=rng.uniform(1.0, 2.6), q=q, edge_on=edge_on, bar=bar, fractions=fr / fr.sum(),
           colour=_colour(RED if red else BLUE, rng), bulge_colour=_colour(RED, rng), arms=int(rng.choice([2, 3])),
           pitch=rng.uniform(12, 28), arm_phase=rng.uniform(0, 2 * np.pi), knots=int(rng.integers(5, 20)),
           knot_seed=int(rng.integers(1, 2 ** 31 - 1)), bar_q=rng.uniform(0.2, 0.35), bar_beta=rng.uniform(0, np.pi))
  return p


DEFAULT_OPTIONS = {"psf_fwhm": (0.6, 1.0), "log_flux": (3.8, 5.0), "sky_level": 400.0, "read_noise": 5.0,
                   "red_disc_fraction": 0.15, "blue_elliptical_fraction": 0.1, "softening": 25.0, "white_level": 3000.0}


def _options(kw: dict) -> dict:
  opts = dict(DEFAULT_OPTIONS)
  unknown = sorted(set(kw) - set(opts))
  if unknown:
    raise ValueError(f"unknown galsim option {unknown[0]!r}; valid: {', '.join(sorted(opts))}")
  opts.update(kw)
  for key in ("psf_fwhm", "log_flux"):
    lo, hi = opts[key]
    if not 0 < lo <= hi:
      raise ValueError(f"{key}={opts[key]!r} is invalid; expected (lo, hi) with 0 < lo <= hi")
  return opts


def add_ccd_noise(rng: np.random.Generator, flux: np.ndarray, sky_level: float, read_noise: float) -> np.ndarray:
  """Sky-subtracted CCD noise with gain 1 (galsim.CCDNoise's model, drawn with numpy: much faster):
  Poisson(flux + sky) - sky + N(0, read_noise^2), so the variance is flux + sky + read_noise^2 (ADU^2)."""
  lam = np.clip(flux, 0, None) + sky_level
  return rng.poisson(lam).astype(np.float64) - sky_level + read_noise * rng.standard_normal(flux.shape)


def render_split(split: str, n: int, *, seed: int = 0, size: int = 64, noiseless: bool = False, indices=None,
                 progress: bool = False, **options):
  """Renders images of one split: (images (n, size, size, 3) float32 stretched, labels (n,), masks
  (n, size, size), params list). indices: render only these image numbers (same images as a full run)."""
  from vision_jax.progress import progress_bar
  opts = _options(options)
  split_id = cls_data.SPLITS.index(split)
  labels = np.random.default_rng([seed, split_id, 10 ** 6]).permutation(np.arange(n) % 2).astype(np.int32)
  idx = np.arange(n) if indices is None else np.asarray(indices)
  renderer = GalaxyRenderer(size)
  sky_sigma = np.sqrt(opts["sky_level"] + opts["read_noise"] ** 2)
  images = np.empty((len(idx), size, size, 3), np.float32)
  masks = np.empty((len(idx), size, size), bool)
  params = []
  for k, i in enumerate(progress_bar(idx, desc=f"galsim {split}", disable=not progress, leave=False)):
    rng = np.random.default_rng([seed, split_id, int(i)])
    p = sample_params(rng, labels[i], opts)
    clean = renderer.render(p)
    masks[k] = clean.sum(0) > np.sqrt(3.0) * sky_sigma
    if not noiseless:
      clean = add_ccd_noise(rng, clean, opts["sky_level"], opts["read_noise"])
    images[k] = stretch(np.moveaxis(clean, 0, -1), opts["softening"], opts["white_level"])
    params.append(p)
  return images, labels[idx], masks, params


CACHE: dict = {}  # (split, n, seed, size, options) -> ClassificationData, filled by the loader or a project's disk cache


def cache_key(split: str, n: int, seed: int, size: int, options: dict) -> tuple:
  opts = _options(options)
  return (split, int(n), int(seed), int(size), tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v)
                                                            for k, v in opts.items())))


def load_galsim_morphology(name: str, split: str, *, image_size=None, seed: int = 0, num_train: int = 0,
                           num_val: int = 0, num_test: int = 0, **options) -> cls_data.ClassificationData:
  """Source "galsim:morphology" (see module doc); image_size renders at that side (default 64)."""
  if name != "morphology":
    raise ValueError(f"unknown galsim dataset {name!r}; valid: morphology")
  size = 64 if image_size is None else int(image_size)
  if size < 16:
    raise ValueError(f"image_size={image_size!r} is too small for galaxy cutouts; expected >= 16")
  n = {"train": num_train, "val": num_val, "test": num_test}[split] or SPLIT_SIZES[split]
  key = cache_key(split, n, seed, size, options)
  if key not in CACHE:
    images, labels, masks, params = render_split(split, n, seed=seed, size=size, progress=True, **options)
    aux = {"kind": np.array([p["kind"] for p in params]), "hlr": np.array([p["hlr"] for p in params]),
           "q": np.array([p["q"] for p in params]), "flux": np.array([p["flux"] for p in params]),
           "sersic_n": np.array([p.get("n", np.nan) for p in params])}
    CACHE[key] = cls_data.ClassificationData(images, labels, CLASS_NAMES, masks, aux)
  return CACHE[key]


# ----------------------------------------------------------------------------- real cutouts
ID_COLUMNS = ("id", "objid", "galaxyid", "cataid")
LABEL_COLUMNS = ("label", "class")


def load_galaxy_folder(root: str, split: str, *, image_size=None, seed: int = 0, class_names=None
                       ) -> cls_data.ClassificationData:
  """Source "galaxy_folder:ROOT" (see module doc); images resized to image_size (default 64)."""
  from skimage import io
  csv_path = os.path.join(root, "labels.csv")
  if not os.path.isfile(csv_path):
    raise FileNotFoundError(f"no labels file {csv_path!r}; expected ROOT/labels.csv with id and label columns")
  with open(csv_path, newline="") as f:
    rows = list(csv.DictReader(f))
  if not rows:
    raise ValueError(f"{csv_path!r} has no rows")
  cols = {c.lower().strip(): c for c in rows[0]}
  id_col = next((cols[c] for c in ID_COLUMNS if c in cols), None)
  label_col = next((cols[c] for c in LABEL_COLUMNS if c in cols), None)
  if id_col is None or label_col is None:
    raise ValueError(f"{csv_path!r} has columns {list(rows[0])}; expected an id column ({', '.join(ID_COLUMNS)}) "
                     f"and a label column ({', '.join(LABEL_COLUMNS)})")
  raw = [r[label_col].strip() for r in rows]
  if class_names is None:
    class_names = tuple(sorted(set(raw), key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else v)))
  class_names = tuple(class_names)
  unknown = sorted(set(raw) - set(class_names))
  if unknown:
    raise ValueError(f"{csv_path!r} has label {unknown[0]!r}; expected one of {', '.join(class_names)}")
  labels_all = np.array([class_names.index(v) for v in raw], np.int32)
  split_col = cols.get("split")
  if split_col is not None:
    names = np.array([("val" if r[split_col].strip() == "validation" else r[split_col].strip()) for r in rows])
    chosen = np.flatnonzero(names == split)
  else:
    chosen = cls_data.stratified_split(labels_all, split, seed)
  hw = (64, 64) if image_size is None else ((int(image_size),) * 2 if np.isscalar(image_size) else tuple(image_size))
  images = []
  for i in chosen:
    gid = rows[i][id_col].strip()
    path = next((os.path.join(root, "images", gid + e) for e in (".png", ".jpg", ".jpeg")
                 if os.path.isfile(os.path.join(root, "images", gid + e))), None)
    if path is None:
      raise FileNotFoundError(f"no image for id {gid!r} in {os.path.join(root, 'images')!r} (.png/.jpg/.jpeg)")
    try:
      img = io.imread(path)
    except (OSError, ValueError) as e:
      raise ValueError(f"cannot read image {path!r} ({e})") from None
    img = np.asarray(img, np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
    img = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img[..., :3]
    images.append(img)
  if not images:
    raise ValueError(f"{csv_path!r} has no rows for split {split!r}")
  stacked = cls_data.resize_images(np.stack([cls_data.resize_images(im[None], hw)[0] for im in images]), hw)
  return cls_data.ClassificationData(stacked, labels_all[chosen], class_names, aux={"index": chosen})


def _folder_source(name, split, *, image_size=None, seed=0, **kw):
  return load_galaxy_folder(name, split, image_size=image_size, seed=seed, **kw)


for _scheme, _loader in (("galsim", load_galsim_morphology), ("galaxy_folder", _folder_source)):
  cls_data.register_source(_scheme, _loader)
