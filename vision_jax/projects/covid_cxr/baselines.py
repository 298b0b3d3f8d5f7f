"""Baselines measured in the same run on the same input arrays as the full model:

- majority class: always "non_covid" (accuracy = 1 - prevalence, MCC 0);
- texture logistic regression: scikit-learn LogisticRegression (class_weight="balanced") on per-image
  features of the same four channels inside the lung mask: a 16-bin histogram of each channel plus the
  mean of each channel in the upper / lower half of the lungs and in the lateral / medial halves
  (72 features). C is chosen on the validation split (best MCC at 0.5), never on the test split.
"""

from __future__ import annotations

import numpy as np

from vision_jax.projects.covid_cxr import evaluation

C_GRID = (0.01, 0.1, 1.0, 10.0)
BINS = 16


def lung_features(images, masks) -> np.ndarray:
  """(N, H, W, C) channels in [0, 1] and lung masks (N, H, W) -> (N, C * (BINS + 4)) features."""
  x, m = np.asarray(images, np.float64), np.asarray(masks, bool)
  n, h, w, c = x.shape
  rows = np.arange(h)[:, None] * np.ones((1, w))
  cols = np.ones((h, 1)) * np.arange(w)[None, :]
  feats = []
  for i in range(n):
    mi = m[i] if m[i].any() else np.ones((h, w), bool)
    ys, xs = rows[mi], cols[mi]
    upper, lateral = ys < np.median(ys), np.abs(xs - (w - 1) / 2) > np.median(np.abs(xs - (w - 1) / 2))
    f = []
    for k in range(c):
      v = x[i, ..., k][mi]
      hist = np.histogram(v, bins=BINS, range=(0.0, 1.0))[0] / max(v.size, 1)
      parts = [v[upper].mean() if upper.any() else 0.0, v[~upper].mean() if (~upper).any() else 0.0,
               v[lateral].mean() if lateral.any() else 0.0, v[~lateral].mean() if (~lateral).any() else 0.0]
      f.extend(hist.tolist() + parts)
    feats.append(f)
  return np.asarray(feats)


def texture_logistic(train, val, test, seed: int = 0) -> dict:
  """Fits the texture logistic regression (C chosen on val MCC at 0.5); its test metrics at 0.5 and
  the test p(COVID)."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  ftr, fva, fte = (lung_features(d.images, d.masks) for d in (train, val, test))
  best = None
  for c in C_GRID:
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000,
                                                             random_state=seed))
    clf.fit(ftr, train.labels)
    mcc = evaluation.binary_metrics(val.labels, clf.predict_proba(fva)[:, 1], 0.5)["mcc"]
    if best is None or mcc > best[0]:
      best = (mcc, c, clf)
  probs = best[2].predict_proba(fte)[:, 1]
  return {"C": best[1], "val_mcc": best[0], "at_default": evaluation.binary_metrics(test.labels, probs, 0.5),
          "test_probs": probs.tolist()}


def majority(test) -> dict:
  """Always predicts non_covid (p = 0): accuracy 1 - prevalence, MCC 0, AUC 0.5."""
  probs = np.zeros(len(test))
  m = evaluation.binary_metrics(test.labels, probs, 0.5)
  return {"at_default": m}
