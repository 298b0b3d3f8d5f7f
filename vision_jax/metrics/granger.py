"""Centred PCA by eigendecomposition and pairwise Granger-causality F-tests (seed 000's causal analysis).

PCA (seed 000 eqs. 6-8): X is centred, C = X^T X / (n - 1), C = V diag(lambda) V^T by
`jnp.linalg.eigh`, scores = X V_k for the k largest eigenvalues. Signs follow scikit-learn
(>= 1.5): each component's largest-magnitude loading is positive.

Granger test of "x Granger-causes y" with p lags of y and q lags of x (seed 000 eqs. 9-12):
  restricted:   y_t = a0 + sum_{i<=p} a_i y_{t-i} + e_t
  unrestricted: y_t = b0 + sum_{i<=p} b_i y_{t-i} + sum_{j<=q} g_j x_{t-j} + u_t
on the T' = T - max(p, q) time points with all lags available, F = [(SSE_r - SSE_u) / q] /
[SSE_u / (T' - p - q - 1)] ~ F(q, T' - p - q - 1) under the null. With p = q = L this is
statsmodels' `grangercausalitytests(..)[L][0]["ssr_ftest"]` (tests/test_granger.py). The paper's
eq. 11 divides by n - k - q with k = p + q + 1 already the parameter count, i.e. it counts q twice;
`paper_dof=True` reproduces that denominator for comparison.

Everything here is vectorised numpy/scipy (float64) over leading batch axes: thousands of tests
run in one call, which is what the power / size tests and the pairwise graphs need.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

__all__ = ["pca_eigh", "granger_f_test", "pairwise_granger", "lag_matrix"]


def pca_eigh(x, k: int) -> dict:
  """Centred PCA of rows x (n, d) by eigh of the sample covariance (float64).

  Returns {"mean" (d,), "components" (d, k) columns = eigenvectors, "eigenvalues" (k,) descending
  (= sklearn's explained_variance_), "explained_variance_ratio" (k,), "scores" (n, k) = (x - mean) V_k}.
  """
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f"x has shape {x.shape}; expected (n >= 2, d) feature rows")
  n, d = x.shape
  if not 1 <= int(k) <= d:
    raise ValueError(f"k={k!r} is invalid for {d} features; expected 1 <= k <= {d}")
  mean = x.mean(0)
  xc = x - mean
  with jax.enable_x64(True):
    cov = jnp.asarray(xc.T @ xc / (n - 1))
    evals, evecs = jnp.linalg.eigh(cov)  # ascending
    evals, evecs = np.asarray(evals)[::-1], np.asarray(evecs)[:, ::-1]
  v = evecs[:, :k]
  sign = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(k)])
  v = v * np.where(sign == 0, 1.0, sign)
  total = float(np.clip(evals, 0, None).sum())
  lam = np.clip(evals[:k], 0, None)
  return {"mean": mean, "components": v, "eigenvalues": lam,
          "explained_variance_ratio": lam / total if total > 0 else np.zeros(k), "scores": xc @ v}


def lag_matrix(series, lags: int, start: int) -> np.ndarray:
  """(..., T) -> (..., T - start, lags): column i-1 holds series[t - i] for t = start .. T-1."""
  s = np.asarray(series, np.float64)
  t = s.shape[-1]
  return np.stack([s[..., start - i:t - i] for i in range(1, lags + 1)], axis=-1)


def _sse(design, target):
  """Residual sum of squares of batched least squares: design (..., n, m), target (..., n)."""
  gram = np.einsum("...ni,...nj->...ij", design, design)
  rhs = np.einsum("...ni,...n->...i", design, target)
  coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
  resid = target - np.einsum("...ni,...i->...n", design, coef)
  return np.einsum("...n,...n->...", resid, resid)


def granger_f_test(y, x, p: int = 2, q: int = 2, *, paper_dof: bool = False) -> dict:
  """F-test of "x Granger-causes y" for series y, x of shape (..., T) (batched over leading axes).

  Returns {"F", "p_value"} (...) and "df_num" = q, "df_den" = T' - p - q - 1 (T' - p - 2q - 1 with
  paper_dof), with T' = T - max(p, q) the number of equations.
  """
  y = np.asarray(y, np.float64)
  x = np.asarray(x, np.float64)
  if y.shape != x.shape or y.ndim < 1:
    raise ValueError(f"y has shape {y.shape} and x {x.shape}; expected equal shapes (..., T)")
  if int(p) != p or int(q) != q or p < 1 or q < 1:
    raise ValueError(f"p={p!r}, q={q!r} are invalid; expected positive integer lag orders")
  start = max(p, q)
  n_eq = y.shape[-1] - start
  df_den = n_eq - p - q - 1 - (q if paper_dof else 0)
  if df_den < 1:
    raise ValueError(f"series of length {y.shape[-1]} are too short for p={p}, q={q}; expected T > "
                     f"{start + p + q + 1 + (q if paper_dof else 0)}")
  target = y[..., start:]
  ones = np.ones(target.shape + (1,))
  restricted = np.concatenate([ones, lag_matrix(y, p, start)], axis=-1)
  unrestricted = np.concatenate([restricted, lag_matrix(x, q, start)], axis=-1)
  sse_r, sse_u = _sse(restricted, target), _sse(unrestricted, target)
  f = ((sse_r - sse_u) / q) / (sse_u / df_den)
  return {"F": f, "p_value": stats.f.sf(f, q, df_den), "df_num": int(q), "df_den": int(df_den)}


def pairwise_granger(series, p: int = 2, q: int = 2, alpha: float = 0.05, *, paper_dof: bool = False) -> dict:
  """All ordered pairs of the columns of `series` (T, k), treating the row index as time.

  Returns {"F" (k, k), "p_value" (k, k)} where entry [i, j] tests "component i Granger-causes
  component j" (NaN on the diagonal), "significant" (k, k) bool (p < alpha), "fraction_significant"
  over the k (k - 1) pairs, "df_num", "df_den".
  """
  z = np.asarray(series, np.float64)
  if z.ndim != 2 or z.shape[1] < 2:
    raise ValueError(f"series has shape {z.shape}; expected (T, k >= 2) columns of time series")
  if not 0.0 < alpha < 1.0:
    raise ValueError(f"alpha={alpha!r} is invalid; expected 0 < alpha < 1")
  k = z.shape[1]
  src, dst = np.nonzero(~np.eye(k, dtype=bool))
  res = granger_f_test(z[:, dst].T, z[:, src].T, p, q, paper_dof=paper_dof)
  f = np.full((k, k), np.nan)
  pv = np.full((k, k), np.nan)
  f[src, dst], pv[src, dst] = res["F"], res["p_value"]
  sig = np.zeros((k, k), bool)
  sig[src, dst] = res["p_value"] < alpha
  return {"F": f, "p_value": pv, "significant": sig, "fraction_significant": float(sig[src, dst].mean()),
          "df_num": res["df_num"], "df_den": res["df_den"]}
