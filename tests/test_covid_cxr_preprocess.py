"""vision_jax.data.preprocess and the covid_cxr pipeline steps, each against its library or a closed form:
Otsu vs a brute-force search of the paper's sigma_b^2 (and scikit-image), the largest components, CLAHE's
clip-limit mapping and its single-tile closed form (Eq. 13), bone suppression's identities, the radial
band-pass on a two-frequency image, Frangi's closed-form ridge response, LBP vs the paper's formula,
flip / rotation geometry, safe_lung_mask and its fallbacks."""

import numpy as np
import pytest
from scipy import ndimage
from skimage import exposure, filters, restoration
from skimage.feature import local_binary_pattern as sk_lbp

from vision_jax.data import preprocess as pp
from vision_jax.projects.covid_cxr import pipeline as pl


def bimodal_u8(rng, shape=(40, 50)):
  dark = rng.normal(60, 15, shape)
  bright = rng.normal(170, 25, shape)
  pick = rng.random(shape) < 0.35
  return np.clip(np.where(pick, dark, bright), 0, 255).astype(np.uint8)


def brute_force_otsu(u8) -> int:
  """The paper's formulas, one threshold at a time: p_i = n_i / N, w0 = sum_{i<=t} p_i, mu0, mu1, argmax."""
  p = np.bincount(u8.ravel(), minlength=256) / u8.size
  best, best_t = -1.0, 0
  for t in range(256):
    w0 = p[:t + 1].sum()
    w1 = 1.0 - w0
    if w0 <= 0 or w1 <= 1e-15:
      continue
    mu0 = (np.arange(t + 1) * p[:t + 1]).sum() / w0
    mu1 = (np.arange(t + 1, 256) * p[t + 1:]).sum() / w1
    var = w0 * w1 * (mu0 - mu1) ** 2
    if var > best + 1e-15:
      best, best_t = var, t
  return best_t


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otsu_matches_brute_force_and_skimage(seed):
  u8 = bimodal_u8(np.random.default_rng(seed))
  t = pp.otsu_threshold(u8)
  assert t == brute_force_otsu(u8)
  # scikit-image puts levels <= its threshold in the background class: the same partition
  np.testing.assert_array_equal(u8 <= t, u8 <= filters.threshold_otsu(u8))


def test_otsu_of_a_constant_image_puts_everything_in_class_zero():
  assert pp.otsu_threshold(np.zeros((8, 8))) == 0
  assert np.all(pp.between_class_variance(np.bincount(np.full(10, 7), minlength=256)) == 0)


def test_largest_components_keeps_the_two_biggest():
  m = np.zeros((30, 30), bool)
  m[2:12, 2:12] = True    # 100 px
  m[15:20, 15:20] = True  # 25 px
  m[22:28, 2:10] = True   # 48 px
  out = pp.largest_components(m, 2)
  assert out.sum() == 148 and out[2, 2] and out[22, 2] and not out[15, 15]
  np.testing.assert_array_equal(pp.largest_components(m, 5), m)
  with pytest.raises(ValueError, match="k=0"):
    pp.largest_components(m, 0)


def test_clahe_clip_mapping_and_single_tile_closed_form():
  assert pp.opencv_clip_to_skimage(3.0) == pytest.approx(3.0 / 256)
  rng = np.random.default_rng(0)
  img = rng.random((64, 48))
  ref = exposure.equalize_adapthist(img, kernel_size=(8, 6), clip_limit=3.0 / 256, nbins=256)
  np.testing.assert_allclose(pp.clahe(img, 3.0, 8), ref, atol=1e-12)
  # One tile, no clipping: Eq. 13 s_k = sum_{j<=k} p_j, then scikit-image's min-max rescale.
  levels, probs = np.array([0.1, 0.3, 0.6, 0.9]), np.array([0.4, 0.1, 0.3, 0.2])
  img = rng.choice(levels, size=(64, 64), p=probs)
  out = pp.clahe(img, clip_limit=1000.0, tiles=1)
  cdf = np.cumsum([(img == v).mean() for v in levels])
  expect = (cdf - cdf[0]) / (1 - cdf[0])
  for v, e in zip(levels, expect):
    np.testing.assert_allclose(out[img == v], e, atol=2e-3)
  with pytest.raises(ValueError, match="clip_limit"):
    pp.opencv_clip_to_skimage(0.0)


def test_bone_suppression_identities():
  rng = np.random.default_rng(1)
  img = ndimage.gaussian_filter(rng.random((32, 32)), 1.0)
  base = restoration.denoise_bilateral(img, win_size=7, sigma_color=0.1, sigma_spatial=1.0, mode="reflect")
  np.testing.assert_allclose(pp.bone_suppression(img, 0.0, 0.1, 1.0), base, atol=1e-12)
  np.testing.assert_allclose(pp.bone_suppression(img, 1.0, 0.1, 1.0), img, atol=1e-12)
  np.testing.assert_allclose(pp.bone_suppression(img, 0.18, 0.1, 1.0), base + 0.18 * (img - base), atol=1e-12)
  flat = np.full((16, 16), 0.4)
  np.testing.assert_allclose(pp.bone_suppression(flat, 0.18), flat, atol=1e-12)
  with pytest.raises(ValueError, match="weight=1.5"):
    pp.bone_suppression(img, 1.5)


def test_radial_bandpass_keeps_the_in_band_cosine_only():
  n = 64
  y, x = np.mgrid[0:n, 0:n]
  inside = np.cos(2 * np.pi * 8 * x / n)    # 8 cycles per image = 0.125 cycles/px
  outside = np.cos(2 * np.pi * 28 * y / n)  # 0.4375 cycles/px
  out = pp.radial_bandpass(inside + outside + 0.5, 4 / n, 16 / n)
  np.testing.assert_allclose(out, np.abs(inside), atol=1e-9)  # the DC term and the outside cosine are removed
  assert pp.radial_frequency((4, 4))[2, 2] == 0.0
  with pytest.raises(ValueError, match="band"):
    pp.radial_bandpass(inside, 0.3, 0.1)


def test_frangi_on_a_bright_ridge_reaches_the_closed_form_peak():
  # Straight ridge: l1 = 0 along it, so R_b = 0 and at the largest Hessian norm S = 2 gamma the response is
  # 1 - exp(-2) (gamma = max S / 2, a single scale).
  y = np.arange(64)[:, None] * np.ones((1, 64))
  ridge = np.exp(-((y - 31.5) ** 2) / (2 * 2.0 ** 2))
  v = pp.frangi_vesselness(ridge, sigmas=(2.0,), black_ridges=False)
  assert v.max() == pytest.approx(1 - np.exp(-2), rel=1e-6)
  assert set(np.unique(np.argmax(v, axis=0))) <= {31, 32}
  # Polarity: with a little variation along the line (l1 != 0), a dark line scores 0 on its centre rows.
  wavy = ridge * (1 + 0.2 * np.sin(2 * np.pi * np.arange(64) / 64))[None, :]
  assert pp.frangi_vesselness(wavy, sigmas=(2.0,))[30:34].min() > 0.3
  assert pp.frangi_vesselness(-wavy, sigmas=(2.0,))[30:34].max() < 1e-9
  np.testing.assert_allclose(v, filters.frangi(ridge, sigmas=[2.0], black_ridges=False), atol=1e-12)


def paper_lbp(u8, points=8, radius=1.0):
  """LBP = sum_p s(i_p - i_c) 2^p, s(x) = 1[x >= 0], neighbours at (-R sin(2 pi p / P), R cos(2 pi p / P))
  bilinearly interpolated (zero outside the image), in the operation order of scikit-image's interpolation."""
  img = u8.astype(np.float64)
  h, w = img.shape
  rp = np.round(-radius * np.sin(2 * np.pi * np.arange(points) / points), 5)
  cp = np.round(radius * np.cos(2 * np.pi * np.arange(points) / points), 5)
  padded = np.pad(img, 2)
  get = lambda r, c: padded[r + 2, c + 2]  # noqa: E731
  rr, cc = np.mgrid[0:h, 0:w]
  out = np.zeros((h, w))
  for p in range(points):
    r, c = rr + rp[p], cc + cp[p]
    r0, c0, r1, c1 = np.floor(r).astype(int), np.floor(c).astype(int), np.ceil(r).astype(int), np.ceil(c).astype(int)
    dr, dc = r - r0, c - c0
    top = (1 - dc) * get(r0, c0) + dc * get(r0, c1)
    bottom = (1 - dc) * get(r1, c0) + dc * get(r1, c1)
    value = (1 - dr) * top + dr * bottom
    out += (value - img >= 0) * 2 ** p
  return out


def test_lbp_is_the_papers_formula():
  u8 = np.random.default_rng(3).integers(0, 256, (24, 20)).astype(np.uint8)
  ours = pp.local_binary_pattern(u8, 8, 1)
  np.testing.assert_array_equal(ours, paper_lbp(u8))
  np.testing.assert_array_equal(ours, sk_lbp(u8, 8, 1, method="default"))
  assert pp.local_binary_pattern(np.full((5, 5), 9, np.uint8))[2, 2] == 255  # all neighbours >= centre


def test_minmax_scale_and_to_uint8():
  np.testing.assert_allclose(pp.minmax_scale(np.array([[2.0, 4.0], [6.0, 10.0]])), [[0, 0.25], [0.5, 1.0]])
  assert not pp.minmax_scale(np.full((3, 3), 7.0)).any()
  np.testing.assert_array_equal(pp.to_uint8(np.array([[0.0, 0.5, 1.0, 2.0]])), [[0, 128, 255, 255]])


def test_flip_rotate_geometry():
  x = np.random.default_rng(4).random((3, 9, 9, 2)).astype(np.float32)
  np.testing.assert_array_equal(pp.flip_rotate(x, np.random.default_rng(0), max_degrees=0, hflip=1.0), x[:, :, ::-1])
  np.testing.assert_array_equal(pp.flip_rotate(x, np.random.default_rng(0), max_degrees=0, hflip=0.0), x)
  # A bright dot at radius 20 from the centre stays at radius 20 and turns by the drawn angle.
  img = np.zeros((1, 65, 65, 1), np.float32)
  img[0, 32, 52, 0] = 1.0
  img = ndimage.gaussian_filter(img, (0, 1.5, 1.5, 0))
  rng_draws = np.random.default_rng(7)
  rng_draws.random(1)
  angle = rng_draws.uniform(-7, 7, 1)[0]
  out = pp.flip_rotate(img, np.random.default_rng(7), max_degrees=7, hflip=0.0, cval=0.0)[0, ..., 0]
  cy, cx = ndimage.center_of_mass(out)
  assert np.hypot(cy - 32, cx - 32) == pytest.approx(20, abs=0.3)
  assert abs(np.degrees(np.arctan2(-(cy - 32), cx - 32))) == pytest.approx(abs(angle), abs=0.5)


def lung_like(shape=(64, 64)):
  """Bright body, two dark lung ellipses (the truth), dark corners that touch the border."""
  yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
  img = np.full(shape, 0.6)
  lungs = np.zeros(shape, bool)
  for cx in (20, 44):
    lungs |= ((yy - 30) / 18) ** 2 + ((xx - cx) / 8) ** 2 <= 1
  img[lungs] = 0.2
  img[:4, :4] = img[:4, -4:] = 0.05
  return img, lungs


def test_safe_lung_mask_finds_the_lungs_and_falls_back():
  img, lungs = lung_like()
  mask, reason = pl.safe_lung_mask(img)
  assert reason == "" and pl.dice(mask, lungs) == pytest.approx(1.0)
  full, reason = pl.safe_lung_mask(np.zeros((32, 32)))  # all-black: every level <= t*, AF = 1
  assert full.all() and reason.startswith("constant image")
  dark = np.full((32, 32), 0.1)
  dark[:3, :3] = 0.9  # 99 % dark: one component with AF > 0.80
  m, reason = pl.safe_lung_mask(dark)
  assert m.all() and "area fraction" in reason


def test_isolation_and_channel_stack():
  img, lungs = lung_like()
  with pytest.raises(ValueError, match="mask has shape"):
    pl.isolate_lungs(img, lungs[:10])
  np.testing.assert_array_equal(pl.isolate_lungs(img, lungs), np.where(lungs, img, 0.0))
  stack = pl.channel_stack(img, lungs, pl.Pipeline(frangi_sigmas=(1.0, 2.0)))
  assert stack.shape == (64, 64, 4) and stack.dtype == np.float32
  assert np.allclose(stack.min(axis=(0, 1)), 0) and np.allclose(stack.max(axis=(0, 1)), 1)
  with pytest.raises(ValueError, match="channels='roi,bone'"):
    pl.Pipeline(channels=("roi", "bone"))
  with pytest.raises(ValueError, match="masks have shape"):
    pl.preprocess(img[None], lungs[None, :10], pl.Pipeline())
