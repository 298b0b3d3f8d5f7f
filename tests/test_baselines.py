"""Classical baselines: each improves PSNR on a noisy cameraman, registry, input validation."""

import importlib.util

import numpy as np
import pytest
from skimage import data, transform
from skimage.metrics import peak_signal_noise_ratio

from vision_jax.baselines import classical

SIGMA = 25.0
HAS_BM3D = importlib.util.find_spec("bm3d") is not None


@pytest.fixture(scope="module")
def pair():
  clean = transform.resize(data.camera() / 255.0, (128, 128), anti_aliasing=True)
  noisy = clean + np.random.default_rng(0).normal(0.0, SIGMA / 255.0, clean.shape)
  return clean, noisy


def _gain(clean, noisy, denoised):
  return peak_signal_noise_ratio(clean, denoised, data_range=1.0) - peak_signal_noise_ratio(clean, noisy, data_range=1.0)


@pytest.mark.parametrize("name", ["tv_chambolle", "nl_means", "wavelet"])
def test_skimage_baselines_gain_psnr(pair, name):
  clean, noisy = pair
  out = classical.run_baseline(name, noisy, SIGMA)
  assert out.shape == clean.shape and out.dtype == noisy.dtype
  assert _gain(clean, noisy, out) > 4.0  # measured: tv 8.1, nl_means 8.7, wavelet 6.0 dB


@pytest.mark.skipif(not HAS_BM3D, reason="bm3d not installed")
def test_bm3d_gains_psnr(pair):
  clean, noisy = pair
  out = classical.bm3d(noisy, SIGMA)
  gain = _gain(clean, noisy, out)
  assert gain > 6.0  # measured: 10.0 dB
  # BM3D is the strongest of the classical baselines here
  for name in ["tv_chambolle", "nl_means", "wavelet"]:
    assert gain > _gain(clean, noisy, classical.run_baseline(name, noisy, SIGMA)), name


def test_float32_input_keeps_dtype(pair):
  clean, noisy = pair
  out = classical.tv_chambolle(noisy.astype(np.float32), SIGMA)
  assert out.dtype == np.float32 and _gain(clean, noisy, out) > 2.0


def test_tv_weight_override_and_rule(pair):
  _, noisy = pair
  from skimage.restoration import denoise_tv_chambolle
  np.testing.assert_allclose(classical.tv_chambolle(noisy, SIGMA),
                             denoise_tv_chambolle(noisy, weight=classical.TV_WEIGHT_PER_SIGMA * SIGMA / 255))
  np.testing.assert_allclose(classical.tv_chambolle(noisy, SIGMA, weight=0.3), denoise_tv_chambolle(noisy, weight=0.3))


@pytest.mark.parametrize("name", ["tv_chambolle", "nl_means", "wavelet"])
def test_zero_sigma_is_identity(pair, name):
  _, noisy = pair
  out = classical.run_baseline(name, noisy, 0.0)
  np.testing.assert_array_equal(out, noisy)
  assert out is not noisy


def test_registry():
  assert set(classical.CLASSICAL_BASELINES) == {"tv_chambolle", "nl_means", "wavelet", "bm3d"}
  avail = classical.available_baselines()
  assert {"tv_chambolle", "nl_means"} <= set(avail) <= set(classical.CLASSICAL_BASELINES)
  assert ("bm3d" in avail) == HAS_BM3D
  with pytest.raises(ValueError, match=r"unknown baseline 'bm4d'; valid: bm3d, nl_means, tv_chambolle, wavelet"):
    classical.run_baseline("bm4d", np.zeros((8, 8)), 25)


def test_bm3d_missing_gives_clear_import_error(monkeypatch):
  import sys
  monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` raise ImportError
  with pytest.raises(ImportError, match=r"vision_jax\[baselines\]"):
    classical.bm3d(np.zeros((8, 8)), 25)


@pytest.mark.parametrize("name", list(classical.CLASSICAL_BASELINES))
def test_bad_inputs(name):
  if name == "bm3d" and not HAS_BM3D:
    pytest.skip("bm3d not installed")
  fn = classical.CLASSICAL_BASELINES[name]
  with pytest.raises(ValueError, match=r"rank 3.*expected rank 2"):
    fn(np.zeros((8, 8, 1)), 25)
  bad = np.zeros((8, 8))
  bad[2, 3] = np.nan
  with pytest.raises(ValueError, match=r"NaN/Inf"):
    fn(bad, 25)
  with pytest.raises(ValueError, match=r"sigma=-5"):
    fn(np.zeros((8, 8)), -5)
  with pytest.raises(ValueError, match=r"sigma='a'"):
    fn(np.zeros((8, 8)), "a")
