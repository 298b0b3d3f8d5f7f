"""Project exoplanet_vetting: VGG19-1D, the flow-matching classifier, embeddings, protocols, scores, verdict, CLI."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from vision_jax.models.classifiers.common import count_params
from vision_jax.projects.exoplanet_vetting import claims, embedding, protocols, run
from vision_jax.projects.exoplanet_vetting.flow_matching import ForestFlowClassifier, interpolate, level_index
from vision_jax.projects.exoplanet_vetting.vgg1d import VGG1D, feature_dim, pooled_length


def test_vgg19_1d_standard_configuration_has_the_papers_2560_feature():
  assert [pooled_length(201, s) for s in range(1, 6)] == [100, 49, 24, 11, 5]
  model = VGG1D()
  (logits, aux), _ = jax.eval_shape(lambda x: model.init_with_output(jax.random.key(0), x), jnp.zeros((2, 201, 1)))
  assert aux["pooled"].shape == (2, 2560) == (2, feature_dim(model))
  assert aux["feature_map"].shape == (2, 1, 5, 512) and logits.shape == (2, 3) and aux["pre_logits"].shape == (2, 512)
  widths = [64, 64, 128, 128] + [256] * 4 + [512] * 8
  convs = sum(3 * cin * cout + cout for cin, cout in zip([1] + widths[:-1], widths))
  fc = (2560 * 512 + 512) + (512 * 512 + 512) + (512 * 3 + 3)
  assert count_params(model, (1, 201, 1)) == convs + fc == 8_253_507


@pytest.mark.parametrize("shape, match", [((2, 201), "rank 3"), ((2, 201, 2), "input channels"),
                                          ((2, 20, 1), "long enough")])
def test_vgg19_1d_rejects_bad_input(shape, match):
  with pytest.raises(ValueError, match=match):
    VGG1D().init(jax.random.key(0), jnp.zeros(shape))


def test_flow_matching_target_and_level_index():
  x1, x0 = np.ones((2, 2)), np.zeros((2, 2))
  xt, v = interpolate(x1, x0, 0.25)
  np.testing.assert_allclose(xt, 0.25)
  np.testing.assert_allclose(v, 1.0)
  assert [level_index(t, 50) for t in (0.0, 0.5, 1.0, 1 / 25)] == [0, 24, 49, 2]
  with pytest.raises(ValueError, match="n_t"):
    ForestFlowClassifier(n_t=1)


def test_zero_shot_errors_with_the_exact_velocity_of_point_masses():
  """Two classes that are point masses mu, nu: v_c(x_t, t) = (c - x_t) / (1 - t). For x = mu the true class
  has error 0 and the other ||mu - nu||^2 mean_j 1 / (1 - t_j)^2 over t_j = j / n_t."""
  mu, nu = np.array([0.5, -0.2]), np.array([-0.4, 0.3])
  clf = ForestFlowClassifier(n_t=50, n_t_predict=10, n_z=3)
  clf.classes_ = np.array([0, 1])
  centres = [mu, nu]
  clf.velocity = lambda c, t, xt: (centres[c] - xt) / (1.0 - t)
  err = clf.denoising_errors(mu[None])
  ts = np.arange(1, 10) / 10
  assert err[0, 0] == pytest.approx(0.0, abs=1e-20)
  assert err[0, 1] == pytest.approx(np.sum((mu - nu) ** 2) * np.mean(1 / (1 - ts) ** 2), rel=1e-12)


def test_flow_matching_classifier_finds_planted_gaussian_classes():
  from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
  rng = np.random.default_rng(0)
  centres = np.array([[0, 0], [4, 0], [0, 4]])
  x = np.concatenate([rng.normal(c, 1.2, (150, 2)) for c in centres])
  y = np.repeat(np.arange(3), 150)
  xt = np.concatenate([rng.normal(c, 1.2, (100, 2)) for c in centres])
  yt = np.repeat(np.arange(3), 100)
  clf = ForestFlowClassifier(n_t=6, duplicate_K=4, n_t_predict=6, n_z=4).fit(x, y)
  acc = np.mean(clf.predict(xt) == yt)
  bayes = np.mean(QuadraticDiscriminantAnalysis().fit(x, y).predict(xt) == yt)
  assert acc >= bayes - 0.04 and acc > 0.85
  p = clf.predict_proba(xt)
  np.testing.assert_allclose(p.sum(1), 1.0)
  np.testing.assert_array_equal(p.argmax(1), clf.predict(xt))


def test_knn_place_reproduces_training_points_and_averages_constant_embeddings():
  rng = np.random.default_rng(1)
  f = rng.normal(size=(30, 5))
  e = rng.normal(size=(30, 2))
  np.testing.assert_allclose(embedding.knn_place(f, e, f[:4], k=1), e[:4])
  np.testing.assert_allclose(embedding.knn_place(f, np.full((30, 2), 3.0), rng.normal(size=(5, 5)), k=7), 3.0)
  with pytest.raises(ValueError, match="k=31"):
    embedding.knn_place(f, e, f, k=31)


def test_tsne_separates_planted_clusters_and_refuses_tiny_sets():
  rng = np.random.default_rng(2)
  centres = rng.normal(0, 6, (3, 20))
  f = np.concatenate([rng.normal(c, 1.0, (30, 20)) for c in centres])
  y = np.repeat(np.arange(3), 30)
  e = embedding.tsne(f, perplexity=10, max_iter=250)
  assert embedding.silhouette(e, y) > 0.5
  shuffled = embedding.silhouette(e, rng.permutation(y))
  assert shuffled < 0.1
  with pytest.raises(ValueError, match="perplexity"):
    embedding.tsne(f, perplexity=50)


def split_data(n=200, seed=0):
  rng = np.random.default_rng(seed)
  labels = np.repeat([0, 1, 2], [50, 110, 40]).astype(np.int32)
  views = rng.normal(size=(n, 201)).astype(np.float32)
  return views, labels


def test_paper_split_reflects_before_splitting_and_leaks_twins_while_heldout_does_not():
  views, labels = split_data()
  paper = protocols.make_split(protocols.get_protocol("paper"), views, labels, test_fraction=0.2, seed=0, reflect_pc=True)
  held = protocols.make_split(protocols.get_protocol("heldout"), views, labels, test_fraction=0.2, seed=0, reflect_pc=True)
  trans = protocols.make_split(protocols.get_protocol("transductive"), views, labels, test_fraction=0.2, seed=0,
                               reflect_pc=True)
  assert len(paper.train_labels) + len(paper.test_labels) == 250  # 200 + 50 reflected PCs, then 80/20
  assert np.bincount(paper.test_labels).tolist() == [20, 22, 8]
  assert paper.twins_in_train() > 0 and paper.test_reflected.any()
  assert held.twins_in_train() == 0 and not held.test_reflected.any()
  assert np.bincount(held.test_labels).tolist() == [10, 22, 8]  # originals only
  assert np.sum(held.train_labels == 0) == 80 and held.train_reflected.sum() == 40
  np.testing.assert_array_equal(held.test_origin, trans.test_origin)
  reflected = held.train_views[held.train_reflected]
  originals = {o: v for o, v, r in zip(held.train_origin, held.train_views, held.train_reflected) if not r}
  np.testing.assert_array_equal(reflected[0], originals[held.train_origin[held.train_reflected][0]][::-1])
  assert protocols.get_protocol("heldout").cnn_key == protocols.get_protocol("transductive").cnn_key
  assert protocols.get_protocol("paper").cnn_key != protocols.get_protocol("heldout").cnn_key
  with pytest.raises(ValueError, match="unknown protocol"):
    protocols.get_protocol("oracle")


def test_class_scores_match_sklearn_and_the_papers_misclassification_rate():
  rng = np.random.default_rng(3)
  y, p = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
  s = run.class_scores(y, p, 3)
  ref = precision_recall_fscore_support(y, p, labels=[0, 1, 2], zero_division=0)
  for key, r in zip(("precision", "recall", "f1"), ref[:3]):
    np.testing.assert_allclose(s[key], r, atol=1e-6)
  # DR24 AFP check of the spec: (13 FP + 11 FN) / 1920 = 1.25 %.
  y = np.array([0] * 1920 + [1] * 13)
  pred = np.array([0] * 1909 + [1] * 11 + [0] * 13)
  assert run.class_scores(y, pred, 2)["misclassification"][0] == pytest.approx(0.0125)


def test_batch_fn_is_a_pure_function_of_the_step_and_yields_views():
  views, labels = split_data()
  fn = run.make_batch_fn(views, labels, 32, seed=4)
  a, b = fn(9), fn(9)
  assert a["image"].shape == (32, 201, 1) and a["label"].dtype == np.int32
  np.testing.assert_array_equal(a["image"], b["image"])
  epoch = np.concatenate([fn(s)["label"] for s in range(200 // 32)])
  assert len(np.unique(np.concatenate([fn(s)["image"][:, 0, 0] for s in range(6)]))) == len(epoch)  # no repeats


def test_verdict_names_the_leak():
  claim = claims.dr24_macro_f1()
  assert claim == pytest.approx((0.9937 + 0.9979 + 0.9803) / 3)
  assert "needs the leak" in claims.verdict({"paper": 0.97, "heldout": 0.80})
  assert "reproduced under the held-out" in claims.verdict({"paper": 0.99, "heldout": 0.99})
  assert "even with the leak" in claims.verdict({"paper": 0.85, "heldout": 0.70})
  assert "incomplete" in claims.verdict({"heldout": 0.7})


@pytest.mark.parametrize("field, value, match", [
    ("protocols", "paper,oracle", "unknown protocol"),
    ("data.source", "npz:/nonexistent.npz", "not found"),
    ("data.source", "fits:x", "expected 'simulated'"),
    ("tsne.max_iter", 100, "max_iter"),
    ("cfm.n_t", 1, "n_t"),
])
def test_bad_config_fails_before_a_workdir_exists(tmp_path, config_loader, field, value, match):
  from vision_jax import main
  from vision_jax.config_utils import with_overrides
  config = with_overrides(config_loader("exoplanet_vetting", "small"), **{field: value})
  work = tmp_path / "w"
  with pytest.raises((ValueError, FileNotFoundError), match=match):
    main.run(config, str(work), "train")
  assert not work.exists()


@pytest.mark.slow
def test_tiny_end_to_end_run_writes_both_protocols_and_a_verdict(tmp_path, config_loader):
  from vision_jax import main
  from vision_jax.config_utils import with_overrides
  config = with_overrides(config_loader("exoplanet_vetting", "small"), **{
      "data.num_curves": 260, "train.epochs": 2, "tsne.max_iter": 250, "cfm.n_t": 4, "cfm.duplicate_K": 2,
      "cfm.n_t_predict": 4, "cfm.n_z": 2, "train.progress": False,
      "model.kwargs": {"width_multiplier": 0.125, "fc_dim": 16, "batch_norm": True, "dropout_rate": 0.5,
                       "kernel_size": 3}})
  work = tmp_path / "w"
  main.run(config, str(work), "train")
  text = (work / "results.md").read_text()
  assert "paper (CNN and 2nd t-SNE see the test set)" in text and "held-out" in text and "Verdict:" in text
  assert (work / "embeddings.png").exists() and (work / "per_class.csv").exists()
  again = main.run(config, str(work), "report")  # re-renders from results.json
  assert again == text
