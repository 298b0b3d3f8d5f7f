"""Explanation verdicts and report layout: paired-margin bounds against scipy, the verdict on a planted
detector vs random weights, the cascading-randomization order of every registry classifier, overlays."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from test_explain import SLOW_ORDER, _check_definition_order, _images, _init, _planted
from vision_jax import explain as ex
from vision_jax.explain import _core, checks, verdict
from vision_jax.explain.overlay import overlay_grid
from vision_jax.models import CLASSIFIERS, get_classifier


# ----------------------------------------------------------------------------- verdicts
def test_paired_margin_lower_bound_is_scipy_one_sided_t_interval():
  rng = np.random.default_rng(0)
  random, method = rng.random(12), rng.random(12) * 0.5
  r = verdict.paired_margin(method, random, lower_is_better=True)
  d = random - method
  ref = stats.ttest_1samp(d, 0.0, alternative="greater").confidence_interval(0.95).low
  ref_high = stats.ttest_1samp(d, 0.0, alternative="less").confidence_interval(0.95).high
  assert r["margin"] == pytest.approx(d.mean()) and r["margin_sd"] == pytest.approx(d.std(ddof=1))
  assert r["margin_low"] == pytest.approx(ref, rel=1e-9) and r["margin_high"] == pytest.approx(ref_high, rel=1e-9)
  assert ref > verdict.MIN_MARGIN and r["passed"] and r["status"] == "pass"  # mean margin about 0.25
  up = verdict.paired_margin(method, random, lower_is_better=False)  # insertion: method - random
  assert up["margin"] == pytest.approx(-d.mean()) and not up["passed"] and up["status"] == "fail"
  # a consistent but practically nil gain (0.005 AUC on every image) fails; a clear one passes; a
  # margin whose interval straddles 0.02 is inconclusive, and so is a single image
  assert verdict.paired_margin(random - 0.005, random, True)["status"] == "fail"
  assert verdict.paired_margin(random - 0.1, random, True)["status"] == "pass"
  noisy = verdict.paired_margin(random - 0.02 + 0.3 * (method - 0.25), random, True)
  assert noisy["margin_low"] < 0.02 < noisy["margin_high"] and noisy["status"] == "inconclusive"
  assert verdict.paired_margin([0.1], [0.9], True)["status"] == "inconclusive"
  v = verdict.judge(method, random, random, method, rho_all=np.full(12, 0.7))
  assert (v["randomization"], v["deletion_vs_random"], v["insertion_vs_random"], v["verdict"]) == (
      "fail", "pass", "pass", "fail")
  assert v["failed"] == ["randomization"]
  v = verdict.judge(method, random + 0.02 - 0.3 * (method - 0.25), random, random)  # no rho: not run
  assert (v["randomization"], v["deletion_vs_random"], v["insertion_vs_random"], v["verdict"]) == (
      "-", "pass", "inconclusive", "pass")
  # a curve whose probability barely moves cannot judge a map: n/a; with no informative check, no pass
  low, high = np.full(12, 0.05), np.full(12, 0.5)
  flat = verdict.judge(method, random, random, method, rho_all=np.zeros(12), deletion_range=low, insertion_range=low)
  assert (flat["deletion_vs_random"], flat["insertion_vs_random"], flat["verdict"]) == ("n/a", "n/a", "fail")
  assert flat["failed"] == ["no informative faithfulness check"]
  half = verdict.judge(method, random, random, method, rho_all=np.zeros(12), deletion_range=high, insertion_range=low)
  assert half["insertion_vs_random"] == "n/a" and half["verdict"] == "pass"
  # only the informative images enter a check: the statistic is the one of that subset
  some = np.where(np.arange(12) < 5, 0.5, 0.0)
  part = verdict.judge(method, random, random, method, deletion_range=some, insertion_range=high)
  sub = verdict.paired_margin(method[:5], random[:5], lower_is_better=True)
  assert part["deletion_images"] == 5 and part["deletion_margin_low"] == pytest.approx(sub["margin_low"])
  with pytest.raises(ValueError, match="rho_threshold=0"):
    verdict.judge(method, random, random, method, rho_threshold=0)


def test_verdict_flips_between_planted_detector_and_random_weights():
  """The planted detector's Grad-CAM passes every check; the same network with re-drawn weights fails."""
  model, v, x, mask = _planted(n=8)
  _, rows = ex.explanation_report(model, v, x, 1, ("grad_cam",), mask=mask, steps=8, randomize=True)
  planted = rows[0]
  assert (planted["randomization"], planted["deletion_vs_random"], planted["insertion_vs_random"]) == ("pass",) * 3
  assert planted["verdict"] == "pass" and planted["energy_in_mask"] > 0.95
  assert rows[-1]["method"] == "random (baseline)" and rows[-1]["verdict"] == "reference"
  for seed in (0, 1):
    text, rows = ex.explanation_report(model, _init(model, x, seed), x, 1, ("grad_cam",), mask=mask, steps=8,
                                       randomize=True)
    assert rows[0]["verdict"] == "fail" and rows[0]["deletion_vs_random"] != "pass", rows[0]
    assert "No method is shown trustworthy" in text


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if n not in SLOW_ORDER])
def test_definition_order_is_the_forward_order_of_every_registry_classifier(name):
  _check_definition_order(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_ORDER & set(CLASSIFIERS)))
def test_definition_order_of_the_big_registry_classifiers(name):
  _check_definition_order(name)


def test_definition_order_known_layouts_and_cascade_uses_it_on_sorted_checkpoint_keys():
  expected = {
      "lenet5": ["c1", "c3", "c5", "f6", "head"],
      "vit_tiny": ["embedding", "cls", "pos_embedding", "encoderblock_0", "encoderblock_1", "encoder_norm", "head"],
      "resnet_tiny": ["conv_stem", "bn_stem", "stage1_block1", "stage2_block1", "stage3_block1", "stage4_block1",
                      "head"],
  }
  for name, order in expected.items():
    model = get_classifier(name, 3, in_channels=1)
    assert checks.definition_order(model, jax.ShapeDtypeStruct((2, 16, 16, 1), jnp.float32)) == order, name
  # the cascade randomizes top down in that order, although the parameter dict is sorted by name
  model = get_classifier("vit_tiny", 3, in_channels=1)
  x = _images(11, n=2, size=16, c=1)
  v = _init(model, x)
  assert list(v["params"]) == sorted(v["params"])  # what a restored checkpoint looks like
  def cheap(model, variables, x, target):  # a map that moves when the head is redrawn (no model evaluation)
    return x[..., 0] + jnp.sum(variables["params"]["head"]["kernel"])

  rows = ex.randomization_sanity(model, v, x, 0, cheap)
  assert [r[0] for r in rows] == ["original"] + expected["vit_tiny"][::-1]
  with pytest.raises(ValueError, match="pass layer_order explicitly"):
    ex.randomization_sanity(lambda vv, xx, **kw: model.apply(vv, xx, **kw), v, x, 0, cheap)


def test_aux_keys_find_attention_only_in_vits():
  x = jax.ShapeDtypeStruct((1, 16, 16, 1), jnp.float32)
  assert "attention" in _core.aux_keys(get_classifier("vit_tiny", 3, in_channels=1), x)
  keys = _core.aux_keys(get_classifier("lenet5", 3, in_channels=1), x)
  assert "attention" not in keys and "feature_map" in keys


def test_overlay_grid_marks_misclassified_images_and_has_a_colorbar(tmp_path):
  import matplotlib.image
  x = np.full((2, 12, 12, 1), 0.5, np.float32)
  maps = np.tile(np.linspace(0, 1, 12)[None, None], (2, 12, 1))
  paths = {}
  for tag, wrong in (("none", [False, False]), ("second", [False, True])):
    paths[tag] = overlay_grid(tmp_path / f"{tag}.png", x, [("m: predicted", maps), ("m: true", maps, wrong)],
                                 ["true a / pred a", "true a / pred b"], "t", wrong=np.asarray(wrong))
  red = lambda img: (img[..., 0] > 0.7) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2)  # noqa: E731
  clean, marked = (matplotlib.image.imread(paths[k])[..., :3] for k in ("none", "second"))
  assert red(clean).sum() < 50 < red(marked).sum()  # red frames (and caption) only for the misclassified image
  viridis = matplotlib.colormaps["viridis"]
  top, bottom = np.asarray(viridis(1.0)[:3]), np.asarray(viridis(0.0)[:3])
  for c in (top, bottom):  # the colorbar's end colours are drawn in full (the overlays only blend them)
    assert (np.abs(clean - c).max(-1) < 0.05).sum() > 20
  # with a fixed scale the colours follow the colorbar; min-max scaling (the default) stretches a map
  np.testing.assert_allclose(ex.overlay_image(x[0], maps[0] * 0.5, 1.0, vmin=0.0, vmax=1.0)[0, -1], viridis(0.5)[:3],
                             atol=1e-6)
  np.testing.assert_allclose(ex.overlay_image(x[0], maps[0] * 0.5, 1.0)[0, -1], viridis(1.0)[:3], atol=1e-6)


# ----------------------------------------------------------------------------- PAIR-code saliency
