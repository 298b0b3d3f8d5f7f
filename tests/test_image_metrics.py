"""Image metrics: PSNR/SSIM against scikit-image, batching, ENL/CNR statistics, region pickers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color, data, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vision_jax import noise
from vision_jax.metrics import image as M


def _sk_ssim(x, ref):
  """skimage reference on (H, W, C) arrays, channel_axis only for C > 1."""
  if x.shape[-1] == 1:
    x, ref, axis = x[..., 0], ref[..., 0], None
  else:
    axis = -1
  return structural_similarity(x, ref, data_range=1.0, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, channel_axis=axis)


def _images():
  """Reference images (H, W, C) float64 in [0, 1]."""
  rng = np.random.default_rng(0)
  astro = data.astronaut() / 255.0
  return {
    "camera": (data.camera() / 255.0)[..., None],
    "astronaut_gray": transform.resize(color.rgb2gray(astro), (256, 256), anti_aliasing=True)[..., None],
    "astronaut_rgb": transform.resize(astro, (192, 160), anti_aliasing=True),
    "uniform_noise": rng.random((48, 64, 1)),
    "coins_odd": (data.coins()[:101, :77] / 255.0)[..., None],
  }


def _distort(ref, level, seed):
  rng = np.random.default_rng(seed)
  return np.clip(ref + rng.normal(0.0, level, ref.shape), 0.0, 1.0)


@pytest.mark.parametrize("name", list(_images()))
@pytest.mark.parametrize("level", [0.03, 0.2])
def test_ssim_and_psnr_match_skimage(name, level):
  ref = _images()[name]
  x = _distort(ref, level, seed=1)
  want_ssim = _sk_ssim(x, ref)
  want_psnr = peak_signal_noise_ratio(ref, x, data_range=1.0)
  got_ssim = float(M.ssim(jnp.asarray(x, jnp.float32), jnp.asarray(ref, jnp.float32)))
  got_psnr = float(M.psnr(jnp.asarray(x, jnp.float32), jnp.asarray(ref, jnp.float32)))
  assert abs(got_ssim - want_ssim) < 1e-4, (got_ssim, want_ssim)
  assert abs(got_psnr - want_psnr) < 1e-3, (got_psnr, want_psnr)


def test_ssim_float64_is_exact():
  ref = _images()["astronaut_rgb"]
  x = _distort(ref, 0.1, seed=2)
  with jax.enable_x64(True):
    got = float(M.ssim(jnp.asarray(x), jnp.asarray(ref)))
  assert abs(got - _sk_ssim(x, ref)) < 1e-10


def test_data_range_scaling():
  ref = _images()["uniform_noise"]
  x = _distort(ref, 0.1, seed=3)
  s1 = M.ssim(jnp.asarray(x, jnp.float32), jnp.asarray(ref, jnp.float32))
  s255 = M.ssim(jnp.asarray(x * 255, jnp.float32), jnp.asarray(ref * 255, jnp.float32), data_range=255.0)
  np.testing.assert_allclose(s1, s255, rtol=1e-4)
  p255 = M.psnr(jnp.asarray(x * 255, jnp.float32), jnp.asarray(ref * 255, jnp.float32), data_range=255)
  np.testing.assert_allclose(p255, peak_signal_noise_ratio(ref * 255, x * 255, data_range=255), rtol=1e-5)


def test_batched_shapes_match_per_image():
  rng = np.random.default_rng(4)
  refs = rng.random((2, 3, 32, 40, 2)).astype(np.float32)
  xs = np.clip(refs + rng.normal(0, 0.1, refs.shape), 0, 1).astype(np.float32)
  s, p, e = M.ssim(xs, refs), M.psnr(xs, refs), M.mse(xs, refs)
  assert s.shape == p.shape == e.shape == (2, 3)
  for i in range(2):
    for j in range(3):
      assert abs(float(s[i, j]) - _sk_ssim(xs[i, j].astype(np.float64), refs[i, j].astype(np.float64))) < 1e-4
      np.testing.assert_allclose(p[i, j], peak_signal_noise_ratio(refs[i, j], xs[i, j], data_range=1), rtol=1e-5)
      np.testing.assert_allclose(e[i, j], np.mean((xs[i, j] - refs[i, j]) ** 2), rtol=1e-5)
  # single image without batch axes -> scalar
  assert M.ssim(xs[0, 0], refs[0, 0]).shape == ()


def test_identical_images():
  ref = jnp.asarray(_images()["astronaut_rgb"], jnp.float32)
  assert float(M.ssim(ref, ref)) == pytest.approx(1.0, abs=1e-6)
  assert float(M.mse(ref, ref)) == 0.0
  assert math.isinf(float(M.psnr(ref, ref))) and float(M.psnr(ref, ref)) > 0


def test_metrics_under_jit():
  ref = jnp.asarray(_images()["uniform_noise"], jnp.float32)
  x = jnp.clip(ref + 0.1, 0, 1)
  both = jax.jit(lambda a, b: (M.ssim(a, b), M.psnr(a, b)))(x, ref)
  np.testing.assert_allclose(both[0], M.ssim(x, ref), rtol=1e-6)
  np.testing.assert_allclose(both[1], M.psnr(x, ref), rtol=1e-6)


def test_metric_errors():
  a = jnp.zeros((16, 16, 1))
  with pytest.raises(ValueError, match=r"differs from reference shape"):
    M.psnr(a, jnp.zeros((16, 15, 1)))
  with pytest.raises(ValueError, match=r"rank 2"):
    M.ssim(jnp.zeros((16, 16)), jnp.zeros((16, 16)))
  with pytest.raises(ValueError, match=r"expected both >= 11"):
    M.ssim(jnp.zeros((10, 16, 1)), jnp.zeros((10, 16, 1)))
  with pytest.raises(ValueError, match=r"mask has shape"):
    M.enl(a, np.ones((8, 8), bool))
  with pytest.raises(ValueError, match=r"selects 0 pixel"):
    M.cnr(a, np.zeros((16, 16), bool), np.ones((16, 16), bool))


@pytest.mark.parametrize("looks", [1, 4, 8])
def test_enl_of_gamma_speckle_is_looks(looks):
  x = jnp.full((256, 256, 1), 0.5, jnp.float32)
  y = noise.speckle_intensity(jax.random.key(looks), x, looks)
  mask = np.ones((256, 256), bool)
  n = mask.sum()
  got = float(M.enl(y, mask))
  # delta method: ENL-hat = mean^2 / var; rel. SE ~ sqrt((kurtosis - 1) / n + 4 / (L n)), Gamma kurtosis 3 + 6/L
  rel_se = math.sqrt((2 + 6 / looks) / n + 4 / (looks * n))
  assert abs(got / looks - 1) < 5 * rel_se, got


def test_enl_hand_computed_and_per_channel():
  x = np.zeros((4, 4, 2), np.float32)
  x[0, :2, 0] = [1.0, 3.0]  # mean 2, var 1 -> ENL 4
  x[0, :2, 1] = [2.0, 2.0 + 2 * math.sqrt(2)]  # mean 2 + sqrt2, var 2 -> ENL (2 + sqrt2)^2 / 2
  mask = np.zeros((4, 4), bool)
  mask[0, :2] = True
  want = (4.0 + (2 + math.sqrt(2)) ** 2 / 2) / 2
  np.testing.assert_allclose(M.enl(x, mask), want, rtol=1e-6)


def test_cnr_hand_computed_and_batched():
  x = np.zeros((6, 6, 1), np.float32)
  roi = np.zeros((6, 6), bool)
  bg = np.zeros((6, 6), bool)
  x[0, :2, 0] = [0.8, 1.0]  # mu 0.9, var 0.01
  roi[0, :2] = True
  x[5, :2, 0] = [0.1, 0.3]  # mu 0.2, var 0.01
  bg[5, :2] = True
  want = 0.7 / math.sqrt(0.02)
  np.testing.assert_allclose(M.cnr(x, roi, bg), want, rtol=1e-5)
  batch = np.stack([x, 2 * x])  # scaling the image leaves CNR unchanged
  np.testing.assert_allclose(M.cnr(batch, roi, bg), [want, want], rtol=1e-5)


def test_homogeneous_region_mask_finds_flat_blocks():
  rng = np.random.default_rng(5)
  img = rng.random((64, 80))
  img[16:32, 48:64] = 0.4  # the only flat 16x16 block on the grid
  img[32:48, 0:16] = 0.6 + 0.001 * rng.random((16, 16))  # second flattest
  img[0:16, 0:16] = 0.0  # flat but black: excluded by min_mean
  mask = M.homogeneous_region_mask(img, size=16)
  expected = np.zeros_like(mask)
  expected[16:32, 48:64] = True
  np.testing.assert_array_equal(mask, expected)
  mask2 = M.homogeneous_region_mask(img[..., None].repeat(3, -1), size=16, k=2)
  expected[32:48, 0:16] = True
  np.testing.assert_array_equal(mask2, expected)
  with pytest.raises(ValueError, match=r"expected at least k=100"):
    M.homogeneous_region_mask(img, size=16, k=100)


def test_homogeneous_region_on_camera_is_flat():
  cam = data.camera() / 255.0
  mask = M.homogeneous_region_mask(cam, size=16, k=4)
  assert mask.sum() == 4 * 256
  blocks = cam.reshape(32, 16, 32, 16).transpose(0, 2, 1, 3).reshape(1024, 256)
  chosen = mask.reshape(32, 16, 32, 16).transpose(0, 2, 1, 3).reshape(1024, 256).all(axis=1)
  assert chosen.sum() == 4
  # the chosen blocks are the 4 lowest-variance ones among those with mean >= 0.05 (the camera's black
  # coat has flat blocks too, excluded by min_mean), and they are flat sky
  var = np.where(blocks.mean(axis=1) >= 0.05, blocks.var(axis=1), np.inf)
  np.testing.assert_array_equal(np.sort(np.argsort(var, kind="stable")[:4]), np.flatnonzero(chosen))
  assert blocks[chosen].mean(axis=1).min() > 0.7
  assert blocks[chosen].std(axis=1).max() < 0.01


def test_object_background_masks_on_disk():
  yy, xx = np.mgrid[:64, :64]
  disk = ((yy - 32) ** 2 + (xx - 32) ** 2) <= 15**2
  img = np.where(disk, 0.8, 0.2)
  roi, bg = M.object_background_masks(img, erode=2)
  assert roi.sum() > 0 and bg.sum() > 0 and not np.any(roi & bg)
  assert np.all(disk[roi]) and not np.any(disk[bg])
  # no selected pixel within 2 px of the object edge
  from scipy import ndimage
  dist_in = ndimage.distance_transform_edt(disk)
  dist_out = ndimage.distance_transform_edt(~disk)
  assert dist_in[roi].min() > 2 and dist_out[bg].min() > 2
  # CNR measured on these masks with speckle has the expected order of magnitude
  y = noise.speckle_intensity(jax.random.key(0), jnp.asarray(img[..., None], jnp.float32), 8)
  c = float(M.cnr(y, roi, bg))
  want = 0.6 / math.sqrt((0.8**2 + 0.2**2) / 8)
  assert abs(c / want - 1) < 0.1
  with pytest.raises(ValueError, match=r"constant"):
    M.object_background_masks(np.full((8, 8), 0.5))
