r"""k-means: the one implementation behind every vocabulary and codebook in classic.

Lloyd's algorithm (Lloyd 1982) minimises :math:`\sum_n \min_k \lVert x_n - c_k \rVert^2` by
alternating two steps: assign every point to its nearest centre, move every centre to the mean of
its points (a centre that loses all its points keeps its place).  The nearest centre is the argmax
of :math:`x^\top c_k - \lVert c_k \rVert^2 / 2` (the :math:`\lVert x \rVert^2` term does not change
it): one matrix product.  Centres start from k-means++ seeds (Arthur & Vassilvitskii 2007): each new
centre is a point drawn with probability proportional to its squared distance to the nearest
centre so far, :math:`D(x)^2`, which spreads the seeds over the data.

The functions run G independent problems side by side, an array (G, n, m): the visual-word
vocabulary (:class:`KMeans`) and the GMM's initialisation are one problem, product quantisation
(:mod:`classic.encoding.pq`) runs its sub-quantisers as a batch (``xp.matmul`` over G).  The
(G, rows, K) distance block is kept within a few MiB, where the memory-bound steps stay in the CPU's
cache (2x faster than at 64 MiB).  It is plain ``xp`` code: the same on the GPU.

References
----------
Lloyd, S. (1982). Least squares quantization in PCM. IEEE Trans. Information Theory 28(2).
https://doi.org/10.1109/TIT.1982.1056489

Arthur, D., Vassilvitskii, S. (2007). k-means++: the advantages of careful seeding. SODA.
https://dl.acm.org/doi/10.5555/1283383.1283494

Sivic, J., Zisserman, A. (2003). Video Google: a text retrieval approach to object matching in
videos. ICCV. https://doi.org/10.1109/ICCV.2003.1238663
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin

from ..backend import array_module
from ..validation import check_array, check_is_fitted

logger = logging.getLogger(__name__)

DISTANCE_BYTES = 4 * 2 ** 20      # bound on one (G, rows, K) float32 distance block (see the module docstring)


def seeding_draws(rng: np.random.Generator, n: int, k: int, problems: int = 1):
    """The random numbers of :func:`kmeans_plus_plus` for ``problems`` problems of n points: the first
    seeds' indices (G,) and the uniform draws (G, k - 1) of the others, all drawn at once, so that a
    problem's seeds do not depend on how problems are grouped."""
    return rng.integers(n, size=problems), rng.random((k - 1, problems)).T


def kmeans_plus_plus(X, k: int, first, uniform):
    """k-means++ seeds (G, k, m) of G problems ``X`` (G, n, m) from :func:`seeding_draws`.

    Seed 0 of problem g is point ``first[g]``; seed j > 0 is the point at which the normalised
    cumulative sum of :math:`D(x)^2` first exceeds ``uniform[g, j - 1]`` (the inverse of the
    distribution function), summed in float64, exact enough for millions of points.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[[0.0], [0.1], [10.0], [10.1]]], dtype=np.float32)
    >>> seeds = kmeans_plus_plus(X, 2, np.array([0]), np.array([[0.5]]))
    >>> sorted(round(float(c)) for c in seeds[0, :, 0])     # one seed in each group
    [0, 10]
    """
    xp = array_module(X)
    G, n, m = X.shape
    uniform = xp.asarray(uniform, dtype=xp.float64)
    rows = xp.arange(G)
    norms = (X * X).sum(axis=2)
    centres = xp.empty((G, k, m), dtype=X.dtype)
    chosen = xp.asarray(first, dtype=xp.int64)
    closest = None
    for j in range(k):
        if j:
            p = closest.astype(xp.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                cdf = xp.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
                cdf /= cdf[:, -1:]
            # the first point past the draw (searchsorted's "right" side); where all distances are zero
            # (fewer distinct points than k) the cdf is NaN and the first point is taken: any is a duplicate
            chosen = xp.argmax(cdf > uniform[:, j - 1:j], axis=1)
        centre = X[rows, chosen]                                                   # (G, m)
        # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2: one batched matrix-vector product per step
        distance = norms - 2 * xp.matmul(X, centre[:, :, None])[..., 0] + (centre * centre).sum(axis=1)[:, None]
        xp.maximum(distance, 0, out=distance)
        centres[:, j] = centre
        closest = distance if closest is None else xp.minimum(closest, distance)
    return centres


def nearest_centres(X, centres):
    """Index (G, n) of each point's nearest centre: argmax of x.c - ||c||^2 / 2, block by block.

    The centres are transposed into a contiguous array and each (G, rows, K) block is updated in
    place: a strided operand or a second temporary makes this memory-bound step 3-5x slower.
    """
    xp = array_module(X)
    G, n, _ = X.shape
    K = centres.shape[1]
    half_norms = 0.5 * (centres * centres).sum(axis=2)
    transposed = xp.ascontiguousarray(centres.transpose(0, 2, 1))
    rows = max(1, DISTANCE_BYTES // (4 * G * K))
    out = xp.empty((G, n), dtype=xp.int64)
    for a in range(0, n, rows):
        scores = xp.matmul(X[:, a:a + rows], transposed)
        scores -= half_norms[:, None, :]
        out[:, a:a + rows] = xp.argmax(scores, axis=2)
    return out


def k_smallest(values, k: int):
    """Column indices and values (n, k), (n, k) of each row's k smallest ``values`` (n, K), smallest first.

    ``values`` is overwritten (its chosen entries set to +inf).  k passes of ``argmin`` over the rows:
    for the few nearest codewords of soft assignment and LLC (k = 5 of K = 1,024) this is 5x faster
    than ``argpartition``, whose per-row selection does not vectorise.

    Examples
    --------
    >>> import numpy as np
    >>> index, smallest = k_smallest(np.array([[3.0, 1.0, 2.0, 0.5]]), 2)
    >>> index.tolist(), smallest.tolist()
    ([[3, 1]], [[0.5, 1.0]])
    """
    xp = array_module(values)
    n = values.shape[0]
    rows = xp.arange(n)
    index = xp.empty((n, k), dtype=xp.int64)
    smallest = xp.empty((n, k), dtype=values.dtype)
    for j in range(k):
        index[:, j] = column = xp.argmin(values, axis=1)
        smallest[:, j] = values[rows, column]
        values[rows, column] = xp.inf
    return index, smallest


def lloyd(X, centres, max_iter: int):
    """``max_iter`` Lloyd iterations of G problems ``X`` (G, n, m) from ``centres`` (G, K, m).

    Returns the centres (G, K, m) and each point's nearest one (G, n) after the last move.  The
    centre update is a weighted ``bincount`` per dimension (no (n, K) one-hot matrix).
    """
    xp = array_module(X)
    G, n, m = X.shape
    K = centres.shape[1]
    offsets = (xp.arange(G) * K)[:, None]
    columns = xp.ascontiguousarray(X.transpose(2, 0, 1)).reshape(m, G * n)     # each dimension contiguous
    for iteration in range(1, max_iter + 1):
        logger.debug("    k-means K = %d (%d problem(s)): Lloyd iteration %d / %d", K, G, iteration, max_iter)
        flat = (nearest_centres(X, centres) + offsets).ravel()
        counts = xp.bincount(flat, minlength=G * K).reshape(G, K)
        sums = xp.stack([xp.bincount(flat, weights=columns[t], minlength=G * K) for t in range(m)],
                        axis=1).reshape(G, K, m)
        occupied = counts > 0
        centres = xp.where(occupied[..., None], sums / xp.maximum(counts, 1)[..., None], centres).astype(X.dtype)
    return centres, nearest_centres(X, centres)


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means vocabulary of visual words: k-means++ seeds, then Lloyd iterations.

    Parameters
    ----------
    n_clusters : int, default=1024
        Number of centres K (visual words).
    max_iter : int, default=25
        Lloyd iterations (a fixed number: vocabularies are not run to convergence).
    max_points_per_centroid : int, default=256
        The fit uses a random subsample of at most this many points per centre (faiss's default):
        more barely moves the centres and costs proportionally more.
    seed : int, default=0
        Seed of the subsample and of the k-means++ draws.

    Attributes
    ----------
    cluster_centers_ : (K, D) array, on the input's backend
    labels_ : (n,) int array
        Nearest centre of each training point.
    n_iter_ : int
        Lloyd iterations run (``max_iter``).
    mean_distance_ : float
        Mean squared distance of the training points to their nearest centre (the length scale of
        soft assignment in :mod:`classic.encoding.bow`).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], dtype=np.float32)
    >>> km = KMeans(n_clusters=2, max_iter=5).fit(X)
    >>> km.predict(np.array([[0, 0.4], [9, 10]], dtype=np.float32)).tolist() == [km.labels_[0], km.labels_[2]]
    True
    """

    def __init__(self, n_clusters: int = 1024, *, max_iter: int = 25, max_points_per_centroid: int = 256,
                 seed: int = 0):
        self.n_clusters = n_clusters
        self.max_iter = max_iter
        self.max_points_per_centroid = max_points_per_centroid
        self.seed = seed

    def fit(self, X, y=None):
        """Fit the centres on the rows of ``X`` (n, D)."""
        X = check_array(self, X, reset=True, dtype=(np.float32,))
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"k-means with {self.n_clusters} centres needs at least {self.n_clusters} samples, "
                             f"got n_samples = {X.shape[0]}")
        xp = array_module(X)
        rng = np.random.default_rng(self.seed)
        limit = self.max_points_per_centroid * self.n_clusters
        subsample = X[xp.asarray(np.sort(rng.choice(len(X), limit, replace=False)))] if len(X) > limit else X
        seeds = kmeans_plus_plus(subsample[None], self.n_clusters, *seeding_draws(rng, len(subsample), self.n_clusters))
        centres, assigned = lloyd(subsample[None], seeds, self.max_iter)
        self.cluster_centers_ = centres[0]
        self.n_iter_ = self.max_iter
        # lloyd has assigned the points it fitted on: all of them unless they were subsampled
        self.labels_ = assigned[0] if subsample is X else nearest_centres(X[None], centres)[0]
        distances = ((X - self.cluster_centers_[self.labels_]) ** 2).sum(axis=1)
        self.mean_distance_ = float(distances.mean())
        return self

    def predict(self, X):
        """Index of each row's nearest centre."""
        check_is_fitted(self)
        X = check_array(self, X, reset=False, dtype=(np.float32, np.float64))
        return nearest_centres(X[None], self.cluster_centers_.astype(X.dtype)[None])[0]

    def transform(self, X):
        """Squared distances (n, K) of each row to every centre (scikit-learn's KMeans gives distances)."""
        check_is_fitted(self)
        X = check_array(self, X, reset=False, dtype=(np.float32, np.float64))
        return squared_distances(X, self.cluster_centers_.astype(X.dtype))

    def to_arrays(self) -> dict:
        """Learned state as plain arrays (for ``.npz`` files)."""
        xp = array_module(self.cluster_centers_)
        return {"cluster_centers": self.cluster_centers_, "mean_distance": xp.asarray(self.mean_distance_)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "KMeans":
        """A fitted model from :meth:`to_arrays`' arrays."""
        model = cls(n_clusters=arrays["cluster_centers"].shape[0])
        model.cluster_centers_ = arrays["cluster_centers"]
        model.mean_distance_ = float(arrays["mean_distance"])
        model.n_features_in_ = int(arrays["cluster_centers"].shape[1])
        return model


def squared_distances(X, centres):
    """(n, K) squared Euclidean distances of rows to centres, clipped at 0 (the expansion can round below it)."""
    xp = array_module(X)
    d = (X * X).sum(1)[:, None] - 2 * (X @ centres.T) + (centres * centres).sum(1)[None, :]
    return xp.maximum(d, 0)


