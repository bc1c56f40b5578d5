r"""k-means vocabulary of visual words (Sivic & Zisserman 2003; Csurka et al. 2004), fitted by faiss.

Lloyd's algorithm minimises :math:`\sum_n \min_k \lVert x_n - c_k \rVert^2`.  The fit runs on the CPU
with faiss (Johnson, Douze & Jégou 2019), which is many times faster than a numpy loop at K in the
thousands, on at most ``max_points_per_centroid`` points per centre (a random subsample, as faiss
does by default), starting from k-means++ seeds (Arthur & Vassilvitskii 2007): faiss's own random
initialisation leaves centres stranded between clusters.
Assigning descriptors to words is plain array code (``xp``), so it runs on the GPU as well:
:math:`\arg\min_k \lVert c_k \rVert^2 - 2 x^\top c_k` (the :math:`\lVert x \rVert^2` term does not
change the argmin), a matrix product.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from ..backend import array_module, to_numpy

_CHUNK = 32768      # descriptors per distance block: bounds the (chunk, K) matrix


def kmeans_plus_plus(X, k: int, rng: np.random.Generator):
    """k-means++ seeding: each new centre drawn with probability proportional to D(x)^2.

    The draw is ``Generator.choice(n, p=D^2 / sum D^2)`` written out (inverse CDF of one uniform
    number), without choice's validation passes, and the points' squared norms are computed once:
    the same centres as ``choice`` would pick, several times faster at K in the thousands.
    """
    xp = array_module(X)
    n = X.shape[0]
    norms = (X * X).sum(1)
    centres = xp.empty((k, X.shape[1]), dtype=X.dtype)

    def distances_to(index):
        return xp.maximum(norms - 2 * (X @ X[index:index + 1].T)[:, 0] + norms[index], 0)

    first = int(rng.integers(n))
    centres[0] = X[first]
    closest = distances_to(first)
    for i in range(1, k):
        p = np.asarray(to_numpy(closest), dtype=np.float64)
        total = p.sum()
        if total > 0:
            cdf = np.cumsum(p / total)
            index = min(int(np.searchsorted(cdf / cdf[-1], rng.random(), side="right")), n - 1)
        else:
            index = int(rng.integers(n))
        centres[i] = X[index]
        closest = xp.minimum(closest, distances_to(index))
    return centres


def squared_distances(X, centres):
    """(n, K) squared Euclidean distances, clipped at 0 (the expansion can round below it)."""
    xp = array_module(X)
    d = (X * X).sum(1)[:, None] - 2 * (X @ centres.T) + (centres * centres).sum(1)[None, :]
    return xp.maximum(d, 0)


class KMeans(BaseEstimator):
    """k-means with ``n_clusters`` centres: ``cluster_centers_`` (K, D), and ``mean_distance_``, the mean
    squared distance of the training points to their nearest centre (the natural length scale of
    soft assignment)."""

    def __init__(self, n_clusters: int = 1024, n_iter: int = 25, max_points_per_centroid: int = 256,
                 seed: int = 0):
        self.n_clusters = n_clusters
        self.n_iter = n_iter
        self.max_points_per_centroid = max_points_per_centroid
        self.seed = seed

    def fit(self, X, y=None):
        import faiss
        xp = array_module(X)
        data = np.ascontiguousarray(to_numpy(X), dtype=np.float32)
        if len(data) < self.n_clusters:
            raise ValueError(f"k-means needs at least {self.n_clusters} points, got {len(data)}")
        rng = np.random.default_rng(self.seed)
        limit = self.max_points_per_centroid * self.n_clusters
        subsample = data[np.sort(rng.choice(len(data), limit, replace=False))] if len(data) > limit else data
        model = faiss.Kmeans(data.shape[1], self.n_clusters, niter=self.n_iter, seed=self.seed,
                             max_points_per_centroid=self.max_points_per_centroid, verbose=False)
        model.train(subsample, init_centroids=kmeans_plus_plus(subsample, self.n_clusters, rng))
        self.cluster_centers_ = xp.asarray(model.centroids)
        distances, _ = model.index.search(data, 1)
        self.mean_distance_ = float(np.maximum(distances, 0).mean())
        return self

    def predict(self, X):
        """Index of each row's nearest centre."""
        xp = array_module(X)
        if X.shape[0] == 0:
            return xp.zeros(0, dtype=xp.int64)
        c = self.cluster_centers_.astype(X.dtype)
        half_norms = 0.5 * (c * c).sum(1)
        return xp.concatenate([xp.argmin(half_norms[None, :] - X[i:i + _CHUNK] @ c.T, axis=1)
                               for i in range(0, X.shape[0], _CHUNK)])

    def to_arrays(self) -> dict:
        xp = array_module(self.cluster_centers_)
        return {"cluster_centers": self.cluster_centers_, "mean_distance": xp.asarray(self.mean_distance_)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "KMeans":
        model = cls(n_clusters=arrays["cluster_centers"].shape[0])
        model.cluster_centers_ = arrays["cluster_centers"]
        model.mean_distance_ = float(arrays["mean_distance"])
        return model
