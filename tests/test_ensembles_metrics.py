"""vision_jax.metrics.ensembles: late fusion, ensemble costs, Pareto fronts against a brute-force
dominance check, radar areas against the shoelace formula, the paper's metrics against
scikit-learn (wR = wS = accuracy), stacking, and the Mann-Whitney / Friedman / Wilcoxon-Holm
wrappers against scipy / statsmodels."""

import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from vision_jax.metrics import ensembles, stats


def test_average_probabilities_and_costs():
  rng = np.random.default_rng(0)
  p = rng.dirichlet(np.ones(4), size=(3, 50))
  avg = ensembles.average_probabilities(p)
  np.testing.assert_allclose(avg, (p[0] + p[1] + p[2]) / 3)
  np.testing.assert_allclose(avg.sum(-1), 1.0)
  # Path MobNetV2_MobV3_C2_D2 from its members (Tables 3/4): sizes add, time is the slowest member
  cost = ensembles.ensemble_cost([8.66, 11.46, 4.16, 7.24], [11.428, 11.857, 147.708, 149.645], [11, 13, 28, 29])
  assert cost["size"] == pytest.approx(31.52) and cost["flops"] == pytest.approx(320.638) and cost["time"] == 29
  with pytest.raises(ValueError, match="one of each"):
    ensembles.ensemble_cost([1.0], [1.0, 2.0], [1.0])
  combos = ensembles.combinations(list("abcd"), 2, 3)
  assert len(combos) == 6 + 4 and combos[0] == ("a", "b")


def brute_force_front(perf, ben):
  """i is on the front iff no j ranked above it (higher perf, or equal perf and earlier) has ben >= ben_i."""
  n = len(perf)
  above = lambda j, i: perf[j] > perf[i] or (perf[j] == perf[i] and j < i)
  return np.array([not any(above(j, i) and ben[j] >= ben[i] for j in range(n)) for i in range(n)])


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_matches_brute_force(seed):
  rng = np.random.default_rng(seed)
  perf = np.round(rng.random(40), 1)  # many ties
  ben = np.round(rng.random(40), 1)
  np.testing.assert_array_equal(ensembles.pareto_front(perf, ben), brute_force_front(perf, ben))


def test_pareto_front_of_distinct_points_is_the_nondominated_set():
  perf, ben = [0.9, 0.8, 0.7, 0.85], [0.1, 0.5, 0.4, 0.5]
  # (0.7, 0.4) is dominated by (0.8, 0.5); (0.8, 0.5) by (0.85, 0.5)
  assert ensembles.pareto_front(perf, ben).tolist() == [True, False, False, True]


def test_complements():
  np.testing.assert_allclose(ensembles.complement([1.0, 2.0, 4.0]), [0.75, 0.5, 0.0])
  c = np.array([1.0, 2.0, 4.0])
  np.testing.assert_allclose(ensembles.radar_complement(c), 1 - (c / 4) / (7 / 3))


@pytest.mark.parametrize("k", [3, 5, 7])
def test_radar_area_is_the_shoelace_area(k):
  rng = np.random.default_rng(k)
  r = rng.random((6, k))
  angles = 2 * np.pi * np.arange(k) / k
  np.testing.assert_allclose(ensembles.radar_area(r), ensembles.polygon_area(r * np.cos(angles), r * np.sin(angles)))
  # a regular polygon of circumradius 1: k/2 sin(2 pi / k)
  assert ensembles.radar_area(np.ones(k)) == pytest.approx(k / 2 * np.sin(2 * np.pi / k))


def test_paper_metrics_match_sklearn_and_ws_is_accuracy():
  rng = np.random.default_rng(1)
  k, n = 5, 400
  y = rng.choice(k, n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
  logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
  p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  m = ensembles.paper_metrics(y, p)
  pred = p.argmax(-1)
  assert m["wS"] == pytest.approx(skm.recall_score(y, pred, average="weighted"))
  assert m["wS"] == pytest.approx(skm.accuracy_score(y, pred))  # weighted recall = accuracy
  assert m["wS"] == pytest.approx(m["accuracy"])
  assert m["wP"] == pytest.approx(skm.precision_score(y, pred, average="weighted"))
  assert m["F1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
  assert m["BA"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
  assert m["AUC"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))


def test_stacking_learns_which_member_to_trust():
  """Member 0 is informative, member 1 is noise: the stacker beats averaging on held-out data."""
  rng = np.random.default_rng(2)
  k, n = 3, 600
  y = rng.integers(0, k, n)
  good = np.full((n, k), 0.1) + 0.7 * np.eye(k)[np.where(rng.random(n) < 0.8, y, rng.integers(0, k, n))]
  noise = rng.dirichlet(np.ones(k) * 0.3, n)
  members = np.stack([good, noise])
  feats = ensembles.stacking_features(members)
  assert feats.shape == (n, 2 * k)
  np.testing.assert_array_equal(feats[:, k:], noise)
  est, hidden = ensembles.fit_stacker(members[:, :400], y[:400], hidden_grid=((8,), (8, 16)), max_iter=300)
  assert hidden in ((8,), (8, 16))
  stacked = ensembles.stacker_probabilities(est, members[:, 400:], k)
  acc_stack = np.mean(stacked.argmax(-1) == y[400:])
  acc_avg = np.mean(ensembles.average_probabilities(members[:, 400:]).argmax(-1) == y[400:])
  assert acc_stack >= acc_avg - 0.01 and acc_stack > 0.75


def test_mann_whitney_matches_scipy_and_the_closed_form():
  from scipy import stats as ss
  a, b = [0.90, 0.91, 0.93, 0.88], [0.80, 0.85, 0.89, 0.87, 0.86]
  r = stats.mann_whitney(a, b)
  assert r["U"] == ss.mannwhitneyu(a, b).statistic
  # U = number of (a_i, b_j) pairs with a_i > b_j (no ties)
  assert r["U"] == sum(x > y for x in a for y in b) == 19
  assert r["p"] == pytest.approx(ss.mannwhitneyu(a, b).pvalue)


def test_friedman_ranks_and_wilcoxon_holm():
  from scipy import stats as ss
  from statsmodels.stats.multitest import multipletests
  rng = np.random.default_rng(3)
  base = rng.random(10)
  scores = np.stack([base, base + 0.1 + 0.01 * rng.random(10), base + 0.05 * rng.random(10), base + 0.2], axis=1)
  f = stats.friedman(scores)
  assert f["p"] == pytest.approx(ss.friedmanchisquare(*scores.T).pvalue)
  assert f["average_ranks"][3] == 1.0 and f["average_ranks"][0] == 4.0  # method 3 always best, 0 always worst
  np.testing.assert_allclose(f["average_ranks"].sum(), 1 + 2 + 3 + 4)
  named = {m: scores[:, j] for j, m in enumerate("ABCD")}
  pairs = [("A", "B"), ("A", "D"), ("B", "C")]
  rows = stats.wilcoxon_holm(named, pairs)
  raw = [ss.wilcoxon(named[a], named[b]).pvalue for a, b in pairs]
  np.testing.assert_allclose([r["p"] for r in rows], raw)
  np.testing.assert_allclose([r["p_holm"] for r in rows], multipletests(raw, method="holm")[1])
  # all ten differences of one sign: exact two-sided p = 2 / 2^10
  assert rows[1]["p"] == pytest.approx(stats.smallest_wilcoxon_p(10))
  assert stats.smallest_wilcoxon_p(3) == 0.25
  w = stats.shapiro_wilk(base)
  assert w["p"] == pytest.approx(ss.shapiro(base).pvalue)
