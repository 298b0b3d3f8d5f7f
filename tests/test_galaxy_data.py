"""GalSim galaxy cutouts (vision_jax.data.galaxies): physical facts of the renders, the noise model, the
split generator, and the real-cutout folder loader on a tiny folder written here."""

import os

import numpy as np
import pytest

from vision_jax.data import classification as cls_data
from vision_jax.data import galaxies as G


def _elliptical(**kw):
  p = {"kind": "elliptical", "label": 0, "psf_fwhm": 0.05, "offset": np.zeros(2), "flux": 1e4, "beta": 0.3,
       "n": 4.0, "hlr": 2.0, "q": 1.0, "colour": np.array([0.5, 0.8, 1.0])}
  p.update(kw)
  return p


def _half_light_radius_pixels(img):
  c = (img.shape[0] - 1) / 2
  yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
  r = np.hypot(yy - c, xx - c).ravel()
  order = np.argsort(r)
  cum = np.cumsum(img.ravel()[order])
  return float(np.interp(0.5 * cum[-1], cum, r[order]))


@pytest.fixture(scope="module")
def big():
  return G.GalaxyRenderer(size=192)


def test_sersic_half_light_radius_and_flux(big):
  for n in (3.0, 4.0):
    bands = big.render(_elliptical(n=n, hlr=1.6))
    assert _half_light_radius_pixels(bands[2]) * G.PIXEL_SCALE == pytest.approx(1.6, rel=0.04)
    np.testing.assert_allclose(bands.sum(axis=(1, 2)), 1e4 * np.array([0.5, 0.8, 1.0]), rtol=5e-3)


def test_disc_components_conserve_flux_and_ellipticals_are_redder(big):
  rng = np.random.default_rng(0)
  opts = G._options({"red_disc_fraction": 0.0, "blue_elliptical_fraction": 0.0})
  colours = {0: [], 1: []}
  for label in (0, 1, 0, 1, 0, 1):
    p = G.sample_params(rng, label, opts)
    bands = big.render({**p, "offset": np.zeros(2)})
    want = sum(f for _, f in big.components({**p, "offset": np.zeros(2)}))  # (3,) band fluxes of the components
    np.testing.assert_allclose(bands.sum(axis=(1, 2)), want, rtol=0.01)  # a large stamp holds all the light
    np.testing.assert_allclose(want.sum(), p["flux"] * (p["colour"].sum() if label == 0 else
                                                         (p["fractions"][:, None] * np.stack(
                                                             [p["colour"], p["bulge_colour"], p["colour"], G.CLUMP,
                                                              p["bulge_colour"]])).sum()), rtol=1e-9)
    g, i = bands[0].sum(), bands[2].sum()
    colours[label].append(-2.5 * np.log10(g / i))  # g - i colour in magnitudes: larger = redder
  assert min(colours[0]) > max(colours[1])


def test_ccd_noise_variance():
  rng = np.random.default_rng(1)
  flux = np.full(200_000, 300.0)
  noisy = G.add_ccd_noise(rng, flux, sky_level=400.0, read_noise=5.0)
  assert noisy.mean() == pytest.approx(300.0, abs=0.3)
  assert noisy.var() == pytest.approx(300 + 400 + 25, rel=0.02)


def test_render_split_balanced_deterministic_and_reproducible_per_image():
  images, labels, masks, params = G.render_split("val", 6, seed=3, size=32)
  assert images.shape == (6, 32, 32, 3) and images.dtype == np.float32
  assert 0.0 <= images.min() and images.max() <= 1.0
  assert np.bincount(labels).tolist() == [3, 3]
  assert all(m.any() for m in masks)  # every galaxy has a footprint above the sky noise
  assert [p["kind"] for p in params] == ["elliptical" if y == 0 else "disc" for y in labels]
  again, _, _, _ = G.render_split("val", 6, seed=3, size=32, indices=[4, 1])
  np.testing.assert_array_equal(again, images[[4, 1]])
  clean, _, _, _ = G.render_split("val", 6, seed=3, size=32, noiseless=True, indices=[4])
  sky = images[4][~masks[4]]
  assert np.std(sky) > 5 * np.std(clean[0][~masks[4]])  # the noise is in the noisy render only
  other, _, _, _ = G.render_split("test", 6, seed=3, size=32)
  assert not np.allclose(other, images)


def test_galsim_source_loads_through_the_classification_registry():
  d = cls_data.load_classification("galsim:morphology", "val", image_size=32, seed=1, num_val=4)
  assert d.class_names == ("Elliptical", "Other") and len(d) == 4 and d.masks.shape == (4, 32, 32)
  assert d is cls_data.load_classification("galsim:morphology", "val", image_size=32, seed=1, num_val=4)  # cached
  with pytest.raises(ValueError, match="unknown galsim option"):
    cls_data.load_classification("galsim:morphology", "val", image_size=32, num_val=4, sky=3)


def _write_folder(root, with_split):
  from skimage import io
  os.makedirs(os.path.join(root, "images"))
  rng = np.random.default_rng(0)
  rows = []
  for k in range(12):
    label = "Elliptical" if k % 2 == 0 else "Other"
    img = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
    img[..., 0] = 40 * (k % 2)  # a class cue in the red channel
    io.imsave(os.path.join(root, "images", f"{1000 + k}.png"), img, check_contrast=False)
    split = ("train", "train", "val", "test")[k % 4] if with_split else None
    rows.append((1000 + k, label, split))
  with open(os.path.join(root, "labels.csv"), "w") as f:
    f.write("objid,class" + (",split\n" if with_split else "\n"))
    for gid, label, split in rows:
      f.write(f"{gid},{label}" + (f",{split}\n" if with_split else "\n"))


def test_galaxy_folder_loader(tmp_path):
  root = str(tmp_path / "gz")
  _write_folder(root, with_split=True)
  train = cls_data.load_classification(f"galaxy_folder:{root}", "train", image_size=16)
  assert train.class_names == ("Elliptical", "Other")
  assert train.images.shape == (6, 16, 16, 3) and train.labels.tolist() == [0, 1, 0, 1, 0, 1]
  np.testing.assert_allclose(train.images[train.labels == 0, ..., 0], 0.0, atol=1e-6)
  assert len(cls_data.load_classification(f"galaxy_folder:{root}", "val", image_size=16)) == 3
  root2 = str(tmp_path / "gz2")
  _write_folder(root2, with_split=False)
  parts = [cls_data.load_classification(f"galaxy_folder:{root2}", s, image_size=16).aux["index"]
           for s in ("train", "val", "test")]
  assert sorted(np.concatenate(parts).tolist()) == list(range(12))  # a partition of the rows
  os.remove(os.path.join(root2, "images", "1003.png"))
  with pytest.raises(FileNotFoundError, match="no image for id '1003'"):
    for s in ("train", "val", "test"):
      cls_data.load_classification(f"galaxy_folder:{root2}", s, image_size=16)
  with pytest.raises(FileNotFoundError, match="labels.csv"):
    cls_data.load_classification(f"galaxy_folder:{tmp_path}", "train")
