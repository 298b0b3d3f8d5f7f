"""covid_cxr training, evaluation, explanations, claims and the study: the focal loss against optax, the
over-sampled / augmented batches, binary metrics and the sweep against scikit-learn, the MCC plateau, the
paper's own numbers (its confusion matrix gives MCC .8313 and F1 .8590), the rule table's boundaries and the
Fig. 13 text layout, the lung coverage closed forms and the signed-logit Grad-CAM, the sub-run keys, bad
input (one line, nothing written), and (slow) the small study end to end with a planted signal found."""

import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import metrics as skm

from conftest import ROOT, load_config
from vision_jax import explain as ex
from vision_jax.losses import classification as losses
from vision_jax.models import get_classifier
from vision_jax.projects import covid_cxr
from vision_jax.projects.covid_cxr import (ablations, claims, evaluation, rules, run as run_lib, training, xai)
from vision_jax.train import loop


def tiny_config(**options):
  c = load_config("covid_cxr", "small,ablations=none")
  c.data.image_size = 32
  c.data.options.num_images = 60
  c.data.options.frangi_sigmas = "1,2"
  c.data.options.update(options)
  c.train.steps = 4
  c.train.eval_every = 2
  c.train.progress = False
  c.eval.bootstrap = 20
  c.explain.sanity_examples = 2
  c.explain.per_outcome = 1
  return c


# ----------------------------------------------------------------------------- loss and batches
@pytest.fixture(scope="module")
def tiny_model():
  """The registry Xception with one logit at its smallest width, initialised once (jitted)."""
  model = get_classifier("xception", 1, in_channels=4, width_multiplier=0.0625, middle_blocks=1)
  x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (4, 32, 32, 4)), jnp.float32)
  variables = loop.init_on_mesh(lambda r: model.init(r, x, train=False), jax.random.key(3))  # O0 compile: fast
  return model, variables, x


def test_sigmoid_focal_loss_matches_optax_and_the_trainer_loss(tiny_model):
  rng = np.random.default_rng(0)
  z = jnp.asarray(rng.normal(0, 2, 16), jnp.float32)
  y = jnp.asarray(rng.integers(0, 2, 16), jnp.float32)
  ours = losses.sigmoid_focal_loss(z, y, gamma=2.0, alpha=0.35)
  np.testing.assert_allclose(ours, optax.sigmoid_focal_loss(z, y, alpha=0.35, gamma=2.0).mean(), rtol=1e-6)
  # alpha 0.35 weights the positives: a positive and a negative with the same |margin| differ by 0.35 / 0.65
  both = losses.sigmoid_focal_loss(jnp.array([-1.0, 1.0]), jnp.array([1.0, 0.0]), alpha=0.35, reduction="none")
  assert float(both[0] / both[1]) == pytest.approx(0.35 / 0.65, rel=1e-6)
  model, variables, x = tiny_model
  labels = jnp.array([0, 1, 1, 0])
  loss_fn = training.make_loss_fn(model, tiny_config())

  @jax.jit
  def both_losses(v):
    loss, _ = loss_fn(v["params"], v["batch_stats"], {"image": x, "label": labels}, jax.random.key(1))
    logits = model.apply(v, x, train=True, mutable=["batch_stats"])[0][0]
    return loss, optax.sigmoid_focal_loss(logits[:, 0], labels.astype(jnp.float32), alpha=0.35, gamma=2.0).mean()

  loss, ref = both_losses(variables)
  np.testing.assert_allclose(loss, ref, rtol=1e-5)


def test_precise_batchnorm_statistics_are_the_batch_statistics(tiny_model):
  """With population statistics taken from one batch, eval mode on that batch equals train mode on it."""
  model, variables, x = tiny_model
  state = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
  calibrated = training.calibrated(model, state, [np.asarray(x)])
  apply = jax.jit(lambda v, train: model.apply(v, x, train=train, mutable=["batch_stats"] if train else False),
                  static_argnums=1)
  train_mode = apply(variables, True)[0][0]
  eval_mode = apply({"params": variables["params"], "batch_stats": calibrated["batch_stats"]}, False)[0]
  stale = apply(variables, False)[0]  # the initial running averages (mean 0, var 1)
  np.testing.assert_allclose(eval_mode, train_mode, rtol=2e-4, atol=2e-5)
  assert float(jnp.max(jnp.abs(stale - train_mode))) > 100 * float(jnp.max(jnp.abs(eval_mode - train_mode)))


def test_oversampling_balances_each_epoch():
  labels = np.array([1] * 3 + [0] * 10)
  order = training.oversample_indices(labels, np.random.default_rng(0))
  counts = np.bincount(order, minlength=13)
  assert len(order) == 20 and np.all(counts[3:] == 1)  # every negative once
  assert counts[:3].sum() == 10 and counts[:3].max() - counts[:3].min() <= 1  # positives up to the negative count
  assert training.epoch_length(labels, True) == 20 and training.epoch_length(labels, False) == 13
  np.testing.assert_array_equal(order, training.oversample_indices(labels, np.random.default_rng(0)))


def test_batch_fn_is_a_pure_function_of_the_step():
  from vision_jax.data import classification as data_lib
  rng = np.random.default_rng(0)
  data = data_lib.ClassificationData(rng.random((13, 16, 16, 4)).astype(np.float32),
                                     np.array([1] * 3 + [0] * 10, np.int32), ("non_covid", "covid"))
  c = tiny_config()
  c.data.batch_size = 4
  fn = training.make_batch_fn(data, c)
  a, b = fn(3), training.make_batch_fn(data, c)(3)
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].min() >= -1 and a["image"].max() <= 1
  labels = np.concatenate([fn(s)["label"] for s in range(5)])  # one epoch = 20 // 4 batches
  assert labels.mean() == pytest.approx(0.5)
  c.data.augment = False
  plain = training.make_batch_fn(data, c)(0)
  idx = training.oversample_indices(data.labels, np.random.default_rng([0, 0]))[:4]
  np.testing.assert_allclose(plain["image"], 2 * data.images[idx] - 1, atol=1e-6)


# ----------------------------------------------------------------------------- metrics
def test_binary_metrics_and_sweep_match_sklearn():
  rng = np.random.default_rng(1)
  y = (rng.random(200) < 0.2).astype(np.int32)
  p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
  for t in (0.25, 0.5, 0.7):
    m = evaluation.binary_metrics(y, p, t)
    pred = (p >= t).astype(int)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-6)
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred), abs=1e-6)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-6)
    assert [m["tn"], m["fp"], m["fn"], m["tp"]] == skm.confusion_matrix(y, pred).ravel().tolist()
    c = evaluation.counts_metrics(m["tp"], m["fp"], m["fn"], m["tn"])
    assert c["mcc"] == pytest.approx(m["mcc"], abs=1e-6) and c["f1"] == pytest.approx(m["f1"], abs=1e-6)
  rows = evaluation.sweep(y, p, evaluation.sweep_thresholds(tiny_config()))
  assert len(rows) == 19 and rows[0]["threshold"] == 0.05 and rows[-1]["threshold"] == 0.95
  assert evaluation.is_monotone(rows)["recall_non_increasing"]
  c = evaluation.curves(y, p)
  assert np.trapezoid(c["tpr"], c["fpr"]) == pytest.approx(rows[0]["auc"], abs=1e-6)  # AUC in float32


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.5])
def test_threshold_outside_the_open_unit_interval_is_refused(bad):
  with pytest.raises(ValueError, match=f"threshold={bad!r} is invalid; expected a threshold strictly between 0 and 1"):
    evaluation.binary_metrics(np.array([0, 1]), np.array([0.2, 0.8]), bad)


def test_plateau_threshold_choice_and_intervals():
  rows = [{"threshold": t, "mcc": m} for t, m in zip([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.5, 0.78, 0.8, 0.795, 0.7, 0.8])]
  assert evaluation.mcc_plateau(rows) == (0.3, 0.4, 0.8)  # contiguous around the first best, within 0.01
  assert evaluation.mcc_plateau(rows, 0.025) == (0.2, 0.4, 0.8)
  y = np.array([0, 0, 0, 1, 1, 0, 1, 0])
  p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.4, 0.45, 0.05])
  assert evaluation.choose_threshold(y, p, [0.3, 0.45, 0.5, 0.6]) == 0.45  # MCC 1 there only
  lo, hi = evaluation.bootstrap_interval(y, p, 0.5, "mcc", 200)
  assert lo <= evaluation.binary_metrics(y, p, 0.5)["mcc"] <= hi
  d, lo, hi = evaluation.paired_difference(y, p, p, 0.5, "mcc", 50)
  assert d == lo == hi == 0.0
  assert evaluation.paired_coverage_test([30, 40, 50], [30, 40, 50])["p_value"] == 1.0
  with pytest.raises(ValueError, match="eval.sweep='0.1:0.9:0'"):
    c = tiny_config()
    c.eval.sweep = "0.1:0.9:0"
    evaluation.sweep_thresholds(c)


# ----------------------------------------------------------------------------- the paper's numbers
def test_paper_confusion_matrix_reproduces_its_mcc_and_f1():
  m = evaluation.counts_metrics(454, 61, 88, 2572)
  assert m["mcc"] == pytest.approx(0.8313, abs=5e-5) and m["f1"] == pytest.approx(0.8590, abs=5e-5)
  m4 = evaluation.counts_metrics(542 - 59, 96, 59, 2633 - 96)
  assert m4["mcc"] == pytest.approx(0.8328, abs=5e-5)
  cons = claims.paper_consistency()
  assert cons["all_confusion_consistent"] and cons["table2_inconsistent_thresholds"] == []
  assert cons["plateau"] == (0.35, 0.55, 0.83)  # wider than the stated 0.35-0.45
  # a row whose F1 cannot come from its precision and recall is caught
  bad = dict(claims.TABLE2)
  bad[0.5] = (.95, .88, .84, .70, .83)
  saved, claims.TABLE2 = claims.TABLE2, bad
  try:
    assert claims.paper_consistency()["table2_inconsistent_thresholds"] == [0.5]
  finally:
    claims.TABLE2 = saved
  v = claims.verdict(cons, {"shortcut_coverage_falls": True, "shortcut_mcc_drops": False})
  assert "internally consistent" in v and "partly verified" in v and "0.35-0.55" in v


# ----------------------------------------------------------------------------- rules and coverage
def test_rule_table_boundaries_and_fig13_layout():
  assert rules.attention_rule(60.0).name == "within_lungs"
  assert rules.attention_rule(59.99).name == "mixed"
  assert rules.attention_rule(40.0).name == "mixed"
  assert rules.attention_rule(39.9).name == "outside"
  assert rules.attention_rule(70, within=80, mixed=70).name == "mixed"
  text = rules.explanation("Normal-7067", 0.1706, 0.4, 50.7)
  assert text.splitlines()[0] == "Normal-7067: P(COVID) = 17.06 % at threshold 0.40 -> no COVID-19 pattern."
  assert "50.7 % inside the lungs / 49.3 % outside" in text and "[rule mixed]" in text
  covid = rules.explanation("COVID-3111", 0.767, 0.4, 61.1, coverage_true=35.0, fallback="constant image")
  assert "COVID-19 suspected" in covid and "[rule within_lungs]" in covid and "-> outside" in covid
  assert "100 % by construction" in covid
  assert "(borderline)" in rules.explanation("x", 0.45, 0.4, 10.0)
  with pytest.raises(ValueError, match="coverage=120"):
    rules.attention_rule(120)
  with pytest.raises(ValueError, match="rule_mixed=70"):
    rules.check_rule_thresholds(60, 70)
  with pytest.raises(ValueError, match="threshold=1.2"):
    rules.explanation("x", 0.5, 1.2, 50)


def test_lung_coverage_closed_forms():
  mask = np.zeros((2, 8, 8), bool)
  mask[:, 2:6, 1:5] = True
  np.testing.assert_allclose(xai.lung_coverage(mask.astype(float), mask), [100, 100])
  np.testing.assert_allclose(xai.lung_coverage(np.ones((2, 8, 8)), mask), [25, 25])  # uniform = area fraction
  np.testing.assert_allclose(xai.lung_coverage(1.0 - mask, mask), [0, 0])
  with pytest.raises(ValueError, match="lung masks have shape"):
    xai.lung_coverage(np.ones((2, 8, 8)), mask[:, :4])
  s = xai.coverage_summary([10, 50, 70, 90], 60, 40)
  assert s["share_within"] == 0.5 and s["share_mixed"] == 0.25 and s["share_outside"] == 0.25


def test_signed_logit_grad_cam(tiny_model):
  model, variables, x = tiny_model
  fn = xai.SignedLogit(model)
  covid = ex.grad_cam(fn, variables, x, np.ones(4, np.int32), upsample=False, normalize=False)
  np.testing.assert_allclose(covid, ex.grad_cam(model, variables, x, 0, upsample=False, normalize=False), rtol=1e-5,
                             atol=1e-7)  # class 1 of the wrapper = the raw logit
  normal = ex.grad_cam(fn, variables, x, np.zeros(4, np.int32), upsample=False, normalize=False)
  assert float(jnp.max(covid * normal)) == 0.0  # relu(c) and relu(-c) never overlap
  np.testing.assert_array_equal(xai.cam_targets([0.2, 0.6], 0.5), [0, 1])
  np.testing.assert_array_equal(xai.cam_targets([0.2, 0.6], 0.5, "covid"), [1, 1])


class _Block(nn.Module):
  @nn.compact
  def __call__(self, x):
    return jax.nn.relu(nn.Conv(6, (3, 3), strides=(2, 2))(x))


class _TwoStage(nn.Module):
  """block -> feature_map (perturbed) -> GAP -> one logit: Grad-CAM on "block" is the library's Grad-CAM."""
  @nn.compact
  def __call__(self, x, train: bool = False):
    h = self.perturb("feature_map", _Block(name="block")(x))
    return nn.Dense(1, name="head")(h.mean(axis=(1, 2))), {"feature_map": h}


def test_layer_grad_cam_equals_the_library_grad_cam_on_the_feature_map():
  model = _TwoStage()
  x = jnp.asarray(np.random.default_rng(5).normal(size=(3, 16, 16, 2)), jnp.float32)
  variables = model.init(jax.random.key(0), x)
  variables = {"params": variables["params"]}
  targets = np.array([1, 0, 1], np.int32)
  ours = xai.layer_grad_cam(model, variables, x, targets, "block")
  ref = ex.grad_cam(xai.SignedLogit(model), variables, x, targets)
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  assert ours.shape == (3, 16, 16) and float(ours.max()) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="explain.hires_layer='block9' is not a submodule"):
    xai.layer_grad_cam(model, variables, x, targets, "block9")


# ----------------------------------------------------------------------------- the study
def test_subruns_are_keyed_by_their_config_but_not_by_eval_fields(tmp_path):
  c = load_config("covid_cxr", "small")
  assert ablations.run_order(["shortcut"]) == ["full", "no_isolation", "shortcut"]
  names = run_lib.study_names(c)
  assert names[0] == "full" and len(names) == 7
  sub = run_lib.subrun_config(c, "no_lbp")
  assert sub.data.options.channels == "roi,freq,vessel" and sub.model.in_channels == 3 and "study" not in sub
  dirs = {n: run_lib.subrun_dir(c, str(tmp_path), n) for n in names}
  assert len(set(dirs.values())) == len(names)
  c2 = load_config("covid_cxr", "small")
  c2.eval.sweep = "0.1:0.9:0.1"
  c2.explain.rule_within = 70.0
  assert run_lib.subrun_dir(c2, str(tmp_path), "full") == dirs["full"]
  with pytest.raises(ValueError, match="unknown ablation 'no_bones'"):
    ablations.run_order(["no_bones"])
  # the config argument joins ablation names with "+" ("," separates the arguments themselves)
  c3 = load_config("covid_cxr", "small,ablations=no_lbp+shortcut")
  assert c3.study.ablations == "no_lbp,shortcut"
  assert run_lib.study_names(c3) == ["full", "no_lbp", "no_isolation", "shortcut"]
  assert load_config("covid_cxr", "small,ablations=none").study.ablations == ""


@pytest.mark.parametrize("field,value,message", [
    ("eval.threshold", 1.5, "eval.threshold=1.5 is invalid"),
    ("loss.focal_alpha", 0.0, "loss.focal_alpha=0.0 is invalid"),
    ("model.num_classes", 2, "model.num_classes=2 is invalid"),
    ("study.ablations", "no_bones", "unknown ablation 'no_bones'"),
])
def test_bad_config_fails_before_anything_is_written(tmp_path, field, value, message):
  c = tiny_config()
  section, key = field.split(".")
  c[section][key] = value
  workdir = str(tmp_path / "w")
  with pytest.raises(ValueError, match=message.replace("(", "\\(")):
    covid_cxr.MODES["train"](c, workdir)
  assert not os.path.exists(workdir)


def test_single_class_split_fails_before_anything_is_written(tmp_path):
  c = tiny_config(prevalence=0.0)
  workdir = str(tmp_path / "w")
  with pytest.raises(ValueError, match="training split of 'covid_phantoms:default' holds only 'non_covid'"):
    covid_cxr.MODES["train"](c, workdir)
  assert not os.path.exists(workdir)


def test_cli_bad_input_is_one_line(tmp_path):
  workdir = str(tmp_path / "w")
  proc = subprocess.run([sys.executable, "-m", "vision_jax.main", "--config=configs/covid_cxr/default.py:small",
                         f"--workdir={workdir}", "--config.eval.threshold=0.0"], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip() == ("error: eval.threshold=0.0 is invalid; expected a threshold strictly between 0 and 1")
  assert not os.path.exists(workdir)


@pytest.mark.slow
def test_small_study_end_to_end_finds_the_planted_signal(tmp_path):
  """A reduced study (full + no_lbp + shortcut and its control): the trained model finds the planted
  GGO signal (test AUC well above chance), every table is written, report and explain re-render."""
  c = load_config("covid_cxr", "small,ablations=no_lbp+shortcut")
  c.data.options.num_images = 300
  c.data.image_size = 64
  c.data.options.frangi_sigmas = "1,2,4"
  c.train.steps = 150
  c.train.progress = False
  c.eval.bootstrap = 100
  workdir = str(tmp_path / "study")
  result = covid_cxr.MODES["train"](c, workdir)
  full = result["runs"]["full"]
  assert full["at_default"]["auc"] > 0.8
  text = open(os.path.join(workdir, "results.md")).read()
  for heading in ("Table 2 analogue", "lung coverage over the test set", "Ablations", "Verdict", "Randomization"):
    assert heading in text
  for f in ("sweep.png", "roc.png", "pr.png", "coverage.png", "explain/overlays.png", "explain/explanations.txt"):
    assert os.path.exists(os.path.join(workdir, f))
  again = covid_cxr.MODES["report"](c, workdir)
  assert again["verdict"] == result["verdict"]
  explained = covid_cxr.MODES["explain"](c, workdir)
  assert explained["examples"] and all(e["rule"] in ("within_lungs", "mixed", "outside") for e in explained["examples"])
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["findings"]["ablation_ran"] is False  # only no_lbp of the four channels ran
