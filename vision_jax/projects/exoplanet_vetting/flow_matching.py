"""The conditional flow-matching classifier as the authors' code runs it (ForestDiffusion, flow type).

Training (ForestDiffusionModel(X, label_y=y, diffusion_type="flow", n_t, duplicate_K, ...)):
  - X is min-max scaled to [-1, 1] per column (over all training rows);
  - noise levels t_i = linspace(eps, 1, n_t), eps = 1e-3;
  - for each class c and level t_i one XGBRegressor (reg:squarederror, eta 0.3, reg_lambda 0, one
    multi-output model for all columns) is fitted on x_t = t x1 + (1 - t) x0 -> x1 - x0, where x1
    are the class-c rows repeated duplicate_K times and x0 ~ N(0, I) (one draw per class, shared by
    the levels, as ForestDiffusion's n_batch = 0 path; its data iterator with n_batch batches per
    "epoch" draws the same number of noise rows, so n_batch only changes memory use).
Classification (predict / predict_proba: the zero-shot diffusion classifier of Li et al. 2023, not
a final XGBoost as the paper's text says): for each class c, n_z noise draws z_k and t_j = j / n_t,
j = 1 .. n_t - 1, x_t = t x + (1 - t) z, x0_hat = x - v_{c, i(t)}(x_t) with i(t) = round(t (n_t,train - 1)),
err_c = mean over (k, j) of ||x0_hat - z||^2; the prediction is argmin_c err_c and the probabilities
softmax(-err). Noise z for (k, j) is np.random.default_rng(10000 k + j).normal, as in the package.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import softmax
from sklearn.preprocessing import MinMaxScaler


def interpolate(x1: np.ndarray, x0: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
  """(x_t, target): x_t = t x1 + (1 - t) x0 and the flow-matching velocity x1 - x0, both (N, D)."""
  return t * x1 + (1.0 - t) * x0, x1 - x0


def level_index(t: float, n_t_train: int) -> int:
  """Index of the regressor the package uses at time t: round(t (n_t_train - 1))."""
  return int(round(t * (n_t_train - 1)))


@dataclasses.dataclass
class ForestFlowClassifier:
  """Class-conditional rectified flow with one XGBoost regressor per (class, noise level).

  n_t: noise levels trained; duplicate_K: noise copies per row; n_estimators / max_depth / eta /
  reg_lambda: the XGBoost fields; n_t_predict / n_z: levels and noise draws of the zero-shot
  classifier; n_jobs: XGBoost threads."""
  n_t: int = 50
  duplicate_K: int = 30
  n_estimators: int = 100
  max_depth: int = 2
  eta: float = 0.3
  reg_lambda: float = 0.0
  eps: float = 1e-3
  n_t_predict: int = 25
  n_z: int = 8
  seed: int = 666
  n_jobs: int = 1

  def __post_init__(self):
    for name in ("n_t", "duplicate_K", "n_estimators", "max_depth", "n_z"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"{name}={getattr(self, name)!r}; expected an integer >= 1")
    if self.n_t < 2 or self.n_t_predict < 2:
      raise ValueError(f"n_t={self.n_t}, n_t_predict={self.n_t_predict}; expected both >= 2")

  def _regressor(self):
    import xgboost as xgb
    return xgb.XGBRegressor(n_estimators=self.n_estimators, objective="reg:squarederror", learning_rate=self.eta,
                            max_depth=self.max_depth, reg_lambda=self.reg_lambda, subsample=1.0,
                            tree_method="hist", random_state=self.seed, n_jobs=self.n_jobs)

  def fit(self, x: np.ndarray, y: np.ndarray, progress: bool = False) -> "ForestFlowClassifier":
    """Fits the n_classes x n_t regressors on rows x (N, D) with integer labels y (N,)."""
    from vision_jax.progress import progress_bar
    x, y = np.asarray(x, np.float64), np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
      raise ValueError(f"x has shape {x.shape} and y {y.shape}; expected (N, D) and (N,)")
    self.scaler_ = MinMaxScaler(feature_range=(-1, 1)).fit(x)
    xs = self.scaler_.transform(x)
    self.classes_ = np.unique(y)
    levels = np.linspace(self.eps, 1.0, self.n_t)
    rng = np.random.default_rng(self.seed)
    self.regressors_ = []
    jobs = [(c, i) for c in range(len(self.classes_)) for i in range(self.n_t)]
    per_class = {}
    for c, label in enumerate(self.classes_):
      x1 = np.tile(xs[y == label], (self.duplicate_K, 1))
      per_class[c] = (x1, rng.normal(size=x1.shape))
    fitted = {}
    for c, i in progress_bar(jobs, desc="flow-matching XGBoost", unit="fit", disable=not progress):
      x1, x0 = per_class[c]
      xt, target = interpolate(x1, x0, levels[i])
      fitted[(c, i)] = self._regressor().fit(xt, target)
    self.regressors_ = [[fitted[(c, i)] for i in range(self.n_t)] for c in range(len(self.classes_))]
    return self

  def velocity(self, c: int, t: float, xt: np.ndarray) -> np.ndarray:
    """v_{c, i(t)}(x_t), (M, D): the regressor of class index c at the level nearest t."""
    out = self.regressors_[c][level_index(t, self.n_t)].predict(xt)
    return np.asarray(out, np.float64).reshape(xt.shape)

  def denoising_errors(self, x: np.ndarray) -> np.ndarray:
    """(N, n_classes) mean squared denoising error per class of rows x (already scaled)."""
    n_t, h = self.n_t_predict, 1.0 / self.n_t_predict
    errs = np.zeros((x.shape[0], len(self.classes_)))
    for j in range(n_t - 1):
      t = (j + 1) * h
      zs = np.stack([np.random.default_rng(10000 * k + j).normal(size=x.shape) for k in range(self.n_z)])
      xt = (t * x[None] + (1.0 - t) * zs).reshape(-1, x.shape[1])
      for c in range(len(self.classes_)):
        x0_hat = x[None] - self.velocity(c, t, xt).reshape(zs.shape)
        errs[:, c] += np.sum((x0_hat - zs) ** 2, axis=-1).sum(0)
    return errs / (self.n_z * (n_t - 1))

  def predict_proba(self, x: np.ndarray) -> np.ndarray:
    """(N, n_classes) softmax(-err) of the raw rows x (N, D)."""
    return softmax(-self.denoising_errors(self.scaler_.transform(np.asarray(x, np.float64))), axis=1)

  def predict(self, x: np.ndarray) -> np.ndarray:
    """(N,) the class with the smallest denoising error."""
    return self.classes_[np.argmin(self.denoising_errors(self.scaler_.transform(np.asarray(x, np.float64))), 1)]
