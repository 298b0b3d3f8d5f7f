"""Light-curve preparation (vision_jax.data.lightcurves), the real global-view loader, and the batman simulator."""

import numpy as np
import pytest
from scipy import signal, stats

from vision_jax.data import lightcurve_sim as sim
from vision_jax.data import lightcurves as lc

CADENCE = 30.0 / 1440.0


def test_stitch_sorts_and_median_normalize_sets_the_median_to_one():
  t, f = lc.stitch_segments([np.array([3.0, 4.0]), np.array([1.0, 2.0])], [np.array([30.0, 40.0]), np.array([10.0, 20.0])])
  np.testing.assert_array_equal(t, [1, 2, 3, 4])
  np.testing.assert_array_equal(f, [10, 20, 30, 40])
  flux = np.array([2.0, np.nan, 4.0, 6.0])
  out = lc.median_normalize(flux)
  assert np.nanmedian(out) == 1.0 and np.isnan(out[1])
  with pytest.raises(ValueError, match="median"):
    lc.median_normalize(np.array([-1.0, -2.0]))


def test_phase_fold_and_transit_mask_closed_form():
  period, t0 = 3.0, 0.7
  t = t0 + period * np.array([-2, 0, 1, 5]) + np.array([0.1, -0.2, 1.4, -1.5])
  np.testing.assert_allclose(lc.phase_fold(t, period, t0), [0.1, -0.2, 1.4, -1.5], atol=1e-12)
  mask = lc.transit_mask(t, period, t0, duration=0.3, width=1.5)  # half width 0.225 days
  np.testing.assert_array_equal(mask, [True, True, False, False])


def test_clean_drops_nan_and_3_sigma_outliers_but_keeps_protected_points():
  rng = np.random.default_rng(0)
  t = np.arange(1000.0)
  f = 1.0 + rng.normal(0, 1e-3, 1000)
  f[[10, 20]] = [1.02, 0.98]  # 20 sigma outliers
  f[30] = np.nan
  protect = np.zeros(1000, bool)
  protect[500:510] = True
  f[500:510] = 0.9  # a deep transit under the mask
  t2, f2, kept = lc.clean(t, f, 3.0, protect)
  ref = np.isfinite(f) & ~protect
  med, sd = np.median(f[ref]), np.std(f[ref])
  expected = np.isfinite(f) & (protect | (np.abs(f - med) <= 3 * sd))
  np.testing.assert_array_equal(kept, expected)
  assert not kept[[10, 20, 30]].any() and kept[500:510].all()
  np.testing.assert_array_equal(t2, t[expected])


def test_savgol_without_mask_is_scipy_and_a_masked_cubic_trend_is_removed_away_from_the_mask():
  rng = np.random.default_rng(1)
  t = np.arange(400) * CADENCE
  f = 1.0 + rng.normal(0, 1e-3, 400)
  _, trend = lc.savgol_detrend(t, f, None, 11, 3)
  np.testing.assert_allclose(trend, signal.savgol_filter(f, 11, 3), atol=1e-15)
  poly = 1.0 + 0.01 * (t - 4) + 0.002 * (t - 4) ** 2 - 3e-4 * (t - 4) ** 3
  box = np.where(np.abs(t - 4.0) < 0.1, 0.99, 1.0)
  mask = np.abs(t - 4.0) < 0.15
  det, _ = lc.savgol_detrend(t, poly * box, mask, 11, 3)
  # The filter runs over the out-of-transit points in time order, so a window that spans the masked
  # gap is not polynomial in time; 5 cadences (half a window) away from the gap a cubic is removed exactly.
  far = np.abs(t - 4.0) > 0.15 + 5.5 * CADENCE
  np.testing.assert_allclose(det[far], 1.0, atol=1e-12)
  assert np.abs(det[~mask] - 1.0).max() < 2e-3
  inside = np.abs(t - 4.0) < 0.1
  np.testing.assert_allclose(det[inside], 0.99, atol=2e-3)  # the 1 % depth survives


def test_bin_phase_matches_scipy_binned_statistic_and_gaps_are_interpolated():
  rng = np.random.default_rng(2)
  period = 2.0
  phase = rng.uniform(-1, 1, 3000)
  flux = rng.normal(size=3000)
  centres, med = lc.bin_phase(phase, flux, period, 30.0)
  width = 30.0 / 1440
  edges = -1.0 + width * np.arange(len(centres) + 1)
  ref = stats.binned_statistic(phase, flux, "median", bins=edges).statistic
  assert len(centres) == int(np.ceil(period / width)) == 96
  np.testing.assert_allclose(med[np.isfinite(ref)], ref[np.isfinite(ref)], atol=1e-12)
  vals = np.array([1.0, np.nan, np.nan, 4.0])
  np.testing.assert_allclose(lc.fill_empty_bins(np.arange(4.0), vals), [1, 2, 3, 4])
  line = 2.0 * centres + 1.0
  view = lc.resample_view(centres, line, period, 201)
  grid = np.linspace(-1, 1, 201)
  inner = (grid >= centres[0]) & (grid <= centres[-1])
  np.testing.assert_allclose(view[inner], 2 * grid[inner] + 1, atol=1e-12)


def test_normalize_view_gives_median_zero_depth_minus_one_and_reflection_is_an_involution():
  v = np.array([1.0, 1.0, 0.5, 1.0, 1.2, 0.9, 1.0])
  n = lc.normalize_view(v)
  assert np.median(n) == 0.0 and n.min() == pytest.approx(-1.0)
  np.testing.assert_allclose(n, (v - 1.0) / 0.5, atol=1e-7)
  np.testing.assert_array_equal(lc.reflect_view(lc.reflect_view(n)), n)
  np.testing.assert_array_equal(lc.reflect_view(n), n[::-1])
  with pytest.raises(ValueError, match="below its median"):
    lc.normalize_view(np.ones(5))


def test_global_view_centres_a_planted_transit_with_its_duration():
  period, t0, duration = 4.0, 1.3, 0.25
  t = np.arange(0, 60, CADENCE)
  flux = 1000.0 * np.where(np.abs(lc.phase_fold(t, period, t0)) < duration / 2, 0.995, 1.0)
  flux *= 1 + 0.002 * np.sin(2 * np.pi * t / 17.0)  # slow variability, removed by the detrending
  view = lc.global_view(t, flux, period, t0, duration)
  assert view.shape == (201,) and view.dtype == np.float32
  assert np.median(view) == 0.0 and view.min() == pytest.approx(-1.0) and view[100] < -0.95
  in_dip = np.sum(view < -0.5)
  assert abs(in_dip - duration / period * 200) <= 2  # 12.5 points of 200 phase steps


def test_load_global_views_npz_and_csv(tmp_path):
  rng = np.random.default_rng(3)
  views = rng.normal(size=(4, 201)).astype(np.float32)
  p1 = tmp_path / "v.npz"
  np.savez(p1, views=views, labels=np.array(["PC", "NTP", "AFP", "PC"]))
  v, y, names = lc.load_global_views(str(p1), ("PC", "AFP", "NTP"))
  np.testing.assert_array_equal(y, [0, 2, 1, 0])
  np.testing.assert_allclose(v, views)
  p2 = tmp_path / "v.csv"
  header = ",".join([f"f{i}" for i in range(201)] + ["label"])
  p2.write_text(header + "\n" + "\n".join(",".join([*map(str, r), str(l)]) for r, l in zip(views, [0, 1, 2, 1])))
  v2, y2, names2 = lc.load_global_views(str(p2))
  np.testing.assert_allclose(v2, views, rtol=1e-6)
  np.testing.assert_array_equal(y2, [0, 1, 2, 1])
  assert names2 == ("0", "1", "2")


@pytest.mark.parametrize("arrays, match", [
    ({"views": np.zeros((2, 200)), "labels": np.array([0, 1])}, r"\(N, 201\)"),
    ({"views": np.zeros((2, 201))}, "no array 'labels'"),
    ({"views": np.zeros((2, 201)), "labels": np.array(["PC", "XX"])}, "outside the class names"),
    ({"views": np.full((2, 201), np.nan), "labels": np.array([0, 1])}, "non-finite"),
    ({"views": np.zeros((2, 201)), "labels": np.array([0, 1, 2])}, "one label per view"),
])
def test_load_global_views_rejects_bad_files(tmp_path, arrays, match):
  path = tmp_path / "bad.npz"
  np.savez(path, **arrays)
  with pytest.raises(ValueError, match=match):
    lc.load_global_views(str(path), ("PC", "AFP", "NTP"))


def test_load_global_views_refuses_pickled_object_arrays(tmp_path):
  path = tmp_path / "obj.npz"
  np.savez(path, views=np.zeros((1, 201)), labels=np.array([{"x": 1}], dtype=object))
  with pytest.raises(ValueError):
    lc.load_global_views(str(path))


def test_kepler_law_and_duration_of_the_earth():
  a = sim.scaled_semi_major_axis(365.25, 1.41)
  assert a == pytest.approx(215.0, rel=0.01)
  hours = 24 * sim.transit_duration(365.25, a, 0.00917, 0.0)
  assert hours == pytest.approx(13.0, abs=0.3)


def test_batman_uniform_disk_depth_is_the_area_ratio():
  t = np.linspace(-0.3, 0.3, 601)
  flux = sim.batman_transit(t, 10.0, 0.0, 0.1, 20.0, 0.0, u=(0.0, 0.0))
  assert 1 - flux.min() == pytest.approx(0.01, rel=2e-3)
  assert flux[0] == 1.0 and flux[-1] == 1.0


def test_class_counts_follow_dr24_and_simulation_is_deterministic():
  n = sim.class_counts(1000)
  assert n.sum() == 1000 and n.tolist() == [229, 610, 161]  # largest remainders of 228.76, 609.78, 161.47
  a = sim.simulate_tce(np.random.default_rng([5, 1]), 1)
  b = sim.simulate_tce(np.random.default_rng([5, 1]), 1)
  np.testing.assert_array_equal(np.concatenate(a.flux), np.concatenate(b.flux))
  assert 27 <= a.params["days"] <= 90 and len(a.time) >= 1
  with pytest.raises(ValueError, match="expected 0"):
    sim.simulate_tce(np.random.default_rng(0), 3)


def test_simulated_views_carry_the_class_signal_without_being_trivial():
  d = sim.simulate_views(120, seed=0)
  v, y = d["views"], d["labels"]
  assert v.shape == (120, 201) and np.allclose(np.median(v, 1), 0) and np.allclose(v.min(1), -1)
  centre = np.median(v[:, 98:103].min(1)[:, None], axis=1)
  assert np.median(centre[y == 0]) < -0.9 and np.median(centre[y == 1]) < -0.9  # transits / eclipses at phase 0
  assert np.median(centre[y == 2]) > -0.8  # false alarms: no systematic dip at the centre
  assert set(np.unique(d["kind"][y == 1])) <= {"eb", "odd_even", "blend"}
