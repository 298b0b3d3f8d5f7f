"""vision_jax.denoise: the shipped weights reproduce the PSNR recorded when they were made, the API and its
command line handle images and folders as a person expects, and refuse bad input with one line."""

import os
import subprocess
import sys

import numpy as np
import pytest

import vision_jax
from vision_jax import denoise as api
from vision_jax.tasks.denoise import export

SHIPPED = os.path.join(api.WEIGHTS_DIR, api.MODELS["default"])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _noisy(shape=(40, 48), sigma=25.0, seed=0):
  from vision_jax.data import images as images_lib
  clean = images_lib.load_bundled("camera").pixels[100:100 + shape[0], 200:200 + shape[1], 0]
  return (clean + sigma / 255 * np.random.default_rng(seed).standard_normal(clean.shape)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(set(api.MODELS) - {"tnrd_blind"}))
def test_shipped_weights_reproduce_the_recorded_check_psnr(name):
  path = os.path.join(api.WEIGHTS_DIR, api.MODELS[name])
  params, meta = export.read_npz(path)
  assert os.path.getsize(path) < 3e6
  assert os.path.basename(os.path.normpath(meta["training"]["train_dir"])) == "Train400"  # never a test image
  if name == "default":
    assert meta["backbone"] == "tnrd_blind" and meta["sigma_range"] == [0.0, 55.0]
  else:  # one level: the one in its name, and its check is at that level
    level = float(name.split("-s")[1])
    assert meta["backbone"] == "tnrd" and meta["sigma_range"] == [level, level] and meta["check"]["sigma"] == level
    assert meta["fields"]["num_filters"] == 48 and meta["fields"]["kernel_size"] == 7
    assert meta["training"]["train_steps"] == 9500  # make weights-per-sigma: 5 x 100 greedy + 9000 joint
  got = export.check_psnrs(lambda y, s: vision_jax.denoise(y, s, model=name), meta["check"])
  for key in ("psnr_given_sigma", "psnr_estimated_sigma", "psnr_noisy"):
    assert got[key] == pytest.approx(meta["check"][key], abs=0.01), key
  assert got["psnr_given_sigma"] > got["psnr_noisy"] + 5.0  # a denoiser, not the identity


def test_self_ensemble_is_the_mean_over_the_eight_flips_and_rotations():
  from vision_jax.data.augment import dihedral_self_ensemble
  y = 0.3 + 0.4 * _noisy((24, 32))  # a non-square crop kept inside (0, 1): clipping cannot differ
  want = dihedral_self_ensemble(lambda t: vision_jax.denoise(t[..., 0], 25)[..., None])(y[..., None])[..., 0]
  got = vision_jax.denoise(y, 25, self_ensemble=True)
  np.testing.assert_allclose(got, want, atol=2e-6)
  assert float(np.abs(got - vision_jax.denoise(y, 25)).max()) > 1e-3  # TNRD's filters are not symmetric


def test_module_is_the_function_and_channels_are_independent():
  y = _noisy()
  out = vision_jax.denoise(y, 25)
  assert out.shape == y.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
  np.testing.assert_array_equal(api.denoise(y, 25), out)
  np.testing.assert_array_equal(api.denoise(y[..., None], 25)[..., 0], out)
  rgb = np.stack([y, np.clip(y[::-1], -1, 2), y], -1)
  out3 = vision_jax.denoise(rgb, 25)  # channels run as one batch: float32 sums in another order (~1e-6)
  np.testing.assert_allclose(out3[..., 0], out, atol=1e-5)
  np.testing.assert_allclose(out3[..., 1], vision_jax.denoise(rgb[..., 1], 25), atol=1e-5)
  est = vision_jax.denoise(y)  # sigma estimated (wavelet MAD) equals passing that estimate
  from vision_jax import noise_estimation
  np.testing.assert_allclose(est, vision_jax.denoise(y, noise_estimation.estimate_sigma(y)), atol=1e-6)
  u8 = np.clip(np.round(y * 255), 0, 255).astype(np.uint8)
  np.testing.assert_allclose(vision_jax.denoise(u8, 25), vision_jax.denoise(u8 / np.float32(255), 25), atol=1e-6)


@pytest.mark.parametrize("image,sigma,model,text", [
    (np.full((16, 16), np.nan), None, "default", "NaN"),
    (np.zeros((1, 16, 16, 1)), None, "default", "rank 4"),
    (np.zeros(16), None, "default", "rank 1"),
    (np.full((16, 16), 128.0), None, "default", "expected an image in [0, 1]"),
    (np.zeros((4, 16)), None, "default", "too small"),
    (np.zeros((16, 16)), -1.0, "default", "expected a finite number >= 0"),
    (np.zeros((16, 16)), 80.0, "default", "outside the levels"),
    (np.zeros((16, 16)), "high", "default", "sigma='high' is invalid"),
    (np.zeros((16, 16)), None, "dncnn", "unknown model 'dncnn'"),
    (np.zeros((16, 16)), None, "/nonexistent/w.npz", "does not exist"),
])
def test_bad_input_one_line(image, sigma, model, text):
  with pytest.raises((ValueError, FileNotFoundError), match=text.replace("[", r"\[").replace("]", r"\]")) as e:
    vision_jax.denoise(image, sigma, model)
  assert "\n" not in str(e.value)


def test_command_line_file_folder_and_errors(tmp_path, capsys):
  from skimage import io
  y = _noisy()
  u8 = np.clip(np.round(np.clip(y, 0, 1) * 255), 0, 255).astype(np.uint8)
  (tmp_path / "in").mkdir()
  for name in ("a.png", "b.png"):
    io.imsave(tmp_path / "in" / name, u8, check_contrast=False)
  assert api.main([str(tmp_path / "in" / "a.png"), str(tmp_path / "a_out.png"), "--sigma", "25"]) == 0
  want = np.round(vision_jax.denoise(u8, 25) * 255).astype(np.uint8)
  np.testing.assert_array_equal(io.imread(tmp_path / "a_out.png"), want)
  assert api.main([str(tmp_path / "in" / "a.png"), str(tmp_path / "a_x8.png"), "--sigma", "25", "--self_ensemble"]) == 0
  want_x8 = np.round(vision_jax.denoise(u8, 25, self_ensemble=True) * 255).astype(np.uint8)
  np.testing.assert_array_equal(io.imread(tmp_path / "a_x8.png"), want_x8)
  assert not np.array_equal(want_x8, want)
  assert api.main([str(tmp_path / "in"), str(tmp_path / "out")]) == 0
  assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.png"]
  capsys.readouterr()
  for argv, text in [([str(tmp_path / "missing.png"), str(tmp_path / "x.png")], "does not exist"),
                     ([str(tmp_path / "in" / "a.png"), str(tmp_path / "x.png"), "--sigma", "-3"], "expected a finite"),
                     ([str(tmp_path / "in"), str(tmp_path / "a_out.png")], "is a file")]:
    assert api.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and text in err and "\n" not in err


def test_python_dash_m_runs_without_warnings(tmp_path):
  from skimage import io
  io.imsave(tmp_path / "in.png", (np.clip(_noisy(), 0, 1) * 255).astype(np.uint8), check_contrast=False)
  r = subprocess.run([sys.executable, "-m", "vision_jax.denoise", str(tmp_path / "in.png"), str(tmp_path / "o.png"),
                      "--sigma", "25"], capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert r.returncode == 0, r.stderr
  assert "Warning" not in r.stderr and (tmp_path / "o.png").exists()
