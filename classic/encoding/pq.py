r"""Product quantisation of encoded features (Jégou, Douze & Schmid, TPAMI 2011), as Sánchez & Perronnin
(CVPR 2011) used it to keep ImageNet's Fisher vectors on disk.

A vector :math:`x \in \mathbb{R}^D` is cut into :math:`M = D / m` sub-vectors :math:`x^{(j)}` of m
dimensions.  Each sub-vector has its own codebook :math:`\{c_{j1}, \dots, c_{jK}\}` of
:math:`K = 2^b` centroids, learnt by k-means on the training sub-vectors, and is stored as the index
of its nearest centroid:

.. math:: q_j(x) = \arg\min_k \lVert x^{(j)} - c_{jk} \rVert^2, \qquad
          \hat x = \big(c_{1, q_1(x)}, \dots, c_{M, q_M(x)}\big).

With m = 8 and b = 8 (the setting of Sánchez & Perronnin) one byte replaces eight float dimensions:
the store shrinks 16x from float16 (32x from float32), and the classifier is trained on the decoded
:math:`\hat x`, which costs one table look-up per sub-vector.  The codebooks themselves take
:math:`M K m` floats (for 327,680 dimensions, 335 MB): negligible beside a million images' codes.

Training runs the M k-means problems side by side with the one k-means of
:mod:`classic.encoding.kmeans` (k-means++ seeds, a fixed number of Lloyd iterations), a group of
sub-quantisers as one batch: their distances :math:`\lVert c_{jk} \rVert^2 - 2\, x^{(j)\top} c_{jk}`
are one batched matrix product.  This is the arithmetic of faiss's ``ProductQuantizer``; groups
sized to stay in the CPU's cache make it faster than faiss's fit at equal distortion
(``benchmarks/README.md``), and it is plain ``xp`` code, so it runs on the GPU too.

References
----------
Jégou, H., Douze, M., Schmid, C. (2011). Product quantization for nearest neighbor search. IEEE
TPAMI 33(1). https://doi.org/10.1109/TPAMI.2010.57

Sánchez, J., Perronnin, F. (2011). High-dimensional signature compression for large-scale image
classification. CVPR. https://doi.org/10.1109/CVPR.2011.5995504
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module
from ..validation import check_array, check_is_fitted
from .kmeans import DISTANCE_BYTES, kmeans_plus_plus, lloyd, nearest_centres, seeding_draws


class ProductQuantizer(TransformerMixin, BaseEstimator):
    r"""Product quantiser: ``fit`` learns one k-means codebook per sub-vector, ``transform`` gives codes.

    Parameters
    ----------
    subvector_dims : int, default=8
        Dimensions m per sub-vector (per one-byte code); must divide the vectors' dimension.
    bits : int, default=8
        :math:`2^{bits}` centroids per sub-quantiser (1 to 8: codes are bytes).
    max_iter : int, default=10
        Lloyd iterations of each sub-quantiser's k-means.
    seed : int, default=0

    Attributes
    ----------
    codebooks_ : (M, K, m) float32 array
    distortion_ : float
        The training data's relative squared error :math:`\sum \lVert x - \hat x \rVert^2 / \sum \lVert x \rVert^2`.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    >>> pq = ProductQuantizer(subvector_dims=4, bits=4).fit(X)
    >>> codes = pq.transform(X)
    >>> codes.shape, codes.dtype.name, pq.inverse_transform(codes).shape
    ((300, 4), 'uint8', (300, 16))
    >>> 0 < pq.distortion_ < 0.5
    True
    """

    def __init__(self, subvector_dims: int = 8, *, bits: int = 8, max_iter: int = 10, seed: int = 0):
        self.subvector_dims = subvector_dims
        self.bits = bits
        self.max_iter = max_iter
        self.seed = seed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []      # the output is uint8 codes, whatever the input
        return tags

    def _check(self, X, reset: bool):
        # float16 stays float16 (the PQ training vectors are held so); each group is cast to float32
        X = check_array(self, X, reset=reset, dtype=(np.float32, np.float16, np.float64))
        if not 1 <= self.bits <= 8:
            raise ValueError(f"bits must be between 1 and 8 (codes are stored as bytes), got {self.bits}")
        if X.shape[1] % self.subvector_dims:
            raise ValueError(f"{X.shape[1]} dimensions do not split into sub-vectors of {self.subvector_dims}")
        return X

    def _groups(self, n: int, n_subquantizers: int, per_point: int | None = None):
        """Ranges of sub-quantisers processed together, sized so that their distances (``per_point``
        bytes per training vector and sub-quantiser; default: a float32 distance per centroid) fit the bound."""
        size = max(1, DISTANCE_BYTES // (max(n, 1) * (per_point or 4 * 2 ** self.bits)))
        return [range(j, min(j + size, n_subquantizers)) for j in range(0, n_subquantizers, size)]

    def _subvectors(self, X, group: range):
        """Sub-vectors of the sub-quantisers in ``group`` as a contiguous float32 (G, n, m) array."""
        xp, m = array_module(X), self.subvector_dims
        columns = X[:, group.start * m:group.stop * m].astype(xp.float32)
        return xp.ascontiguousarray(columns.reshape(X.shape[0], len(group), m).transpose(1, 0, 2))

    def fit(self, X, y=None):
        """Fit the codebooks on the rows of ``X`` (n, D); n must be at least :math:`2^{bits}`."""
        X = self._check(X, reset=True)
        xp = array_module(X)
        n, K, m = X.shape[0], 2 ** self.bits, self.subvector_dims
        if n < K:
            raise ValueError(f"product quantisation with {K} centroids needs at least {K} training vectors, "
                             f"got n_samples = {n}")
        M = X.shape[1] // m
        # the seeding's random numbers are drawn for all sub-quantisers at once, so that the result does
        # not depend on how they are grouped
        first, uniform = seeding_draws(np.random.default_rng(self.seed), n, K, M)
        codebooks = xp.empty((M, K, m), dtype=xp.float32)
        error, energy = 0.0, 0.0
        # the seeding's K sequential steps work on (G, n) arrays, far smaller than Lloyd's (G, n, K)
        # distances: they run on larger groups, so that per-step call overhead is paid once per group
        for outer in self._groups(n, M, per_point=4 * m + 24):
            seeds = kmeans_plus_plus(self._subvectors(X, outer), K, first[outer.start:outer.stop],
                                     uniform[outer.start:outer.stop])
            for group in self._groups(n, len(outer)):
                group = range(outer.start + group.start, outer.start + group.stop)
                sub = self._subvectors(X, group)
                centroids, codes = lloyd(sub, seeds[group.start - outer.start:group.stop - outer.start], self.max_iter)
                codebooks[group.start:group.stop] = centroids
                residual = sub - xp.take_along_axis(centroids, codes[..., None], axis=1)
                error += float((residual * residual).sum())
                energy += float((sub * sub).sum())
        self.codebooks_ = codebooks
        self.n_iter_ = self.max_iter
        self.distortion_ = error / max(energy, 1e-30)
        return self

    def transform(self, X):
        """uint8 codes (n, M): the nearest centroid of every sub-vector."""
        check_is_fitted(self)
        X = self._check(X, reset=False)
        xp = array_module(X)
        codebooks = xp.asarray(self.codebooks_)
        codes = xp.empty((X.shape[0], codebooks.shape[0]), dtype=xp.uint8)
        for group in self._groups(X.shape[0], codebooks.shape[0]):
            codes[:, group.start:group.stop] = nearest_centres(self._subvectors(X, group),
                                                               codebooks[group.start:group.stop]).T
        return codes

    def inverse_transform(self, codes):
        """Decoded float32 vectors (n, M m): each code replaced by its centroid."""
        check_is_fitted(self)
        xp = array_module(codes)
        codebooks = xp.asarray(self.codebooks_)
        M = codebooks.shape[0]
        if codes.ndim != 2 or codes.shape[1] != M:
            raise ValueError(f"codes must be (n, {M}), got {codes.shape}")
        return codebooks[xp.arange(M)[None, :], codes.astype(xp.int64)].reshape(codes.shape[0], -1)

    @property
    def compression_ratio(self) -> float:
        """float32 bytes per vector over code bytes per vector."""
        return 4.0 * self.subvector_dims

    def to_arrays(self) -> dict:
        """Learned state as plain arrays (for ``.npz`` files)."""
        xp = array_module(self.codebooks_)
        return {"codebooks": self.codebooks_, "distortion": xp.asarray(self.distortion_)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "ProductQuantizer":
        """A fitted quantiser from :meth:`to_arrays`' arrays."""
        codebooks = arrays["codebooks"]
        model = cls(subvector_dims=codebooks.shape[2], bits=int(codebooks.shape[1]).bit_length() - 1)
        model.codebooks_ = codebooks
        model.distortion_ = float(arrays["distortion"])
        model.n_features_in_ = int(codebooks.shape[0] * codebooks.shape[2])
        return model
