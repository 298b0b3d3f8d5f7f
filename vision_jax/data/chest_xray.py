"""Chest radiographs: a phantom generator with exact lung masks and findings, a corner-marker shortcut,
and the folder layout of the COVID-19 Radiography Database.

Phantoms (`chest_phantom`, `make_chest_phantoms`): a PA chest film at S x S pixels (air dark, tissue and
bone bright): thorax ellipse, two lung fields cut by the diaphragm domes and the heart, mediastinum and
spine, posterior ribs and clavicles, branching pulmonary vessels from the hila, film gain / gamma and
quantum noise. Findings (FINDINGS), always strictly inside the lungs:

- "covid": diffuse ground-glass opacity (GGO): faint, mid-frequency textured haze in the lower and
  peripheral zones, bilateral in 80 % of cases; amplitude from `severity` (faint cases are hard);
- "lung_opacity": one or two dense focal consolidations anywhere in the lungs (mostly upper / middle);
- "viral_pneumonia": bilateral perihilar streaky interstitial haze (central, not peripheral);
- "normal": none.

The binary label is 1 for "covid" and 0 for the rest (the paper's COVID-vs-rest task). Seeds fix
everything: the same Generator state gives the same images.

`add_corner_marker` paints a bright L-shaped marker (a film annotation) into the top-left corner, outside
the lungs; `make_chest_phantoms(marker_rates=(p1, p0))` adds it with probability p1 to positives and p0 to
negatives, a shortcut correlated with the label.

Folder layout (`list_radiography_folder`): ROOT/<class>/images/*.png and ROOT/<class>/masks/*.png with
the same file names, classes RADIOGRAPHY_CLASSES (COVID, Normal, Lung_Opacity, Viral Pneumonia).
"""

from __future__ import annotations

import os

import numpy as np
from scipy import ndimage

FINDINGS = ("normal", "covid", "lung_opacity", "viral_pneumonia")
# Shares of the negatives in the database's Table 1 (Normal 10192, Lung Opacity 6012, Viral Pneumonia 1345).
NEGATIVE_MIX = {"normal": 10192 / 17549, "lung_opacity": 6012 / 17549, "viral_pneumonia": 1345 / 17549}
RADIOGRAPHY_CLASSES = ("COVID", "Normal", "Lung_Opacity", "Viral Pneumonia")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _grid(size: int):
  """Normalised pixel-centre coordinates (v, u) = ((i + 0.5) / S, (j + 0.5) / S), each (S, S)."""
  t = (np.arange(size) + 0.5) / size
  return np.meshgrid(t, t, indexing="ij")


def _ellipse(v, u, cv, cu, av, au, angle=0.0):
  c, s = np.cos(angle), np.sin(angle)
  dv, du = v - cv, u - cu
  a, b = c * dv + s * du, -s * dv + c * du
  return (a / av) ** 2 + (b / au) ** 2 <= 1.0


def _bandpass_noise(rng, size: int, lo: float, hi: float) -> np.ndarray:
  """Zero-mean unit-std Gaussian noise band-limited by a difference of Gaussians (sigmas lo < hi, px)."""
  w = rng.standard_normal((size, size))
  f = ndimage.gaussian_filter(w, lo) - ndimage.gaussian_filter(w, hi)
  return (f - f.mean()) / (f.std() + 1e-12)


def _draw_polyline(canvas, pts, widths, values):
  """Adds Gaussian-profile line segments between consecutive points (v, u in pixels) to canvas."""
  size = canvas.shape[0]
  for (p0, p1, w, val) in zip(pts[:-1], pts[1:], widths, values):
    lo = np.floor(np.minimum(p0, p1) - 3 * w - 1).astype(int).clip(0, size - 1)
    hi = np.ceil(np.maximum(p0, p1) + 3 * w + 2).astype(int).clip(1, size)
    yy, xx = np.mgrid[lo[0]:hi[0], lo[1]:hi[1]].astype(np.float64)
    d = p1 - p0
    t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0, 1)
    dist2 = (yy - p0[0] - t * d[0]) ** 2 + (xx - p0[1] - t * d[1]) ** 2
    patch = canvas[lo[0]:hi[0], lo[1]:hi[1]]
    np.maximum(patch, val * np.exp(-dist2 / (2 * w * w)), out=patch)


def _vessel_tree(rng, size, hilum, lung, n_vessels: int) -> np.ndarray:
  """Branching bright vessels from a hilum (v, u in pixels) into one lung; tapering width and contrast."""
  canvas = np.zeros((size, size))
  ys, xs = np.nonzero(lung)
  if ys.size == 0:
    return canvas
  for _ in range(n_vessels):
    k = rng.integers(ys.size)
    end = np.array([ys[k], xs[k]], np.float64)
    start = np.asarray(hilum, np.float64)
    mid = (start + end) / 2 + rng.normal(0, 0.04 * size, 2)
    t = np.linspace(0, 1, 9)[:, None]
    pts = (1 - t) ** 2 * start + 2 * (1 - t) * t * mid + t ** 2 * end  # quadratic Bezier
    widths = np.linspace(0.9, 0.45, 8) * size / 128
    values = np.linspace(0.11, 0.03, 8)
    _draw_polyline(canvas, pts, widths, values)
    if rng.random() < 0.7:  # one side branch from the middle
      j = rng.integers(3, 6)
      direction = pts[j + 1] - pts[j]
      normal = np.array([-direction[1], direction[0]]) / (np.linalg.norm(direction) + 1e-9)
      branch_end = pts[j] + direction * 2 + normal * rng.choice([-1, 1]) * 0.08 * size
      bt = np.linspace(0, 1, 4)[:, None]
      _draw_polyline(canvas, (1 - bt) * pts[j] + bt * branch_end, widths[j:j + 3], values[j:j + 3] * 0.8)
  return canvas * lung


def _zone_weights(v, u, lung_box, side: int, zone: str) -> np.ndarray:
  """Sampling weight over one lung: 'lower_peripheral' (bases and lateral rim), 'central' (perihilar),
  'any' (uniform with an upper / middle preference)."""
  v0, v1, u_med, u_lat = lung_box
  depth = np.clip((v - v0) / (v1 - v0), 0, 1)  # 0 apex .. 1 base
  lateral = np.clip((u - u_med) / (u_lat - u_med), 0, 1)  # 0 medial .. 1 lateral
  if zone == "lower_peripheral":
    return depth ** 3 * (0.3 + lateral) ** 2
  if zone == "central":
    return np.exp(-((depth - 0.45) ** 2) / 0.03) * (1.0 - lateral) ** 2
  return 1.2 - depth


def _sample_points(rng, weights, mask, k: int) -> np.ndarray:
  w = (weights * mask).ravel()
  if w.sum() <= 0:
    return np.zeros((0, 2))
  idx = rng.choice(w.size, size=k, p=w / w.sum())
  return np.stack(np.unravel_index(idx, mask.shape), axis=1).astype(np.float64)


def _blobs(size, centers, sigmas, amps) -> np.ndarray:
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
  out = np.zeros((size, size))
  for (cy, cx), s, a in zip(centers, sigmas, amps):
    out += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
  return out


def add_corner_marker(image, size_fraction: float = 0.09, value: float = 0.97) -> np.ndarray:
  """A copy of image (H, W) with a bright L-shaped film marker in the top-left corner (bars of
  size_fraction x side long, a third as thick, 4 % of the side from the edges)."""
  img = np.array(image, np.float32, copy=True)
  h, w = img.shape
  side = min(h, w)
  off, length = max(int(round(0.04 * side)), 1), max(int(round(size_fraction * side)), 3)
  thick = max(length // 3, 1)
  img[off:off + length, off:off + thick] = value
  img[off + length - thick:off + length, off:off + int(round(0.7 * length))] = value
  return img


def corner_marker_box(shape, size_fraction: float = 0.09, margin: float = 0.03) -> np.ndarray:
  """(H, W) bool box around where add_corner_marker paints (its bars plus `margin` x side on each side):
  the region whose share of a saliency map measures reliance on the marker."""
  h, w = shape
  side = min(h, w)
  off, length = max(int(round(0.04 * side)), 1), max(int(round(size_fraction * side)), 3)
  pad = int(round(margin * side))
  box = np.zeros((h, w), bool)
  box[max(off - pad, 0):off + length + pad, max(off - pad, 0):off + length + pad] = True
  return box


def chest_phantom(rng: np.random.Generator, size: int = 128, finding: str = "normal", severity: float | None = None):
  """One phantom radiograph.

  Returns image (S, S) float32 in [0, 1], lungs (S, S) bool (exact), lesion field (S, S) float32 (the
  additive signal of the finding, zero outside the lungs) and the severity used (GGO amplitude scale,
  drawn from U(0.35, 1) unless given).
  """
  if finding not in FINDINGS:
    raise ValueError(f"unknown finding {finding!r}; valid: {', '.join(FINDINGS)}")
  if size < 32:
    raise ValueError(f"size={size} is too small for a chest phantom; expected >= 32 pixels")
  v, u = _grid(size)
  j = lambda scale: 1.0 + rng.uniform(-scale, scale)  # noqa: E731 (relative jitter)
  cv, cu = 0.53 + rng.uniform(-0.015, 0.015), 0.5 + rng.uniform(-0.015, 0.015)
  body = _ellipse(v, u, cv + 0.08, cu, 0.6 * j(0.03), 0.6 * j(0.03))  # arms and soft tissue reach the sides
  tissue = 0.42 * j(0.08) + 0.12 * np.clip(np.abs(u - cu) / 0.5, 0, 1) ** 2  # thicker chest wall laterally
  img = np.where(body, tissue, 0.04)
  lungs = np.zeros((size, size), bool)
  boxes = {}
  for side in (-1, 1):  # -1: image left (patient right), +1: image right (patient left, heart side)
    lc_u = cu + side * 0.2 * j(0.05)
    lc_v, av, au = cv - 0.04 * j(0.3), 0.31 * j(0.05), 0.135 * j(0.06)
    lung = _ellipse(v, u, lc_v, lc_u, av, au, side * -0.1 * j(0.3))
    dome = lc_v + av * (0.72 + 0.12 * j(0.5)) - 0.35 * (u - lc_u) ** 2 / au  # diaphragm dome
    lung &= v < dome
    lungs |= lung
    boxes[side] = (lc_v - av, lc_v + av * 0.85, cu + side * 0.07, lc_u + side * au)
  heart = _ellipse(v, u, cv + 0.15, cu + 0.06 * j(0.3), 0.14 * j(0.08), 0.15 * j(0.08))
  lungs &= ~heart
  lung_level = 0.16 * j(0.12) + 0.06 * np.clip((v - (cv - 0.3)) / 0.55, 0, 1)  # bases overlap soft tissue
  img = np.where(lungs, lung_level, img)
  mediastinum = (np.abs(u - cu) < 0.06) & body & ~lungs
  img = np.where(heart & body, 0.62 * j(0.05), img)
  img = np.where(mediastinum, 0.7 * j(0.05), img)
  img = np.where((np.abs(u - cu) < 0.035) & body, np.maximum(img, 0.78), img)  # spine
  ribs = np.zeros((size, size))
  spacing = 0.075 * j(0.05)
  for k in range(8):  # posterior ribs: arcs rising laterally from the spine then falling
    for side in (-1, 1):
      du = np.clip(side * (u - cu), 0, None)
      centre = cv - 0.33 + k * spacing - 0.25 * du + 0.9 * du ** 2
      band = np.exp(-((v - centre) ** 2) / (2 * (0.011 * j(0.1)) ** 2)) * (du > 0.03) * (du < 0.44)
      ribs = np.maximum(ribs, band)
  clavicles = np.zeros((size, size))
  for side in (-1, 1):
    du = side * (u - cu)
    line = cv - 0.41 + 0.12 * du + rng.uniform(-0.01, 0.01)
    clavicles = np.maximum(clavicles, np.exp(-((v - line) ** 2) / (2 * 0.012 ** 2)) * (du > 0.04) * (du < 0.33))
  img = img + body * (0.07 * ribs + 0.1 * clavicles) + lungs * 0.03 * ribs
  s_px = size  # hila in pixels
  for side in (-1, 1):
    hilum = ((cv - 0.05) * s_px, (cu + side * 0.09) * s_px)
    img = img + _vessel_tree(rng, size, hilum, lungs & (np.sign(u - cu) == side), int(rng.integers(7, 11)))
  lesion = np.zeros((size, size))
  severity = float(rng.uniform(0.35, 1.0) if severity is None else severity)
  if finding == "covid":
    sides = (-1, 1) if rng.random() < 0.8 else (int(rng.choice([-1, 1])),)
    haze = np.zeros((size, size))
    for side in sides:
      half = lungs & (np.sign(u - cu) == side)
      centers = _sample_points(rng, _zone_weights(v, u, boxes[side], side, "lower_peripheral"), half,
                               int(rng.integers(2, 5)))
      haze += _blobs(size, centers, rng.uniform(0.06, 0.1, len(centers)) * size, rng.uniform(0.7, 1.0, len(centers)))
    texture = 1.0 + 0.6 * _bandpass_noise(rng, size, 1.0 * size / 128, 3.0 * size / 128)
    lesion = 0.16 * severity * np.clip(haze, 0, 1.3) * np.clip(texture, 0, None)
  elif finding == "lung_opacity":
    for _ in range(int(rng.integers(1, 3))):
      side = int(rng.choice([-1, 1]))
      half = lungs & (np.sign(u - cu) == side)
      c = _sample_points(rng, _zone_weights(v, u, boxes[side], side, "any"), half, 1)
      r = rng.uniform(0.035, 0.06) * size
      yy, xx = np.mgrid[0:size, 0:size]
      if len(c):
        d = np.sqrt((yy - c[0, 0]) ** 2 + (xx - c[0, 1]) ** 2)
        lesion += rng.uniform(0.2, 0.32) / (1 + np.exp((d - r) / (0.12 * r)))  # dense, sharp-edged
  elif finding == "viral_pneumonia":
    for side in (-1, 1):
      half = lungs & (np.sign(u - cu) == side)
      weight = _zone_weights(v, u, boxes[side], side, "central")
      streaks = ndimage.gaussian_filter(rng.standard_normal((size, size)), (0.7 * size / 128, 2.0 * size / 128))
      streaks = (streaks - streaks.mean()) / (streaks.std() + 1e-12)
      lesion += half * weight * (0.09 + 0.05 * streaks) * rng.uniform(0.6, 1.0)
  lesion = np.clip(lesion, 0, 0.4) * lungs
  img = ndimage.gaussian_filter(img, 0.5 * size / 128) + lesion
  gamma = rng.uniform(0.85, 1.15)
  img = np.clip(img, 0, 1) ** gamma * rng.uniform(0.9, 1.05)
  img = img + rng.uniform(0.012, 0.025) * rng.standard_normal((size, size))
  return np.clip(img, 0.0, 1.0).astype(np.float32), lungs, lesion.astype(np.float32), severity


def make_chest_phantoms(rng: np.random.Generator, num_images: int, size: int = 128, prevalence: float = 0.17,
                        marker_rates: tuple[float, float] | None = None):
  """num_images phantoms with exactly round(prevalence x N) positives ("covid"), the negatives drawn from
  NEGATIVE_MIX, in a random order.

  Returns images (N, S, S) float32 in [0, 1], labels (N,) int32 (1 = covid), lungs (N, S, S) bool and aux
  {"finding": (N,) int32 index into FINDINGS, "lesion": (N, S, S) float32 additive signal,
  "lesion_masks": lesion > 0.02, "severity": (N,), "marker": (N,) bool}. marker_rates (p_pos, p_neg): the
  corner marker's probability for positives and negatives (None: no marker).
  """
  if int(num_images) != num_images or num_images < 2:
    raise ValueError(f"num_images={num_images!r} is invalid; expected an integer >= 2")
  if not 0.0 <= prevalence <= 1.0:
    raise ValueError(f"prevalence={prevalence!r} is invalid; expected a fraction in [0, 1]")
  n = int(num_images)
  n_pos = int(round(prevalence * n))
  neg_names = list(NEGATIVE_MIX)
  neg = rng.choice(len(neg_names), size=n - n_pos, p=list(NEGATIVE_MIX.values()))
  findings = np.concatenate([np.full(n_pos, FINDINGS.index("covid")),
                             [FINDINGS.index(neg_names[k]) for k in neg]]).astype(np.int32)
  findings = findings[rng.permutation(n)]
  labels = (findings == FINDINGS.index("covid")).astype(np.int32)
  if marker_rates is None:
    marker = np.zeros(n, bool)
  else:
    p1, p0 = (float(p) for p in marker_rates)
    if not (0 <= p1 <= 1 and 0 <= p0 <= 1):
      raise ValueError(f"marker_rates={marker_rates!r} is invalid; expected two probabilities (positives, negatives)")
    marker = rng.random(n) < np.where(labels == 1, p1, p0)
  images = np.empty((n, size, size), np.float32)
  lungs = np.empty((n, size, size), bool)
  lesion = np.empty((n, size, size), np.float32)
  severity = np.empty(n)
  for i in range(n):
    images[i], lungs[i], lesion[i], severity[i] = chest_phantom(rng, size, FINDINGS[findings[i]])
    if marker[i]:
      images[i] = add_corner_marker(images[i])
  aux = {"finding": findings, "lesion": lesion, "lesion_masks": lesion > 0.02, "severity": severity, "marker": marker}
  return images, labels, lungs, aux


# ----------------------------------------------------------------------------- the published folder layout
def _image_files(folder: str) -> list[str]:
  return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))


def list_radiography_folder(root: str, classes=RADIOGRAPHY_CLASSES):
  """Files of the COVID-19 Radiography Database layout ROOT/<class>/{images,masks}/NAME.

  Returns (image_paths, mask_paths, class_ids) with class_ids (N,) int32 indices into `classes`; a class
  folder that is absent is skipped (at least one must exist). Raises FileNotFoundError for a missing
  root, a class folder without images/ or masks/, or an image without its mask file.
  """
  if not os.path.isdir(root):
    raise FileNotFoundError(f"radiography folder not found: {root!r}; expected ROOT/<class>/images and masks")
  images, masks, ids = [], [], []
  found = []
  for k, name in enumerate(classes):
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
      continue
    found.append(name)
    img_dir, mask_dir = os.path.join(folder, "images"), os.path.join(folder, "masks")
    for sub in (img_dir, mask_dir):
      if not os.path.isdir(sub):
        raise FileNotFoundError(f"{folder!r} has no {os.path.basename(sub)}/ folder; expected {name}/images and "
                                f"{name}/masks (COVID-19 Radiography Database layout)")
    mask_files = set(_image_files(mask_dir))
    for f in _image_files(img_dir):
      if f not in mask_files:
        raise FileNotFoundError(f"image {os.path.join(img_dir, f)!r} has no mask {os.path.join(mask_dir, f)!r}; "
                                "expected one mask per image with the same file name")
      images.append(os.path.join(img_dir, f))
      masks.append(os.path.join(mask_dir, f))
      ids.append(k)
  if not found:
    raise FileNotFoundError(f"{root!r} holds none of the class folders {', '.join(classes)}")
  if not images:
    raise FileNotFoundError(f"{root!r} has class folders ({', '.join(found)}) but no images in them")
  return images, masks, np.asarray(ids, np.int32)


def read_radiograph(path: str) -> np.ndarray:
  """A grayscale radiograph file as (H, W) float32 in [0, 1] (RGB / RGBA converted to luminance)."""
  from skimage import io
  from skimage.color import rgb2gray, rgba2rgb
  try:
    a = io.imread(path)
  except Exception as e:  # noqa: BLE001 (any decoder error: one line naming the file)
    raise ValueError(f"cannot read image {path!r} ({type(e).__name__}); expected a PNG/JPEG radiograph") from None
  if a.ndim == 3 and a.shape[-1] == 4:
    a = rgba2rgb(a)
  if a.ndim == 3:
    a = rgb2gray(a)
  elif a.dtype == np.uint8:
    a = a / 255.0
  elif a.dtype == np.uint16:
    a = a / 65535.0
  a = np.asarray(a, np.float64)
  if a.ndim != 2:
    raise ValueError(f"image {path!r} has shape {a.shape}; expected a 2-D grayscale or RGB image")
  return np.clip(a, 0, 1).astype(np.float32)


def read_mask(path: str, image_shape, resize: bool = False) -> np.ndarray:
  """A lung mask file as (H, W) bool (pixels above half the maximum), checked against its image's shape.

  resize=False refuses a mask of another size; resize=True resizes it (nearest neighbour) to the image.
  """
  from skimage.transform import resize as sk_resize
  m = read_radiograph(path)
  m = m > 0.5 * max(float(m.max()), 1e-12) if m.max() > 0 else np.zeros_like(m, bool)
  if m.shape != tuple(image_shape):
    if not resize:
      raise ValueError(f"mask {path!r} is {m.shape[0]}x{m.shape[1]} but its image is {image_shape[0]}x"
                       f"{image_shape[1]}; expected equal sizes (data.options.resize_masks=True resizes masks)")
    m = sk_resize(m, image_shape, order=0, anti_aliasing=False, preserve_range=True).astype(bool)
  return m
