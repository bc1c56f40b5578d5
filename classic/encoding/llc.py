r"""Locality-constrained linear coding (LLC; Wang, Yang, Yu, Lv, Huang & Gong, CVPR 2010).

Each descriptor x is coded on its k nearest codewords :math:`B_x = [b_1 \dots b_k]` of a k-means
vocabulary (k x D) by the affine combination that reconstructs it best,

.. math::  \min_c \lVert x - B_x^\top c \rVert^2 \quad \text{s.t.} \quad \mathbf 1^\top c = 1,

whose solution (the paper's approximated LLC) is analytical: with the local covariance of the
shifted codewords :math:`C = (B_x - \mathbf 1 x^\top)(B_x - \mathbf 1 x^\top)^\top` (k x k),
regularised as :math:`C + \lambda\,\operatorname{tr}(C)\, I` (k may exceed the local dimension, or
x lie on a codeword),

.. math::  \tilde c = (C + \lambda \operatorname{tr}(C) I)^{-1} \mathbf 1, \qquad c = \tilde c / \mathbf 1^\top \tilde c .

The code is K-dimensional with these k numbers at the nearest codewords and 0 elsewhere (the
locality that gives LLC its name; coefficients may be negative).  An image region is described by
**max pooling**: for codeword j the largest code over the region's descriptors, 0 included for the
descriptors that do not use j.  The regions of a spatial pyramid (the paper: 1x1 + 2x2 + 4x4) are
stacked and the whole vector L2-normalised.  K numbers per region.

The codes are solved in batches of descriptors (a batched k x k solve in float64 on the array
backend); the pooling is one scatter-max per batch of images.

References
----------
Wang, J., Yang, J., Yu, K., Lv, F., Huang, T., Gong, Y. (2010). Locality-constrained linear coding
for image classification. CVPR. https://doi.org/10.1109/CVPR.2010.5540018
"""
from __future__ import annotations

from ..backend import array_module, scatter_max
from ..normalise import l2_normalise
from .base import KMeansEncoder
from .kmeans import KMeans, k_smallest
from .pyramid import n_regions, region_indices

# rows solved at once on the CPU: (4,096, k, D) float64 shifted codewords, 13 MiB for k = 5, D = 80
_CPU_BLOCK_ROWS = 4096


def llc_codes(X, centres, n_nearest: int = 5, lam: float = 1e-4):
    """LLC codes of descriptors X (n, D): the indices (n, k) of each one's k nearest codewords and its
    k coefficients (n, k), summing to 1 (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> centres = np.array([[0, 0], [1, 0], [0, 1], [5, 5]], dtype=np.float32)
    >>> index, codes = llc_codes(np.array([[0.25, 0.25]], np.float32), centres, n_nearest=3, lam=0)
    >>> sorted(index[0].tolist()), np.round(codes[0][np.argsort(index[0])], 3).tolist()
    ([0, 1, 2], [0.5, 0.25, 0.25])
    """
    xp = array_module(X)
    k = min(n_nearest, centres.shape[0])
    n = X.shape[0]
    centres = centres.astype(X.dtype)
    index = xp.zeros((n, k), dtype=xp.int64)
    codes = xp.zeros((n, k), dtype=X.dtype)
    block = _CPU_BLOCK_ROWS if xp.__name__ == "numpy" else 65536
    half_norms = 0.5 * (centres * centres).sum(1)[None, :]
    ones = xp.ones((k, 1), dtype=xp.float64)
    eye = xp.eye(k, dtype=xp.float64)
    for lo in range(0, n, block):
        x = X[lo:lo + block]
        # (|x - b|^2 - |x|^2) / 2 orders the codewords by distance to x
        nearest, _ = k_smallest(half_norms - x @ centres.T, k)
        shifted = centres[nearest].astype(xp.float64) - x[:, None, :].astype(xp.float64)    # (b, k, D)
        covariance = shifted @ shifted.transpose(0, 2, 1)                                  # (b, k, k)
        trace = xp.trace(covariance, axis1=1, axis2=2)
        # the regularisation of the paper; the tiny constant keeps x == its only codeword solvable
        covariance += (lam * trace + 1e-12)[:, None, None] * eye
        c = xp.linalg.solve(covariance, xp.broadcast_to(ones, (x.shape[0], k, 1)))[..., 0]
        index[lo:lo + block] = nearest
        codes[lo:lo + block] = (c / c.sum(axis=1, keepdims=True)).astype(X.dtype)
    return index, codes


def llc_vectors(descriptors, positions, kmeans: KMeans, levels=((1, 1), (2, 2), (4, 4)), n_nearest: int = 5,
                lam: float = 1e-4):
    """LLC vectors of a batch of images, max-pooled over the pyramid's regions and L2-normalised:
    (n_images, n_regions * K).

    Parameters
    ----------
    descriptors, positions, levels
        As :func:`classic.encoding.fisher.fisher_vectors`.
    kmeans : KMeans
        The fitted vocabulary.
    n_nearest, lam
        As :func:`llc_codes`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((200, 3)).astype(np.float32)
    >>> km = KMeans(n_clusters=8).fit(X)
    >>> v = llc_vectors([X[:40]], [np.full((40, 2), 0.5)], km, levels=((1, 1), (2, 2)))
    >>> v.shape, round(float(np.linalg.norm(v)), 4)        # 5 regions x 8 codewords
    ((1, 40), 1.0)
    """
    xp = array_module(descriptors[0])
    centres = kmeans.cluster_centers_
    K, R, n_images = centres.shape[0], n_regions(levels), len(descriptors)
    dtype = descriptors[0].dtype
    largest = xp.full(n_images * R * K, -xp.inf, dtype=dtype)
    uses = xp.zeros(n_images * R * K, dtype=xp.int64)      # descriptors of the region that use the codeword
    sizes = xp.zeros(n_images * R, dtype=xp.int64)         # descriptors of the region
    for i, (X, P) in enumerate(zip(descriptors, positions)):
        if X.shape[0] == 0:
            continue
        index, codes = llc_codes(X, centres, n_nearest, lam)
        regions = i * R + region_indices(P, levels)                                  # (N, levels)
        keys = (regions[:, :, None] * K + index[:, None, :]).ravel()                 # (N, levels, k)
        scatter_max(largest, keys, xp.broadcast_to(codes[:, None, :], (X.shape[0], regions.shape[1], codes.shape[1])).ravel())
        uses += xp.bincount(keys, minlength=len(uses))
        sizes += xp.bincount(regions.ravel(), minlength=len(sizes))
    largest, uses = largest.reshape(n_images, R, K), uses.reshape(n_images, R, K)
    sizes = sizes.reshape(n_images, R, 1)
    # a descriptor that does not use codeword j codes it 0: the max includes 0 unless all of them use j
    pooled = xp.where(uses < sizes, xp.maximum(largest, 0), largest)
    pooled = xp.where(sizes > 0, pooled, 0).astype(dtype)
    return l2_normalise(xp.ascontiguousarray(pooled.reshape(n_images, R * K)))


class LLCEncoder(KMeansEncoder):
    """PCA (optional) + k-means vocabulary + LLC codes max-pooled over a spatial pyramid, as one estimator.

    Parameters
    ----------
    n_components : int, default=1024
        Codewords K of the k-means vocabulary.
    n_nearest : int, default=5
        Codewords k per descriptor (the paper's 5).
    lam : float, default=1e-4
        Regularisation of the local covariance, relative to its trace.
    pca_dims, whiten, sample_size, drop_empty, seed
        As :class:`~classic.encoding.FisherVectorEncoder`.
    pyramid : default=((1, 1), (2, 2), (4, 4))
        The paper's three levels.
    kmeans_max_iter : int, default=25

    Examples
    --------
    >>> import numpy as np
    >>> from classic import DenseSIFT
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(3)]
    >>> features = DenseSIFT(bin_sizes=(6,), step=6).transform(images)
    >>> encoder = LLCEncoder(n_components=16, pca_dims=8, pyramid=((1, 1), (2, 2))).fit(features)
    >>> encoder.transform(features).shape                # 5 regions x 16 words
    (3, 80)
    """

    def __init__(self, n_components: int = 1024, *, n_nearest: int = 5, lam: float = 1e-4,
                 pca_dims: int | None = 80, whiten: bool = False, pyramid=((1, 1), (2, 2), (4, 4)),
                 sample_size: int = 200_000, kmeans_max_iter: int = 25, drop_empty: bool = True, seed: int = 0):
        self.n_components = n_components
        self.n_nearest = n_nearest
        self.lam = lam
        self.pca_dims = pca_dims
        self.whiten = whiten
        self.pyramid = pyramid
        self.sample_size = sample_size
        self.kmeans_max_iter = kmeans_max_iter
        self.drop_empty = drop_empty
        self.seed = seed

    def _encode_batch(self, descriptors, positions):
        return llc_vectors(descriptors, positions, self.vocabulary_, self.pyramid, self.n_nearest, self.lam)

    def _dimension(self, d: int) -> int:
        return n_regions(self.pyramid) * self.n_components
