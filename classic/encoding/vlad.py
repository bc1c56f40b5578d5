r"""VLAD: vector of locally aggregated descriptors (Jégou et al. 2010; Arandjelović & Zisserman 2013).

With a k-means vocabulary :math:`c_1 \dots c_K`, each descriptor is assigned to its nearest centre
:math:`\mathrm{NN}(x)` and VLAD sums the residuals per centre:

.. math::  v_k = \sum_{n : \mathrm{NN}(x_n) = k} (x_n - c_k) = S_{1,k} - c_k S_{0,k},

K D numbers from the pooled statistics :math:`[S_1, S_0]` (one matrix product of the one-hot
assignments with :math:`[X, 1]`).  It is the Fisher vector's mean block with hard assignment and
no variances.  Normalisation, in order: signed square root ("power", Jégou et al. 2012), L2 per
centre ("intra-normalisation", Arandjelović & Zisserman 2013: stops a few bursty centres from
dominating), and L2 of the whole vector.  With a spatial pyramid each region is normalised on its
own and the regions are stacked.

References
----------
Jégou, H., Douze, M., Schmid, C., Pérez, P. (2010). Aggregating local descriptors into a compact
image representation. CVPR. https://doi.org/10.1109/CVPR.2010.5540039

Arandjelović, R., Zisserman, A. (2013). All about VLAD. CVPR. https://doi.org/10.1109/CVPR.2013.207
"""
from __future__ import annotations

from ..backend import array_module
from ..normalise import l2_normalise, signed_sqrt
from .base import KMeansEncoder
from .kmeans import KMeans, nearest_centres
from .pyramid import n_regions, pool


def one_hot(assignment, k: int, dtype):
    """(n, k) matrix with a 1 at (i, assignment[i]): the hard assignments as pooling weights."""
    xp = array_module(assignment)
    out = xp.zeros((assignment.shape[0], k), dtype=dtype)
    out[xp.arange(assignment.shape[0]), assignment] = 1
    return out


def nearest_words(X, kmeans: KMeans):
    """Index (n,) of each descriptor's nearest codeword (no input checks: the encoders' inner loop)."""
    return nearest_centres(X[None], kmeans.cluster_centers_.astype(X.dtype)[None])[0]


def vlad_vectors(descriptors, positions, kmeans: KMeans, levels=((1, 1),), power: bool = True, intra: bool = True):
    """VLAD of a batch of images: (n_images, n_regions * K D).

    Parameters
    ----------
    descriptors, positions, levels
        As :func:`classic.encoding.fisher.fisher_vectors`.
    kmeans : KMeans
        The fitted vocabulary.
    power, intra : bool
        Signed square root; L2 normalisation per centre before the whole vector's.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((200, 3)).astype(np.float32)
    >>> km = KMeans(n_clusters=4).fit(X)
    >>> v = vlad_vectors([X[:40]], [np.full((40, 2), 0.5)], km)
    >>> v.shape, round(float(np.linalg.norm(v)), 4)
    ((1, 12), 1.0)
    """
    xp = array_module(descriptors[0])
    centres = kmeans.cluster_centers_.astype(descriptors[0].dtype)
    k = centres.shape[0]

    def assignments_and_moments(X):
        return one_hot(nearest_words(X, kmeans), k, X.dtype), xp.concatenate([X, xp.ones((X.shape[0], 1), X.dtype)], 1)

    stats, _ = pool(descriptors, positions, levels, assignments_and_moments)
    v = stats[..., :-1] - centres * stats[..., -1:]          # (images, R, K, D)
    n_images, R, K, D = v.shape
    if power:
        v = signed_sqrt(v)
    if intra:
        v = l2_normalise(xp.ascontiguousarray(v.reshape(-1, D)))
    return l2_normalise(xp.ascontiguousarray(v.reshape(n_images * R, K * D))).reshape(n_images, -1)


class VLADEncoder(KMeansEncoder):
    """PCA + k-means vocabulary + VLAD over a spatial pyramid, as one estimator.

    Parameters
    ----------
    n_components : int, default=256
        Codewords K of the k-means vocabulary.
    pca_dims, whiten, pyramid, sample_size, drop_empty, seed
        As :class:`~classic.encoding.FisherVectorEncoder`.
    kmeans_max_iter : int, default=25
    power, intra : bool, default=True
        See :func:`vlad_vectors`.

    Examples
    --------
    >>> import numpy as np
    >>> from classic import DenseSIFT
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(3)]
    >>> features = DenseSIFT(bin_sizes=(6,), step=6).transform(images)
    >>> encoder = VLADEncoder(n_components=4, pca_dims=8, pyramid=((1, 1), (2, 2))).fit(features)
    >>> encoder.transform(features).shape                # 5 regions x 4 words x 8 dimensions
    (3, 160)
    """

    def __init__(self, n_components: int = 256, *, pca_dims: int | None = 80, whiten: bool = False,
                 pyramid=((1, 1), (2, 2), (1, 3)), sample_size: int = 200_000, kmeans_max_iter: int = 25,
                 power: bool = True, intra: bool = True, drop_empty: bool = True, seed: int = 0):
        self.n_components = n_components
        self.pca_dims = pca_dims
        self.whiten = whiten
        self.pyramid = pyramid
        self.sample_size = sample_size
        self.kmeans_max_iter = kmeans_max_iter
        self.power = power
        self.intra = intra
        self.drop_empty = drop_empty
        self.seed = seed

    def _encode_batch(self, descriptors, positions):
        return vlad_vectors(descriptors, positions, self.vocabulary_, self.pyramid, self.power, self.intra)

    def _dimension(self, d: int) -> int:
        return n_regions(self.pyramid) * self.n_components * d
