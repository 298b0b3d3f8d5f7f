"""PCA by eigh (vs scikit-learn) and Granger F-tests (vs statsmodels; power and size by simulation)."""

import numpy as np
import pytest
from scipy import stats

from vision_jax.metrics import granger


def test_pca_matches_sklearn():
  from sklearn.decomposition import PCA
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)) + 3.0
  ours = granger.pca_eigh(x, 5)
  ref = PCA(5, svd_solver="full").fit(x)
  np.testing.assert_allclose(ours["eigenvalues"], ref.explained_variance_, rtol=1e-9)
  np.testing.assert_allclose(ours["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-9)
  np.testing.assert_allclose(np.abs(ours["scores"]), np.abs(ref.transform(x)), rtol=1e-6, atol=1e-9)
  # sign convention: largest-magnitude loading positive, as sklearn >= 1.5
  np.testing.assert_allclose(ours["components"], ref.components_.T, atol=1e-8)
  np.testing.assert_allclose(ours["scores"].mean(0), 0.0, atol=1e-10)
  with pytest.raises(ValueError, match="expected 1 <= k <= 12"):
    granger.pca_eigh(x, 13)


@pytest.mark.parametrize("lag", [1, 2, 3])
def test_f_test_matches_statsmodels(lag):
  from statsmodels.tsa.stattools import grangercausalitytests
  rng = np.random.default_rng(lag)
  x = rng.normal(size=120)
  y = np.zeros(120)
  for t in range(1, 120):
    y[t] = 0.4 * y[t - 1] + 0.2 * x[t - 1] + rng.normal()
  ours = granger.granger_f_test(y, x, lag, lag)
  ref = grangercausalitytests(np.column_stack([y, x]), [lag])[lag][0]["ssr_ftest"]  # column 2 -> column 1
  np.testing.assert_allclose([ours["F"], ours["p_value"]], ref[:2], rtol=1e-9)
  assert (ours["df_den"], ours["df_num"]) == (int(ref[2]), int(ref[3])) == (120 - lag - 2 * lag - 1, lag)
  # batched call gives the same numbers
  both = granger.granger_f_test(np.stack([y, x]), np.stack([x, y]), lag, lag)
  np.testing.assert_allclose(both["F"][0], ours["F"], rtol=1e-12)


def test_paper_dof_counts_q_twice():
  rng = np.random.default_rng(3)
  y, x = rng.normal(size=(2, 80))
  right = granger.granger_f_test(y, x, 2, 2)
  paper = granger.granger_f_test(y, x, 2, 2, paper_dof=True)
  assert right["df_den"] - paper["df_den"] == 2
  np.testing.assert_allclose(paper["F"], right["F"] * paper["df_den"] / right["df_den"], rtol=1e-12)
  with pytest.raises(ValueError, match="too short"):
    granger.granger_f_test(y[:6], x[:6], 2, 2)


def _bivariate_ar(rng, reps, t, coupling):
  """x_t = 0.5 x_{t-1} + e_t, y_t = 0.3 y_{t-1} + coupling * x_{t-1} + u_t (X drives Y), burn-in 50."""
  n = t + 50
  e, u = rng.normal(size=(2, reps, n))
  x, y = np.zeros((reps, n)), np.zeros((reps, n))
  for s in range(1, n):
    x[:, s] = 0.5 * x[:, s - 1] + e[:, s]
    y[:, s] = 0.3 * y[:, s - 1] + coupling * x[:, s - 1] + u[:, s]
  return x[:, 50:], y[:, 50:]


def test_power_and_size_on_simulated_ar_process():
  reps, alpha = 4000, 0.05
  x, y = _bivariate_ar(np.random.default_rng(0), reps, 200, 0.25)
  x_to_y = granger.granger_f_test(y, x, 2, 2)["p_value"] < alpha
  y_to_x = granger.granger_f_test(x, y, 2, 2)["p_value"] < alpha
  assert x_to_y.mean() > 0.9
  se = np.sqrt(alpha * (1 - alpha) / reps)  # 0.0034
  assert abs(y_to_x.mean() - alpha) < 3.5 * se
  # the null distribution is the F distribution itself: p-values uniform (KS)
  assert stats.kstest(granger.granger_f_test(x, y, 2, 2)["p_value"], "uniform").pvalue > 1e-3


def test_iid_pairs_significant_at_alpha_and_class_order_inflates_links():
  rng = np.random.default_rng(1)
  alpha, k, t, reps = 0.05, 10, 500, 40
  fractions = [granger.pairwise_granger(rng.normal(size=(t, k)), 2, 2, alpha)["fraction_significant"]
               for _ in range(reps)]
  assert abs(np.mean(fractions) - alpha) < 0.012  # 3600 tests (90 pairs x 40 draws)
  # samples sorted by class: block means make every component autocorrelated; the lags of another
  # component help estimate the current block's mean, so class order inflates the significant share
  ordered, shuffled = [], []
  for _ in range(10):
    labels = np.sort(rng.integers(0, 10, t))
    blocks = rng.normal(size=(10, k))[labels] + rng.normal(size=(t, k))
    ordered.append(granger.pairwise_granger(blocks, 2, 2, alpha))
    shuffled.append(granger.pairwise_granger(blocks[rng.permutation(t)], 2, 2, alpha)["fraction_significant"])
  assert np.mean([o["fraction_significant"] for o in ordered]) > 0.15  # measured 0.27 (3 x alpha and more)
  assert abs(np.mean(shuffled) - alpha) < 0.02
  assert np.all(np.isnan(np.diag(ordered[0]["p_value"])))
  assert ordered[0]["significant"].shape == (k, k) and not ordered[0]["significant"].diagonal().any()
