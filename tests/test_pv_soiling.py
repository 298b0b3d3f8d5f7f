"""Project pv_soiling: features, fusion and SI, the t-based CI, the arithmetic audit, panels, loaders, CNN pieces."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal, stats

from vision_jax.data import classification as data_lib
from vision_jax.projects.pv_soiling import audit, claims, cnn, data, features, fusion, panels, protocols


# ----------------------------------------------------------------------------- features
def test_laplacian_variance_matches_a_direct_convolution_and_rms_duplicates_std():
  g = np.random.default_rng(0).random((40, 50))
  kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float64)
  lap = signal.convolve2d(g, kernel, mode="same", boundary="symm")
  assert features.laplacian_variance(g) == pytest.approx(np.var(lap), rel=1e-12)
  f = features.panel_features(np.repeat(g[..., None], 3, -1))
  names = features.FEATURE_NAMES
  assert len(f) == len(names) == 15 and f[names.index("rms_contrast")] == f[names.index("std")]
  assert features.DUPLICATE_OF == {"rms_contrast": "std"}


def test_quadratic_image_has_a_constant_interior_laplacian():
  x, y = np.meshgrid(np.arange(30.0), np.arange(30.0))
  from scipy import ndimage
  lap = ndimage.laplace((x ** 2 + y ** 2) / 100.0, mode="reflect")[1:-1, 1:-1]
  np.testing.assert_allclose(lap, 0.04, atol=1e-12)  # del^2 (x^2 + y^2) / 100 = 4 / 100


def test_local_std_and_lbp_histogram_values():
  g = np.random.default_rng(1).random((32, 24))
  blocks = [g[i:i + 8, j:j + 8].std() for i in range(0, 32, 8) for j in range(0, 24, 8)]
  assert features.local_std(g) == pytest.approx(np.mean(blocks), rel=1e-12)
  h = features.lbp_histogram(np.full((16, 16), 0.4))
  # Interior pixels: every neighbour >= centre, the uniform code with 8 ones; skimage samples outside the image
  # as 0, so the 60 border pixels of a 16 x 16 image get other codes.
  assert h[8] == (14 / 16) ** 2
  h2 = features.lbp_histogram(g)
  assert h2.sum() == pytest.approx(1.0) and h2.shape == (10,)
  with pytest.raises(ValueError, match="smaller than one"):
    features.local_std(np.zeros((4, 4)))


def test_dust_lowers_sharpness_and_the_forest_finds_it():
  """A planted signal: dusty panels are blurred, so the RF on the paper's features must beat chance by far."""
  from sklearn.model_selection import cross_val_score
  d = panels.make_panels(3, 40, 40, size=64)
  x = features.feature_matrix(d["images"])
  y = d["labels"]
  lv = x[:, 0]
  assert np.median(lv[y == 1]) < np.median(lv[y == 0])
  acc = cross_val_score(features.random_forest(0, 100), x, y, cv=4).mean()
  assert acc > 0.8


# ----------------------------------------------------------------------------- fusion, SI, CI
def test_or_rule_is_si_at_least_50_and_never_loses_recall_or_false_positives():
  rng = np.random.default_rng(2)
  p_rf, p_cnn = rng.random(500), rng.random(500)
  p_rf[:5] = 0.5  # forest ties count as dusty
  y = rng.integers(0, 2, 500)
  pr, pc = fusion.decide(p_rf), fusion.decide(p_cnn)
  orp = fusion.or_fusion(pr, pc)
  np.testing.assert_array_equal(orp, fusion.soiling_index(p_rf, p_cnn) >= 50)
  s = {m: fusion.binary_scores(y, p, q) for m, p, q in (("RF", pr, p_rf), ("CNN", pc, p_cnn),
                                                         ("OR", orp, fusion.ensemble_probability(p_rf, p_cnn)))}
  assert s["OR"]["dusty_recall"] >= max(s["RF"]["dusty_recall"], s["CNN"]["dusty_recall"])
  assert s["OR"]["fp"] >= max(s["RF"]["fp"], s["CNN"]["fp"])
  from sklearn.metrics import f1_score, roc_auc_score
  assert s["OR"]["dusty_f1"] == pytest.approx(f1_score(y, orp), abs=1e-6)
  assert s["OR"]["auc"] == pytest.approx(roc_auc_score(y, np.maximum(p_rf, p_cnn)), abs=1e-6)


def test_soiling_bands_boundaries_and_the_light_band_straddles_the_decision():
  si = np.array([0.0, 29.99, 30.0, 49.99, 50.0, 59.99, 60.0, 100.0])
  np.testing.assert_array_equal(fusion.band_of(si), [0, 0, 1, 1, 1, 1, 2, 2])
  table = fusion.band_table(si, np.zeros(8, int), (si >= 50).astype(int))
  light = table[1]
  assert light["panels"] == 4 and light["or_says_clean"] == 2 and light["true_clean"] == 4


def test_t_interval_recomputes_the_papers_table6_cis():
  v = np.random.default_rng(3).normal(size=10)
  ci = fusion.t_interval(v)
  lo, hi = stats.t.interval(0.95, 9, loc=v.mean(), scale=stats.sem(v))
  assert (ci["lo"], ci["hi"]) == pytest.approx((lo, hi), rel=1e-12)
  assert stats.t.ppf(0.975, 9) == pytest.approx(2.262, abs=5e-4)
  checks = audit.table6_ci_check()
  assert len(checks) == 12 and all(c["matches"] for c in checks)
  with pytest.raises(ValueError, match="at least 2"):
    fusion.t_interval([1.0])


# ----------------------------------------------------------------------------- audit
def test_audit_reproduces_the_specs_inconsistencies():
  a = audit.run_audit()
  seen, unseen = a["seen"], a["unseen"]
  assert seen["or_accuracy_bound"] == pytest.approx(0.904, abs=1e-3)  # spec: "at most about 0.904"
  rf_seen = seen["rows"][0]
  assert rf_seen["implied_fp"] == pytest.approx(5.46, abs=0.01)  # spec: "about 5.5 false positives per run"
  assert unseen["rows"][0]["implied_fp"] == pytest.approx(511.5, abs=0.1)  # spec: "about 511"
  assert unseen["or_accuracy_bound"] == pytest.approx(0.80, abs=3e-3)
  or_row = unseen["rows"][2]
  assert or_row["implied_f1_lo"] <= 0.842 <= or_row["implied_f1_hi"] and not or_row["f1_consistent"]
  assert unseen["rows"][0]["f1_consistent"] and unseen["rows"][1]["f1_consistent"]
  assert len(seen["findings"]) == 1 and len(unseen["findings"]) == 2
  assert "SI >= 50" in a["si_identity"]


def test_or_accuracy_bound_holds_for_every_real_or_of_two_members():
  rng = np.random.default_rng(4)
  for _ in range(200):
    y = rng.integers(0, 2, 60)
    a = np.where(rng.random(60) < rng.uniform(0.5, 1), y, 1 - y)
    b = np.where(rng.random(60) < rng.uniform(0.5, 1), y, 1 - y)
    o = a | b
    n_dusty, n_clean = int(y.sum()), int((1 - y).sum())
    exact = lambda p: audit.Interval(float(np.mean(p == y)), float(np.mean(p == y)))
    rec = lambda p: audit.Interval(float(p[y == 1].mean()), float(p[y == 1].mean()))
    counts = [audit.implied_counts(exact(p), rec(p), n_dusty, n_clean) for p in (a, b)]
    assert counts[0]["fp"].mid == pytest.approx(np.sum((a == 1) & (y == 0)))
    assert np.mean(o == y) <= audit.or_accuracy_bound(*counts, n_dusty, n_clean) + 1e-12


def test_verdict_calls_the_paper_inconsistent():
  v = claims.verdict(["Table 6 OR accuracy"], 0.9, 6.0, 7.0, 10)
  assert "Verdict: inconsistent" in v and "10 seeds" in v


# ----------------------------------------------------------------------------- panels and loaders
def test_panels_are_deterministic_labelled_and_domains_differ():
  a = panels.make_panels(5, 3, 3, size=48, domain="seen")
  b = panels.make_panels(5, 3, 3, size=48, domain="seen")
  np.testing.assert_array_equal(a["images"], b["images"])
  assert a["images"].dtype == np.float32 and 0 <= a["images"].min() and a["images"].max() <= 1
  assert a["labels"].tolist() == [0, 0, 0, 1, 1, 1]
  assert a["level"][:3].max() <= 0.04 and a["level"][3:].min() >= 0.1
  u = panels.make_panels(5, 3, 3, size=48, domain="unseen")
  assert not np.allclose(u["images"], a["images"])
  with pytest.raises(ValueError, match="unknown panel domain"):
    panels.make_panels(0, 1, 1, domain="mars")


def test_value_noise_and_interpolation_matrix():
  a = panels.interpolation_matrix(3, 5)
  np.testing.assert_allclose(a @ np.array([0.0, 1.0, 4.0]), [0, 0.5, 1, 2.5, 4])
  np.testing.assert_allclose(a.sum(1), 1.0)
  n = panels.value_noise(np.random.default_rng(0), 32, 3)
  assert n.min() == 0.0 and n.max() == 1.0


def write_png(path, rgb):
  from skimage import io
  io.imsave(path, (np.clip(rgb, 0, 1) * 255).astype(np.uint8), check_contrast=False)


def test_kaggle_folder_loader_reads_clean_and_dusty(tmp_path):
  rng = np.random.default_rng(6)
  for name, n in (("Clean", 7), ("Dusty", 7)):
    os.makedirs(tmp_path / name)
    for i in range(n):
      shape = (30, 40) if i == 0 else ((30, 40, 4) if i == 1 else (30, 40, 3))  # gray, RGBA and RGB files
      write_png(str(tmp_path / name / f"{i}.png"), rng.random(shape))
  (tmp_path / "Clean" / "notes.txt").write_text("not an image")
  d = data.load_folder(str(tmp_path), render_size=32)
  assert d["images"].shape == (14, 32, 32, 3) and d["labels"].tolist() == [0] * 7 + [1] * 7
  split = data_lib.load_classification(f"pv_folder:{tmp_path}", "train", image_size=16, seed=100, render_size=32)
  assert split.images.shape[1:] == (16, 16, 3) and len(split) == len(data_lib.stratified_split(d["labels"], "train", 100))
  os.rename(tmp_path / "Dusty", tmp_path / "dirty")
  with pytest.raises(ValueError, match="no Dusty sub-folder"):
    data.load_folder(str(tmp_path), 32)
  with pytest.raises(FileNotFoundError):
    data.load_folder(str(tmp_path / "missing"), 32)


def test_protocols_pick_the_test_split_or_the_whole_seen_set():
  y = np.repeat([0, 1], [193, 190])
  test = protocols.get_protocol("heldout").indices(y, 100)
  full = protocols.get_protocol("paper").indices(y, 100)
  assert len(full) == 383 and len(test) == 58 and np.isin(test, full).all()
  np.testing.assert_array_equal(test, data_lib.stratified_split(y, "test", 100))


# ----------------------------------------------------------------------------- CNN pieces
def test_augmentation_is_a_pure_function_of_step_and_keeps_range():
  d = panels.make_panels(7, 20, 20, size=32)
  train = data_lib.ClassificationData(d["images"], d["labels"], panels.CLASS_NAMES)
  import ml_collections
  cfg = ml_collections.ConfigDict({"seed": 1, "data": {"batch_size": 8, "augment": True, "rotate_degrees": 5.0,
                                                       "jitter": 0.1}})
  fn = cnn.make_augmented_batch_fn(train, cfg)
  a, b = fn(3), fn(3)
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].shape == (8, 32, 32, 3) and 0 <= a["image"].min() and a["image"].max() <= 1
  plain = cnn.augment(d["images"][:4], np.random.default_rng(0), 0.0, 0.0)
  for p, o in zip(plain, d["images"][:4]):
    assert np.array_equal(p, o) or np.array_equal(p, o[:, ::-1])
  np.testing.assert_allclose(cnn.jitter_colour(d["images"][:2], np.random.default_rng(0), 0.0), d["images"][:2], atol=1e-6)


def test_imagenet_normalisation_wraps_a_classifier():
  import flax.linen as nn

  class Tiny(nn.Module):  # a linear classifier on the pooled image, with the aux contract
    @nn.compact
    def __call__(self, x, train: bool = False):
      pooled = x.mean(axis=(1, 2))
      return nn.Dense(2)(pooled), {"pre_logits": pooled}

  model = cnn.ImageNetNormalized(Tiny())
  x = jnp.asarray(np.random.default_rng(8).random((2, 8, 8, 3)), jnp.float32)
  variables = model.init(jax.random.key(0), x)
  logits, aux = model.apply(variables, x)
  ref, _ = Tiny().apply({"params": variables["params"]["inner"]},
                        (x - jnp.asarray(cnn.IMAGENET_MEAN)) / jnp.asarray(cnn.IMAGENET_STD))
  np.testing.assert_allclose(logits, ref, atol=1e-6)
  np.testing.assert_allclose(aux["pre_logits"], ((x - jnp.asarray(cnn.IMAGENET_MEAN)) / jnp.asarray(cnn.IMAGENET_STD)).mean((1, 2)),
                             atol=1e-6)


def test_precise_batch_stats_make_eval_mode_equal_train_mode_on_the_same_images():
  import flax.linen as nn
  from vision_jax.train.state import apply_model

  class TwoBN(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
      x = nn.BatchNorm(use_running_average=not train, momentum=0.99)(x)
      x = nn.relu(nn.Dense(6)(x.reshape(x.shape[0], -1)))
      x = nn.BatchNorm(use_running_average=not train, momentum=0.99)(x)
      return nn.Dense(2)(x), {}

  model = TwoBN()
  x = jnp.asarray(np.random.default_rng(9).normal(2.0, 3.0, (64, 4, 4, 1)), jnp.float32)
  variables = model.init(jax.random.key(0), x)
  state = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
  precise = cnn.precise_batch_stats(model, state, np.asarray(x), momentum=0.99)
  stats0 = precise["batch_stats"]["BatchNorm_0"]
  np.testing.assert_allclose(stats0["mean"], [np.asarray(x).mean()], rtol=1e-4)  # per channel over N, H, W
  np.testing.assert_allclose(stats0["var"], [np.asarray(x).var()], rtol=1e-3)
  train_out, _, _ = apply_model(model, state["params"], state["batch_stats"], x, True)
  eval_out, _, _ = apply_model(model, precise["params"], precise["batch_stats"], x, False)
  np.testing.assert_allclose(eval_out, train_out, atol=2e-3)
  stale, _, _ = apply_model(model, state["params"], state["batch_stats"], x, False)
  assert np.abs(np.asarray(stale) - np.asarray(train_out)).max() > 0.1  # the initial statistics are far off


def test_seed_config_sets_split_seed_steps_and_one_evaluation_per_epoch(config_loader):
  from vision_jax.config_utils import with_overrides
  config = with_overrides(config_loader("pv_soiling", "small"), **{
      "data.options.num_clean": 50, "data.options.num_dusty": 46, "data.options.render_size": 32})
  sub = cnn.seed_config(config, 103)
  assert sub.seed == 103 and sub.data.seed == 103 and sub.train.select_metric == "val_accuracy"
  per_epoch = len(data_lib.stratified_split(np.repeat([0, 1], [50, 46]), "train", 103)) // 32
  assert sub.train.eval_every == per_epoch and sub.train.steps == config.train.epochs * per_epoch
  assert sub.optim.name == "adamw" and sub.optim.lr == 1e-4 and sub.optim.weight_decay == 1e-4


@pytest.mark.parametrize("field, value, match", [
    ("protocols", "heldout,oracle", "unknown protocol"),
    ("study.seeds", "100", "at least 2 distinct seeds"),
    ("data.source", "pv_folder:/nonexistent", "folder not found"),
    ("data.unseen_source", "npz:x", "expected pv_synthetic"),
])
def test_bad_config_fails_before_a_workdir_exists(tmp_path, config_loader, field, value, match):
  from vision_jax import main
  from vision_jax.config_utils import with_overrides
  config = with_overrides(config_loader("pv_soiling", "small"), **{field: value})
  work = tmp_path / "w"
  with pytest.raises((ValueError, FileNotFoundError), match=match):
    main.run(config, str(work), "train")
  assert not work.exists()


@pytest.mark.slow
def test_tiny_study_writes_the_seed_table_audit_and_verdict(tmp_path, config_loader):
  from vision_jax import main
  from vision_jax.config_utils import with_overrides
  config = with_overrides(config_loader("pv_soiling", "small"), **{
      "study.seeds": "100,101", "train.epochs": 1, "data.image_size": 32, "train.progress": False,
      "data.options.num_clean": 24, "data.options.num_dusty": 24, "data.options.render_size": 48,
      "data.unseen_options.num_clean": 12, "data.unseen_options.num_dusty": 12, "data.unseen_options.render_size": 48,
      "rf.n_estimators": 20, "model.name": "mobilenet_v3_small_tiny"})
  work = tmp_path / "w"
  main.run(config, str(work), "train")
  text = (work / "results.md").read_text()
  assert "Arithmetic audit" in text and "held-out test split" in text and "Verdict: inconsistent" in text
  assert "no ImageNet weights" in text and (work / "per_seed.csv").exists()
  assert main.run(config, str(work), "report") == text
