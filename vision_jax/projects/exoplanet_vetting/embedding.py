"""2-D embeddings of the CNN features (Step 2) and their out-of-sample placement.

- `tsne`: scikit-learn's TSNE (Barnes-Hut, early exaggeration 12, PCA initialisation, learning rate
  "auto"), perplexity 50 and the iteration count of the config (the paper: 3000);
- `knn_place`: a test point's coordinates = the inverse-distance-weighted mean of the embeddings of
  its k nearest training points in feature space, so a held-out point never enters the t-SNE fit;
- `pca_2d`: the PCA comparison of the paper (Section 6.2), with the silhouette score of both.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors


def tsne(features: np.ndarray, *, perplexity: float = 50.0, max_iter: int = 3000, seed: int = 0,
         early_exaggeration: float = 12.0, n_threads: int = 1) -> np.ndarray:
  """(N, 2) float64 t-SNE embedding of features (N, D), its OpenMP gradient on n_threads threads."""
  from threadpoolctl import threadpool_limits
  n = features.shape[0]
  if n <= 3 * perplexity:
    raise ValueError(f"t-SNE on {n} points with perplexity {perplexity}; expected more than 3 x perplexity points")
  model = TSNE(n_components=2, perplexity=perplexity, early_exaggeration=early_exaggeration, learning_rate="auto",
               max_iter=max_iter, init="pca", random_state=seed, method="barnes_hut")
  with threadpool_limits(limits=n_threads):
    return model.fit_transform(np.asarray(features, np.float64))


def knn_place(train_features: np.ndarray, train_embedding: np.ndarray, query: np.ndarray, k: int = 10,
              eps: float = 1e-12) -> np.ndarray:
  """(M, 2): each query row placed at the inverse-distance-weighted mean embedding of its k nearest
  training rows (Euclidean distance in feature space, as t-SNE's input similarities)."""
  if k < 1 or k > len(train_features):
    raise ValueError(f"k={k}; expected 1 <= k <= {len(train_features)} training points")
  dist, idx = NearestNeighbors(n_neighbors=k).fit(train_features).kneighbors(query)
  w = 1.0 / (dist + eps)
  w /= w.sum(axis=1, keepdims=True)
  return np.einsum("mk,mkd->md", w, train_embedding[idx])


def pca_2d(train_features: np.ndarray, query: np.ndarray | None = None):
  """(train (N, 2), query (M, 2) or None, explained standard deviations (2,)) of a 2-component PCA
  fitted on the training rows only."""
  pca = PCA(n_components=2).fit(train_features)
  return (pca.transform(train_features), None if query is None else pca.transform(query),
          np.sqrt(pca.explained_variance_))


def silhouette(embedding: np.ndarray, labels: np.ndarray) -> float:
  """Mean silhouette coefficient of the labelled 2-D points (scikit-learn, Euclidean)."""
  return float(silhouette_score(embedding, labels))
