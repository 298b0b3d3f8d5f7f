"""Image sources: folder loading, grayscale conversion, size limits, patch sampling, cropping."""

import numpy as np
import pytest
from skimage import io

from vision_jax.data import images as images_lib


def _write_pngs(folder, shapes):
  rng = np.random.default_rng(0)
  arrays = {}
  for i, shape in enumerate(shapes):
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    io.imsave(folder / f"im{i:02d}.png", arr, check_contrast=False)
    arrays[f"im{i:02d}"] = arr
  return arrays


def test_load_folder_reads_sorted_gray_float_images(tmp_path):
  arrays = _write_pngs(tmp_path, [(20, 30), (16, 16, 3)])
  (tmp_path / "notes.txt").write_text("not an image")
  loaded = images_lib.load_folder(str(tmp_path))
  assert [im.name for im in loaded] == ["im00", "im01"]
  np.testing.assert_allclose(loaded[0].pixels[..., 0], arrays["im00"] / 255.0, atol=1e-6)
  from skimage.color import rgb2gray
  np.testing.assert_allclose(loaded[1].pixels[..., 0], rgb2gray(arrays["im01"]), atol=1e-6)
  assert all(im.pixels.dtype == np.float32 and im.pixels.shape[-1] == 1 for im in loaded)


def test_size_limit_zero_or_none_keeps_full_size_and_negative_is_refused(tmp_path):
  _write_pngs(tmp_path, [(40, 60)])
  for keep in (None, 0, 60, 100):
    assert images_lib.load_folder(str(tmp_path), keep)[0].pixels.shape == (40, 60, 1)
  assert images_lib.load_folder(str(tmp_path), 30)[0].pixels.shape == (20, 30, 1)
  with pytest.raises(ValueError, match="max_size=-1"):
    images_lib.load_folder(str(tmp_path), -1)


def test_missing_or_empty_folder_fails_clearly(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    images_lib.load_folder(str(tmp_path / "nope"))
  with pytest.raises(ValueError, match="no readable images"):
    images_lib.load_folder(str(tmp_path))


def test_sample_patches_is_pure_in_seed_and_step_and_copies_image_content():
  rng = np.random.default_rng(1)
  ims = [rng.random((24, 30, 1)).astype(np.float32), rng.random((18, 18, 1)).astype(np.float32)]
  a = images_lib.sample_patches(ims, 6, 8, seed=3, step=7)
  np.testing.assert_array_equal(a, images_lib.sample_patches(ims, 6, 8, seed=3, step=7))
  assert not np.array_equal(a, images_lib.sample_patches(ims, 6, 8, seed=3, step=8))
  # Without augmentation every patch is a literal window of one training image.
  plain = images_lib.sample_patches(ims, 6, 8, seed=3, step=7, augment=False)
  windows = [im[i:i + 8, j:j + 8] for im in ims for i in range(im.shape[0] - 7) for j in range(im.shape[1] - 7)]
  for patch in plain:
    assert any(np.array_equal(patch, w) for w in windows)
  with pytest.raises(ValueError, match="patch_size=20"):
    images_lib.sample_patches(ims, 2, 20, seed=0, step=0)


def test_crop_to_multiple_centres_the_crop():
  x = np.arange(10 * 13, dtype=np.float32).reshape(10, 13, 1)
  y = images_lib.crop_to_multiple(x, 4)
  assert y.shape == (8, 12, 1)
  np.testing.assert_array_equal(y, x[1:9, 0:12])
  with pytest.raises(ValueError, match="multiple 16"):
    images_lib.crop_to_multiple(x, 16)
