"""The paper's causal analysis (seed 000 eqs. 5-12), with the shuffled-order control and our ablation.

1. PCA (k components) of the penultimate (pooled) features of the training split, centred, by eigh.
2. n rows sampled from the validation split (RandomSample, eq. 5) and projected on the components.
3. Pairwise Granger F-tests (p = q lags, level alpha) between components, with the sample index as
   "time", twice: rows ordered by class (as a folder-by-folder image datastore lists them) and rows
   shuffled. Repeated over `draws` independent samples; the graphs of the first draw are drawn.
4. Ablation (ours): a linear classifier (logistic regression, C chosen on the validation split) on
   the PCA scores of the training split, using all k components vs only the components that take part
   in a significant link of the first draw's graph; accuracy on the test split.
"""

from __future__ import annotations

import numpy as np

from vision_jax.metrics import granger

C_GRID = (0.01, 0.1, 1.0, 10.0)


def _orders(labels: np.ndarray, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
  """(class-ordered, shuffled) index arrays of one random sample of n rows."""
  sample = rng.choice(len(labels), size=n, replace=False)
  by_class = sample[np.argsort(labels[sample], kind="stable")]
  return by_class, rng.permutation(sample)


def involved(significant: np.ndarray) -> list[int]:
  """Components with at least one significant incoming or outgoing link."""
  return sorted(int(i) for i in np.flatnonzero(significant.any(0) | significant.any(1)))


def causal_analysis(train_features, val_features, val_labels, *, k: int, n: int, p: int, q: int, alpha: float,
                    draws: int, seed: int) -> dict:
  """PCA on train features, Granger graphs on `draws` samples of n validation rows (both orders)."""
  if n > len(val_labels):
    raise ValueError(f"causal.n={n} exceeds the {len(val_labels)} validation images; expected n <= {len(val_labels)}")
  pca = granger.pca_eigh(train_features, k)
  val_scores = (np.asarray(val_features, np.float64) - pca["mean"]) @ pca["components"]
  rng = np.random.default_rng([seed, 1000])
  per_draw, first = [], None
  for d in range(int(draws)):
    by_class, shuffled = _orders(np.asarray(val_labels), rng, n)
    g_class = granger.pairwise_granger(val_scores[by_class], p, q, alpha)
    g_shuf = granger.pairwise_granger(val_scores[shuffled], p, q, alpha)
    g_paper = granger.pairwise_granger(val_scores[by_class], p, q, alpha, paper_dof=True)
    per_draw.append({"class_order": g_class["fraction_significant"], "shuffled": g_shuf["fraction_significant"],
                     "class_order_paper_dof": g_paper["fraction_significant"]})
    if first is None:
      first = {"class_order": g_class, "shuffled": g_shuf, "by_class_index": by_class, "shuffled_index": shuffled}
  fractions = {key: np.array([r[key] for r in per_draw]) for key in per_draw[0]}
  return {"pca": pca, "val_scores": val_scores, "fractions": fractions, "first": first,
          "df": (first["class_order"]["df_num"], first["class_order"]["df_den"]),
          "explained_variance_ratio": pca["explained_variance_ratio"]}


def linear_head_ablation(pca: dict, train_features, train_labels, val_features, val_labels, test_features,
                         test_labels, subsets: dict[str, list[int]], seed: int) -> list[dict]:
  """Logistic regression on PCA scores restricted to each subset of components (C by validation accuracy)."""
  from sklearn.linear_model import LogisticRegression
  proj = lambda f: (np.asarray(f, np.float64) - pca["mean"]) @ pca["components"]
  ztr, zva, zte = proj(train_features), proj(val_features), proj(test_features)
  sd = ztr.std(0) + 1e-12
  ztr, zva, zte = ztr / sd, zva / sd, zte / sd
  rows = []
  for name, comps in subsets.items():
    if not comps:
      majority = np.bincount(train_labels).argmax()
      rows.append({"components": name, "count": 0, "C": None, "val_accuracy": float(np.mean(val_labels == majority)),
                   "test_accuracy": float(np.mean(test_labels == majority))})
      continue
    best = None
    for c in C_GRID:
      clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(ztr[:, comps], train_labels)
      acc = float(clf.score(zva[:, comps], val_labels))
      if best is None or acc > best[0]:
        best = (acc, c, clf)
    acc, c, clf = best
    rows.append({"components": name, "count": len(comps), "C": c, "val_accuracy": acc,
                 "test_accuracy": float(clf.score(zte[:, comps], test_labels))})
  return rows


def draw_graphs(path: str, first: dict, k: int, alpha: float) -> None:
  """Two directed graphs (class order, shuffled) of the significant links of the first draw."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from matplotlib.patches import FancyArrowPatch
  angle = np.pi / 2 - 2 * np.pi * np.arange(k) / k
  pos = np.stack([np.cos(angle), np.sin(angle)], 1)
  fig, axes = plt.subplots(1, 2, figsize=(10, 5))
  for ax, key, title in ((axes[0], "class_order", "samples ordered by class (paper)"),
                         (axes[1], "shuffled", "samples shuffled (control)")):
    g = first[key]
    sig = g["significant"]
    for i, j in zip(*np.nonzero(sig)):
      ax.add_patch(FancyArrowPatch(pos[i], pos[j], arrowstyle="-|>", mutation_scale=10, color="tab:red", alpha=0.6,
                                   shrinkA=12, shrinkB=12, connectionstyle="arc3,rad=0.08", lw=0.8))
    ax.scatter(pos[:, 0], pos[:, 1], s=600, c="white", edgecolors="black", zorder=3)
    for i in range(k):
      ax.text(*pos[i], f"PC{i + 1}", ha="center", va="center", fontsize=8, zorder=4)
    ax.set_title(f"{title}\n{int(sig.sum())} of {k * (k - 1)} links with p < {alpha:g} "
                 f"({g['fraction_significant']:.1%})", fontsize=9)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
  fig.suptitle("Pairwise Granger tests between PCA components of the pooled features (first draw)", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def draw_series(path: str, scores: np.ndarray, first: dict) -> None:
  """PC1 and PC2 against the sample index in both orders: the class blocks are what the tests see."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
  for ax, key, title in ((axes[0], "by_class_index", "ordered by class"), (axes[1], "shuffled_index", "shuffled")):
    idx = first[key]
    for c in (0, 1):
      ax.plot(scores[idx, c], lw=0.7, label=f"PC{c + 1}")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
  axes[1].set_xlabel("sample index (the 'time' of the Granger test)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
