r"""Super-vector coding (Zhou, Yu, Zhang & Huang, ECCV 2010): the NEC-UIUC ILSVRC-2010 encoder.

With a k-means vocabulary :math:`\mu_1 \dots \mu_K` and each descriptor's assignment weights
:math:`w_k(x)` (hard: 1 for the nearest codeword; soft: shared among the nearest few, summing to 1),
an image region with N descriptors is coded, per codeword, by

.. math::  \Big[\, s \sqrt{p_k}, \;\; \frac{1}{\sqrt{p_k}} \frac{1}{N} \sum_x w_k(x) (x - \mu_k) \Big],
           \qquad p_k = \frac{1}{N} \sum_x w_k(x),

K (D + 1) numbers.  The first is the codeword's share of the descriptors (a bag of words, square
rooted), the second the mean residual of its descriptors weighted by :math:`\sqrt{p_k}` (VLAD's
residual sum, divided by :math:`N \sqrt{p_k}` instead of left unnormalised).  Zhou et al. derive it
as the first-order Taylor approximation of a nonlinear function on the descriptor space: the linear
SVM on super-vectors is a piecewise-linear function of the descriptors, one linear piece per
codeword.  The constant s weighs the zeroth-order (bag-of-words) part against the first-order part;
the residuals of unit-norm descriptors are of order 0.1–0.5, so s of that order keeps both parts
(``s = 0`` drops the bag-of-words part).  Both parts come from the pooled statistics
:math:`[S_1, S_0]` of :func:`pyramid.pool`: :math:`p_k = S_{0,k}/N`, residual sum
:math:`S_{1,k} - \mu_k S_{0,k}`.

Normalisation as for the other encoders: signed square root (optional, ``power``) and L2, per region
of the spatial pyramid; the regions are stacked.

References
----------
Zhou, X., Yu, K., Zhang, T., Huang, T. S. (2010). Image classification using super-vector coding of
local image descriptors. ECCV. https://doi.org/10.1007/978-3-642-15555-0_11

Lin, Y., Lv, F., Zhu, S., Yang, M., Cour, T., Yu, K., Cao, L., Huang, T. (2011). Large-scale image
classification: fast feature extraction and SVM training. CVPR. https://doi.org/10.1109/CVPR.2011.5995477
"""
from __future__ import annotations

from ..backend import array_module
from ..normalise import l2_normalise, signed_sqrt
from .base import KMeansEncoder
from .bow import codeword_weights
from .kmeans import KMeans
from .pyramid import n_regions, pool

ASSIGNMENTS = ("hard", "soft")


def supervectors_from_statistics(stats, counts, centres, s: float = 0.1, power: bool = True):
    """Super-vectors (R, K (D + 1)) from pooled statistics [S1, S0] (R, K, D + 1) and counts (R,):
    per codeword [s sqrt(p_k), residual block], codeword by codeword; an empty region codes to zeros."""
    xp = array_module(stats)
    s1, s0 = stats[..., :-1], stats[..., -1:]
    n = xp.maximum(counts, 1)[:, None, None]
    p = s0 / n                                                            # (R, K, 1)
    root = xp.sqrt(p)
    # (S1 - mu S0) / (N sqrt(p)); where p = 0 the residual sum is 0 as well
    residual = (s1 - centres.astype(stats.dtype) * s0) / (n * xp.maximum(root, stats.dtype.type(1e-12)))
    v = xp.concatenate([stats.dtype.type(s) * root, residual], axis=-1).reshape(len(counts), -1)
    if power:
        v = signed_sqrt(v)
    return l2_normalise(xp.ascontiguousarray(v))


def supervectors(descriptors, positions, kmeans: KMeans, levels=((1, 1),), s: float = 0.1,
                 assignment: str = "hard", n_nearest: int = 5, beta: float = 10.0, power: bool = True):
    """Super-vector codes of a batch of images: (n_images, n_regions * K (D + 1)).

    Parameters
    ----------
    descriptors, positions, levels
        As :func:`classic.encoding.fisher.fisher_vectors`.
    kmeans : KMeans
        The fitted vocabulary.
    s : float
        Weight of the codeword-frequency part.
    assignment, n_nearest, beta
        Hard or soft (k-nearest) assignment weights :math:`w_k(x)`, as
        :func:`classic.encoding.bow.codeword_weights`.
    power : bool
        Signed square root before the L2 normalisation.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((200, 3)).astype(np.float32)
    >>> km = KMeans(n_clusters=4).fit(X)
    >>> v = supervectors([X[:40]], [np.full((40, 2), 0.5)], km)
    >>> v.shape, round(float(np.linalg.norm(v)), 4)       # 4 codewords x (1 + 3)
    ((1, 16), 1.0)
    """
    xp = array_module(descriptors[0])

    def weights_and_moments(X):
        return (codeword_weights(X, kmeans, assignment, n_nearest, beta),
                xp.concatenate([X, xp.ones((X.shape[0], 1), X.dtype)], 1))

    stats, counts = pool(descriptors, positions, levels, weights_and_moments)
    n_images, R = counts.shape
    v = supervectors_from_statistics(stats.reshape(n_images * R, *stats.shape[2:]), counts.reshape(-1),
                                     kmeans.cluster_centers_, s, power)
    return v.reshape(n_images, -1)


class SuperVectorEncoder(KMeansEncoder):
    """PCA + k-means vocabulary + super-vector coding over a spatial pyramid, as one estimator.

    Parameters
    ----------
    n_components : int, default=256
        Codewords K of the k-means vocabulary.
    s : float, default=0.1
        Weight of each codeword's frequency part (see the module docstring).
    assignment : {"hard", "soft"}, default="hard"
    n_nearest, beta
        Soft assignment, as :class:`~classic.encoding.BagOfWordsEncoder`.
    power : bool, default=True
        Signed square root before the L2 normalisation.
    pca_dims, whiten, pyramid, sample_size, drop_empty, seed
        As :class:`~classic.encoding.FisherVectorEncoder`.
    kmeans_max_iter : int, default=25

    Examples
    --------
    >>> import numpy as np
    >>> from classic import DenseSIFT
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(3)]
    >>> features = DenseSIFT(bin_sizes=(6,), step=6).transform(images)
    >>> encoder = SuperVectorEncoder(n_components=4, pca_dims=8, pyramid=((1, 1), (2, 2))).fit(features)
    >>> encoder.transform(features).shape                # 5 regions x 4 words x (1 + 8)
    (3, 180)
    """

    def __init__(self, n_components: int = 256, *, s: float = 0.1, assignment: str = "hard", n_nearest: int = 5,
                 beta: float = 10.0, power: bool = True, pca_dims: int | None = 80, whiten: bool = False,
                 pyramid=((1, 1), (2, 2), (1, 3)), sample_size: int = 200_000, kmeans_max_iter: int = 25,
                 drop_empty: bool = True, seed: int = 0):
        self.n_components = n_components
        self.s = s
        self.assignment = assignment
        self.n_nearest = n_nearest
        self.beta = beta
        self.power = power
        self.pca_dims = pca_dims
        self.whiten = whiten
        self.pyramid = pyramid
        self.sample_size = sample_size
        self.kmeans_max_iter = kmeans_max_iter
        self.drop_empty = drop_empty
        self.seed = seed

    def _fit_vocabulary(self, projected):
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(f"assignment must be one of {ASSIGNMENTS}, got {self.assignment!r}")
        return super()._fit_vocabulary(projected)

    def _encode_batch(self, descriptors, positions):
        return supervectors(descriptors, positions, self.vocabulary_, self.pyramid, self.s, self.assignment,
                            self.n_nearest, self.beta, self.power)

    def _dimension(self, d: int) -> int:
        return n_regions(self.pyramid) * self.n_components * (d + 1)
