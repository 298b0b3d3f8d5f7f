"""JAX affine augmentation (vision_jax.data.augment) against scipy.ndimage.affine_transform and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from vision_jax.data import augment


def _params(**kw):
  base = {"angle": 0.0, "shift_y": 0.0, "shift_x": 0.0, "zoom_y": 1.0, "zoom_x": 1.0, "flip": False}
  base.update(kw)
  return {k: jnp.asarray([v]) for k, v in base.items()}


def _apply(img, **kw):
  m, o = augment.affine_matrices(_params(**kw), img.shape[:2])
  return np.asarray(augment.apply_affine(img[None], m, o))[0]


def test_closed_forms_identity_flip_rotation_shift():
  rng = np.random.default_rng(0)
  img = rng.random((9, 9, 3)).astype(np.float32)
  np.testing.assert_allclose(_apply(img), img, atol=1e-6)
  np.testing.assert_allclose(_apply(img, flip=True), img[:, ::-1], atol=1e-6)
  # +90 degrees: output (r, c) reads input R (p - c) + c; on a square image that is a 90-degree turn
  np.testing.assert_allclose(_apply(img, angle=np.pi / 2), np.rot90(img, k=-1, axes=(0, 1)), atol=1e-5)
  # a shift of +2 rows (fraction 2/9) moves content down by 2; the top rows repeat the edge (nearest)
  out = _apply(img, shift_y=2 / 9)
  np.testing.assert_allclose(out[2:], img[:-2], atol=1e-5)
  np.testing.assert_allclose(out[:2], np.broadcast_to(img[:1], (2, 9, 3)), atol=1e-5)
  # zoom 2 about the centre: output pixel p reads input 2 (p - 4) + 4, so the centre stays put
  np.testing.assert_allclose(_apply(img, zoom_y=2.0, zoom_x=2.0)[4, 4], img[4, 4], atol=1e-6)
  np.testing.assert_allclose(_apply(img, zoom_y=2.0, zoom_x=2.0)[3, 5], img[2, 6], atol=1e-6)


@pytest.mark.parametrize("mode", ["nearest", "constant", "wrap"])
def test_matches_scipy_affine_transform(mode):
  rng = np.random.default_rng(1)
  images = rng.random((4, 16, 20, 3)).astype(np.float32)
  params = augment.sample_affine_params(jax.random.key(3), 4)
  m, o = augment.affine_matrices(params, (16, 20))
  ours = np.asarray(augment.apply_affine(images, m, o, order=1, mode=mode))
  m, o = np.asarray(m, np.float64), np.asarray(o, np.float64)
  # jax's 'constant' / 'wrap' pad the sample grid as scipy's 'grid-constant' / 'grid-wrap' do
  scipy_mode = {"constant": "grid-constant", "wrap": "grid-wrap"}.get(mode, mode)
  for i in range(4):
    for ch in range(3):
      ref = ndimage.affine_transform(images[i, ..., ch].astype(np.float64), m[i], o[i], order=1, mode=scipy_mode)
      np.testing.assert_allclose(ours[i, ..., ch], ref, atol=1e-5)


def test_sampled_parameters_follow_the_ranges():
  p = augment.numpy_params(augment.sample_affine_params(jax.random.key(0), 4000, rotation_deg=20, shift=0.2,
                                                        zoom=(0.8, 1.2)))
  assert np.abs(np.rad2deg(p["angle"])).max() <= 20 and np.abs(np.rad2deg(p["angle"])).max() > 19.5
  assert np.abs(p["shift_x"]).max() <= 0.2 and np.abs(p["shift_y"]).max() <= 0.2
  assert p["zoom_x"].min() >= 0.8 and p["zoom_y"].max() <= 1.2
  assert abs(np.corrcoef(p["zoom_x"], p["zoom_y"])[0, 1]) < 0.05  # independent draws (Keras)
  assert abs(p["flip"].mean() - 0.5) < 0.03
  assert not augment.numpy_params(augment.sample_affine_params(jax.random.key(0), 100, hflip=False))["flip"].any()
  with pytest.raises(ValueError, match="0 < lo <= hi"):
    augment.sample_affine_params(jax.random.key(0), 2, zoom=(1.2, 0.8))


def test_random_affine_under_jit_preserves_constant_images_and_mass_roughly():
  img = jnp.full((8, 32, 32, 3), 0.3)
  out = jax.jit(lambda k, x: augment.random_affine(k, x))(jax.random.key(0), img)
  np.testing.assert_allclose(out, 0.3, atol=1e-6)  # nearest fill: a constant image stays constant
  rng = np.random.default_rng(0)
  blob = np.zeros((1, 32, 32, 1), np.float32)
  yy, xx = np.mgrid[:32, :32]
  blob[0, ..., 0] = np.exp(-((yy - 15.5) ** 2 + (xx - 15.5) ** 2) / 8.0)
  # rotation + flip only (zoom 1, no shift): a centred round blob is invariant up to interpolation
  rot = augment.random_affine(jax.random.key(int(rng.integers(100))), blob, shift=0.0, zoom=(1.0, 1.0))
  np.testing.assert_allclose(rot, blob, atol=0.01)
