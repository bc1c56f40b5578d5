r"""Improved Fisher vectors (Perronnin, Sánchez & Mensink 2010; Sánchez et al. 2013).

Given a diagonal GMM :math:`(w_k, \mu_k, \sigma_k)` and an image's local descriptors
:math:`x_1 \dots x_N`, with posteriors :math:`\gamma_{nk}`, the Fisher vector stacks, for every
component k, the normalised gradients of the log-likelihood with respect to the mean and the
standard deviation:

.. math::
    \mathcal{G}_{\mu_k} = \frac{1}{N \sqrt{w_k}} \sum_n \gamma_{nk} \frac{x_n - \mu_k}{\sigma_k},
    \qquad
    \mathcal{G}_{\sigma_k} = \frac{1}{N \sqrt{2 w_k}} \sum_n \gamma_{nk}
        \Big[ \frac{(x_n - \mu_k)^2}{\sigma_k^2} - 1 \Big],

2 K D numbers, laid out as VLFeat's ``vl_fisher``: all mean gradients (component-major), then all
standard-deviation gradients.  Both sums come from three statistics per component,
:math:`S_0 = \sum_n \gamma_{nk}`, :math:`S_1 = \sum_n \gamma_{nk} x_n`,
:math:`S_2 = \sum_n \gamma_{nk} x_n^2`, i.e. one matrix product :math:`\Gamma^\top [X, X^{\circ 2}, 1]`,
so the encoder runs at matrix-multiply speed.

"Improved" = signed square root :math:`\operatorname{sign}(z)\sqrt{|z|}` and L2 normalisation.
With a spatial pyramid, each region gets its own Fisher vector (N = the region's descriptor
count), normalised on its own; the regions are stacked.

Descriptors that are exactly zero (the low-contrast frames dense SIFT zeroes) carry no
information and are dropped before encoding (``drop_empty``); an image or region without any
descriptor encodes to zeros.  float32 stays accurate because the GMM's variances are floored (see
``gmm.py``).

References
----------
Perronnin, F., Sánchez, J., Mensink, T. (2010). Improving the Fisher kernel for large-scale image
classification. ECCV. https://doi.org/10.1007/978-3-642-15561-1_11

Sánchez, J., Perronnin, F., Mensink, T., Verbeek, J. (2013). Image classification with the Fisher
vector: theory and practice. IJCV 105(3). https://doi.org/10.1007/s11263-013-0636-x
"""
from __future__ import annotations

from ..backend import array_module
from ..normalise import l2_normalise, signed_sqrt
from .base import LocalEncoder
from .gmm import DiagonalGMM, stacked_moments
from .pyramid import n_regions, pool


def fisher_from_statistics(stats, counts, means, variances, weights, improved: bool = True):
    """Fisher vectors (R, 2 K D) from statistics [S1, S2, S0] (R, K, 2D + 1) and counts (R,)."""
    xp = array_module(stats)
    dtype = stats.dtype
    d = (stats.shape[-1] - 1) // 2
    s1, s2, s0 = stats[..., :d], stats[..., d:2 * d], stats[..., 2 * d:]
    means, variances, weights = (a.astype(dtype) for a in (means, variances, weights))
    sigma = xp.sqrt(variances)
    n = xp.maximum(counts, 1)[:, None, None]
    g_mu = (s1 - means * s0) / (sigma * n * xp.sqrt(weights)[:, None])
    g_sigma = ((s2 - 2 * means * s1 + means * means * s0) / variances - s0) / (n * xp.sqrt(2 * weights)[:, None])
    fv = xp.concatenate([g_mu.reshape(len(counts), -1), g_sigma.reshape(len(counts), -1)], axis=1)
    if improved:
        fv = l2_normalise(signed_sqrt(fv))
    return fv


def fisher_vectors(descriptors, positions, gmm: DiagonalGMM, levels=((1, 1),), improved: bool = True):
    """Fisher vectors of a batch of images: (n_images, n_regions * 2 K D).

    Parameters
    ----------
    descriptors, positions : lists of arrays
        One (N_i, D) and one (N_i, 2) array per image; positions (x, y) relative to the image size.
    gmm : DiagonalGMM
        Fitted, with D-dimensional means.
    levels : sequence of (columns, rows)
        The spatial pyramid; ``((1, 1),)`` for none.
    improved : bool
        Signed square root and L2 normalisation per region.

    Returns
    -------
    (n_images, n_regions * 2 K D) array on the descriptors' backend

    All posteriors of the batch come from one matrix product, the statistics of every (image,
    pyramid cell) from one product each (:func:`pyramid.pool`).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((500, 3)).astype(np.float32)
    >>> gmm = DiagonalGMM(n_components=4).fit(X)
    >>> fv = fisher_vectors([X[:50], X[50:80]], [np.full((50, 2), 0.5), np.full((30, 2), 0.5)], gmm)
    >>> fv.shape, np.linalg.norm(fv, axis=1).round(4).tolist()
    ((2, 24), [1.0, 1.0])
    """
    xp = array_module(descriptors[0])
    k, d = gmm.means_.shape

    def posteriors_and_moments(X):
        moments = stacked_moments(X)
        if not X.shape[0]:
            return xp.zeros((0, k), X.dtype), moments
        weights, weighted, _ = gmm.posterior_statistics(moments)
        return weights, weighted

    stats, counts = pool(descriptors, positions, levels, posteriors_and_moments)
    n_images = len(descriptors)
    fv = fisher_from_statistics(stats.reshape(-1, k, 2 * d + 1), counts.reshape(-1), gmm.means_, gmm.variances_,
                                gmm.weights_, improved)
    return fv.reshape(n_images, -1)


def fisher_vector(X, gmm: DiagonalGMM, positions=None, levels=((1, 1),), improved: bool = True):
    """Fisher vector of one image: (n_regions * 2 K D,) from descriptors ``X`` (N, D).

    ``positions`` (N, 2) are (x, y) relative to the image size; needed for pyramids beyond 1 x 1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((400, 2)).astype(np.float32)
    >>> fisher_vector(X[:100], DiagonalGMM(n_components=3).fit(X)).shape      # 2 K D
    (12,)
    """
    xp = array_module(X)
    if positions is None:
        if tuple(map(tuple, levels)) != ((1, 1),):
            raise ValueError("a spatial pyramid needs the descriptors' positions")
        positions = xp.zeros((X.shape[0], 2), dtype=X.dtype)
    return fisher_vectors([X], [positions], gmm, levels, improved)[0]


class FisherVectorEncoder(LocalEncoder):
    """PCA + diagonal GMM + improved Fisher vector with a spatial pyramid, as one estimator.

    ``fit`` takes a list of :class:`classic.features.LocalFeatures` (one per image), draws up to
    ``sample_size`` descriptors, fits ``pca_`` (``pca_dims``; None for no PCA) and the GMM
    ``vocabulary_``; ``transform`` encodes each image: (n_images, n_regions * 2 K D) float32.

    Parameters
    ----------
    n_components : int, default=256
        Gaussians K of the GMM vocabulary.
    pca_dims : int or None, default=80
    whiten : bool, default=False
    pyramid : sequence of (columns, rows), default=((1, 1), (2, 2), (1, 3))
    sample_size : int, default=200000
        Descriptors drawn from the training images to fit PCA and the GMM.
    gmm_max_iter : int, default=100
    variance_floor : float, default=1e-3
    drop_empty : bool, default=True
        Leave out the all-zero (low-contrast) descriptors.
    improved : bool, default=True
    seed : int, default=0

    Examples
    --------
    >>> import numpy as np
    >>> from classic import DenseSIFT
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.random((64, 64), dtype=np.float32) for _ in range(4)]
    >>> features = DenseSIFT(bin_sizes=(4,), step=8).transform(images)
    >>> encoder = FisherVectorEncoder(n_components=4, pca_dims=8, pyramid=((1, 1),)).fit(features)
    >>> encoder.transform(features).shape, encoder.dimension
    ((4, 64), 64)
    """

    def __init__(self, n_components: int = 256, *, pca_dims: int | None = 80, whiten: bool = False,
                 pyramid=((1, 1), (2, 2), (1, 3)), sample_size: int = 200_000, gmm_max_iter: int = 100,
                 variance_floor: float = 1e-3, drop_empty: bool = True, improved: bool = True,
                 seed: int = 0):
        self.n_components = n_components
        self.pca_dims = pca_dims
        self.whiten = whiten
        self.pyramid = pyramid
        self.sample_size = sample_size
        self.gmm_max_iter = gmm_max_iter
        self.variance_floor = variance_floor
        self.drop_empty = drop_empty
        self.improved = improved
        self.seed = seed

    def _fit_vocabulary(self, projected):
        return DiagonalGMM(self.n_components, max_iter=self.gmm_max_iter,
                           variance_floor=self.variance_floor, seed=self.seed).fit(projected)

    def _encode_batch(self, descriptors, positions):
        return fisher_vectors(descriptors, positions, self.vocabulary_, self.pyramid, self.improved)

    def _dimension(self, d: int) -> int:
        return n_regions(self.pyramid) * 2 * self.n_components * d
