"""The EKD protocol: stratified folds shared by every method with an inner validation split, the
batch order of the classify task, the KD / EKD loss inside the loop's extra state, the warm-restart
schedules (sine as assumed, cosine), restart parsing, and the fold statistics against scipy."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from vision_jax.data import classification as data_lib
from vision_jax.losses import distillation as kd
from vision_jax.projects.ensemble_distillation import claims, methods, models, protocol, run
from vision_jax.tasks.classify import common as classify
from vision_jax.train import state as state_lib


def test_folds_are_stratified_disjoint_and_cover_everything():
  labels = np.r_[np.ones(73), np.zeros(27)].astype(np.int32)
  f = protocol.folds(labels, 5, 0)
  tests = np.concatenate([te for _, te in f])
  assert sorted(tests.tolist()) == list(range(100))
  for tr, te in f:
    assert not set(tr) & set(te)
    assert abs(labels[te].mean() - 0.73) < 0.06
    fit, val = protocol.inner_split(tr, labels, 0.1, 0)
    assert not set(fit) & set(val) and set(fit) | set(val) == set(tr)
  assert [te.tolist() for _, te in protocol.folds(labels, 5, 0)] == [te.tolist() for _, te in f]  # same folds
  with pytest.raises(ValueError, match="cv.folds"):
    protocol.folds(labels, 40, 0)


def test_batch_order_matches_the_classify_task():
  rng = np.random.default_rng(0)
  d = data_lib.ClassificationData(rng.random((50, 8, 8, 1), np.float32), rng.integers(0, 2, 50).astype(np.int32),
                                  ("a", "b"))
  cfg = ml_collections.ConfigDict({"seed": 3, "data": {"batch_size": 8, "augment": False, "max_shift": 0,
                                                       "hflip": False, "vflip": False}})
  ours, theirs = protocol.batch_fn_with_index(d, 8, 3), classify.make_batch_fn(d, cfg)
  for step in (0, 5, 6, 13):
    a, b = ours(step), theirs(step)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(d.labels[a["index"]], b["label"])


def test_kd_loss_reads_the_soft_targets_of_the_batch():
  model = models.StudentCNN(num_classes=2)
  x = jnp.asarray(np.random.default_rng(1).random((6, 16, 16, 1)), jnp.float32)
  v = jax.jit(lambda k: model.init(k, x, train=False))(jax.random.key(0))
  targets = jnp.asarray(np.random.default_rng(2).dirichlet([1, 1], 10), jnp.float32)
  batch = {"image": x, "label": jnp.array([0, 1, 1, 0, 1, 0]), "index": jnp.array([9, 2, 4, 4, 0, 7])}
  loss_fn = protocol.make_loss(model, alpha=0.5, temperature=3.0, l2_path=models.L2_KERNEL, l2=0.01)
  loss, (_, _, extra) = loss_fn(v["params"], v["batch_stats"], batch, jax.random.key(3), {"soft_targets": targets})
  logits, _, _ = state_lib.apply_model(model, v["params"], v["batch_stats"], x, True, rngs={"dropout": jax.random.key(3)})
  want, _ = kd.distillation_loss(logits, batch["label"], targets[batch["index"]], alpha=0.5, temperature=3.0)
  want = want + 0.01 * jnp.sum(v["params"]["dense1"]["kernel"] ** 2)
  assert float(loss) == pytest.approx(float(want), rel=1e-5)
  assert extra["soft_targets"] is targets  # the teachers' targets are carried, never updated


def test_warm_restart_schedules():
  for kind, f in (("sine", lambda t, T: 1 - np.sin(np.pi * t / (2 * T))), ("cosine", lambda t, T: 0.5 * (1 + np.cos(np.pi * t / T)))):
    s = state_lib.make_schedule(ml_collections.ConfigDict({"lr": 0.02, "schedule": kind}), 40)
    for t in (0, 10, 25, 40):
      assert float(s(t)) == pytest.approx(0.02 * f(t, 40), abs=1e-7)
  lin = state_lib.make_schedule(ml_collections.ConfigDict({"lr": 0.1, "schedule": "linear"}), 50)
  assert float(lin(25)) == pytest.approx(0.05) and float(lin(50)) == pytest.approx(0.0, abs=1e-9)
  assert methods.parse_restarts("0.01:sine, 0.02:cosine") == [(0.01, "sine"), (0.02, "cosine")]
  with pytest.raises(ValueError, match="restarts entry"):
    methods.parse_restarts("0.01:step")


def test_fold_statistics_match_scipy():
  from scipy import stats as ss
  rng = np.random.default_rng(0)
  per_fold = []
  for i in range(6):
    base = 0.8 + 0.02 * rng.random()
    vals = {"Student": base, "SGDRE": base + 0.1, "KD": base - 0.01, "EKD": base + 0.09}
    per_fold.append({m: {"accuracy": v, "f1": v, "auc": v, "kappa": v, "epochs": 10.0 + i, "train_seconds": 1.0 + i,
                         "inference_seconds": 1.0} for m, v in vals.items()})
  st = run.statistics(per_fold)
  acc = np.array([[f[m]["accuracy"] for m in methods.METHODS] for f in per_fold])
  assert st["accuracy"]["friedman"]["p"] == pytest.approx(ss.friedmanchisquare(*acc.T).pvalue)
  np.testing.assert_allclose(st["accuracy"]["friedman"]["average_ranks"], [3, 1, 4, 2])
  w = st["accuracy"]["wilcoxon"]
  assert [(r["a"], r["b"]) for r in w] == list(claims.PAIRS)
  assert w[0]["p"] == pytest.approx(2 / 2 ** 6)  # SGDRE > Student in every fold
  means = {m: {k: float(np.mean([f[k][m] for f in per_fold])) for k in methods.METHODS}
           for m in ("accuracy", "f1", "kappa", "inference_seconds")}
  means["inference_seconds"]["SGDRE"] = 3.0
  line = claims.verdict(means, st, 6)
  assert line.startswith("Verdict: reproduced") and "1.0 pt below" in line and "+1.0" not in line and "0.33x" in line
  means["accuracy"]["EKD"] = means["accuracy"]["KD"] - 0.01  # EKD no longer beats KD
  assert claims.verdict(means, st, 6).startswith("Verdict: not reproduced")
  # every method at the majority-class guess (kappa 0, equal accuracy): nothing to compare
  flat = {m: {k: 0.73 for k in methods.METHODS} for m in ("accuracy", "f1")}
  flat["kappa"] = {k: 0.0 for k in methods.METHODS}
  flat["inference_seconds"] = {"Student": 1.0, "SGDRE": 3.0, "KD": 1.0, "EKD": 1.0}
  line = claims.verdict(flat, st, 6)
  assert line.startswith("Verdict: inconclusive") and "best 0.000" in line
  flat["kappa"]["SGDRE"] = claims.INFORMATIVE_KAPPA  # one informative method: the ordinary verdict again
  assert claims.verdict(flat, st, 6).startswith("Verdict: not reproduced")


def test_centring_uses_the_fit_mean_for_every_split():
  rng = np.random.default_rng(0)
  parts = {k: data_lib.ClassificationData(rng.uniform(size=(n, 8, 8, 1)).astype(np.float32),
                                          np.zeros(n, np.int32), ("a", "b")) for k, n in (("fit", 6), ("val", 3), ("test", 2))}
  out = methods.center(parts, True)
  mean = parts["fit"].images.mean(0)
  np.testing.assert_allclose(out["fit"].images.mean(0), 0.0, atol=1e-6)
  for k in ("val", "test"):
    np.testing.assert_allclose(out[k].images, parts[k].images - mean, atol=1e-6)
  assert methods.center(parts, False) is parts


def test_short_student_fit_on_the_centred_stand_in_is_not_the_majority_class():
  """The degenerate case of the first small runs (every method predicting the 73 % class, kappa 0): a
  short Adam fit of the student on centred cxr_synth phantoms must predict both classes and beat the
  majority rate on held-out images."""
  from vision_jax.projects.ensemble_distillation import data as cxr
  from vision_jax.train import loop
  pool = cxr.load_synthetic("default", "train", image_size=32, num_images=320)
  parts = methods.center({"fit": protocol.subset(pool, np.arange(256)),
                          "test": protocol.subset(pool, np.arange(256, 320))}, True)
  model = methods.student_model(2, 0.9)
  loss = protocol.make_loss(model, alpha=None, temperature=1.0, l2_path=models.L2_KERNEL, l2=0.01)
  problem = loop.TrainProblem(model, np.zeros((1, 32, 32, 1), np.float32), loss,
                              protocol.batch_fn_with_index(parts["fit"], 32, 0))
  config = ml_collections.ConfigDict({"seed": 0, "optim": {"name": "adam", "lr": 1e-3}, "train": {}})
  state, _, _ = loop.fit_in_memory(problem, config, 80)
  variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
  pred = protocol.logits_of(model, variables, parts["test"].images, 64).argmax(-1)
  y = parts["test"].labels
  assert 0 < pred.mean() < 1
  assert methods.fold_metrics(y, np.eye(2)[pred])["kappa"] > 0.2
