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
:math:`S_2 = \sum_n \gamma_{nk} x_n^2`, i.e. two matrix products :math:`\Gamma^\top X`,
:math:`\Gamma^\top X^{\circ 2}`, so the encoder runs at matrix-multiply speed.

"Improved" = signed square root :math:`\operatorname{sign}(z)\sqrt{|z|}` and L2 normalisation.
With a spatial pyramid, each region gets its own Fisher vector (N = the region's descriptor
count), normalised on its own; the regions are stacked.

Descriptors that are exactly zero (the low-contrast frames dense SIFT zeroes) carry no
information and are dropped before encoding (``drop_empty``); an image or region without any
descriptor encodes to zeros.  float32 stays accurate because the GMM's variances are floored (see
``gmm.py``).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module
from .gmm import DiagonalGMM, stacked_moments
from .pca import PCA
from .pyramid import common_cells, n_regions


def region_statistics(gamma, moments, positions, levels):
    """Per-region (S0 (R, K), S1 (R, K, D), S2 (R, K, D), counts (R,)) of one image.

    ``moments`` is [X, X^2] (n, 2D), so that S1 and S2 of a cell come from one matrix product.
    """
    xp = array_module(moments)
    order, bounds, membership = common_cells(positions, levels)
    gamma, moments = gamma[order], moments[order]
    k, d = gamma.shape[1], moments.shape[1] // 2
    n_cells = len(bounds) - 1
    s0 = xp.empty((n_cells, k), dtype=moments.dtype)
    s12 = xp.empty((n_cells, k, 2 * d), dtype=moments.dtype)
    counts = xp.asarray(np.diff(bounds).astype(np.float32)).astype(moments.dtype)
    for c in range(n_cells):
        g = gamma[bounds[c]:bounds[c + 1]]
        s0[c] = g.sum(axis=0)
        s12[c] = g.T @ moments[bounds[c]:bounds[c + 1]]
    membership = membership.astype(moments.dtype)
    s12 = (membership @ s12.reshape(n_cells, -1)).reshape(-1, k, 2 * d)
    return membership @ s0, s12[:, :, :d], s12[:, :, d:], membership @ counts


def fisher_from_statistics(s0, s1, s2, counts, means, variances, weights, improved: bool = True):
    """Fisher vectors (R, 2 K D) from per-region statistics; see the module docstring."""
    xp = array_module(s1)
    dtype = s1.dtype
    means, variances, weights = (a.astype(dtype) for a in (means, variances, weights))
    sigma = xp.sqrt(variances)
    n = xp.maximum(counts, 1)[:, None, None]
    s0 = s0[:, :, None]
    g_mu = (s1 - means * s0) / (sigma * n * xp.sqrt(weights)[:, None])
    g_sigma = ((s2 - 2 * means * s1 + means * means * s0) / variances - s0) / (n * xp.sqrt(2 * weights)[:, None])
    fv = xp.concatenate([g_mu.reshape(len(counts), -1), g_sigma.reshape(len(counts), -1)], axis=1)
    if improved:
        fv = xp.sign(fv) * xp.sqrt(xp.abs(fv))
        norm = xp.sqrt((fv * fv).sum(axis=1, keepdims=True))
        fv = fv / xp.maximum(norm, xp.asarray(1e-12, dtype=dtype))
    return fv


def fisher_vector(X, gmm: DiagonalGMM, positions=None, levels=((1, 1),), improved: bool = True):
    """Fisher vector of one image: (n_regions * 2 K D,) from descriptors ``X`` (N, D).

    ``positions`` (N, 2) are (x, y) relative to the image size; needed for pyramids beyond 1 x 1.
    """
    xp = array_module(X)
    if positions is None:
        if tuple(map(tuple, levels)) != ((1, 1),):
            raise ValueError("a spatial pyramid needs the descriptors' positions")
        positions = xp.zeros((X.shape[0], 2), dtype=X.dtype)
    k, d = gmm.means_.shape
    if X.shape[0] == 0:
        return xp.zeros(n_regions(levels) * 2 * k * d, dtype=X.dtype)
    moments = stacked_moments(X)
    gamma = gmm.responsibilities(X, moments)[0]
    stats = region_statistics(gamma, moments, positions, levels)
    return fisher_from_statistics(*stats, gmm.means_, gmm.variances_, gmm.weights_, improved).ravel()


def nonzero_rows(descriptors):
    """Mask of descriptors that are not all zero (zeroed low-contrast frames carry no information)."""
    xp = array_module(descriptors)
    return xp.any(descriptors != 0, axis=1)


class FisherVectorEncoder(TransformerMixin, BaseEstimator):
    """PCA + diagonal GMM + improved Fisher vector with a spatial pyramid, as one estimator.

    ``fit`` takes a list of :class:`classic.features.LocalFeatures` (one per image), draws up to
    ``sample_size`` descriptors, fits ``pca_`` (``pca_dims``; None for no PCA) and ``gmm_``;
    ``transform`` encodes each image: (n_images, n_regions * 2 K D) float32.
    """

    def __init__(self, n_components: int = 256, pca_dims: int | None = 80, whiten: bool = False,
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

    def _usable(self, features):
        descriptors, positions = features.descriptors, features.positions
        if self.drop_empty:
            keep = nonzero_rows(descriptors)
            descriptors, positions = descriptors[keep], positions[keep]
        return descriptors, positions

    def fit(self, X, y=None):
        sample = sample_descriptors([self._usable(f)[0] for f in X], self.sample_size, self.seed)
        self.fit_sample(sample)
        return self

    def fit_sample(self, sample):
        """Fit PCA and GMM on an (n, D) descriptor sample."""
        self.pca_ = PCA(self.pca_dims, whiten=self.whiten).fit(sample) if self.pca_dims else None
        projected = self.pca_.transform(sample) if self.pca_ is not None else sample
        self.gmm_ = DiagonalGMM(self.n_components, max_iter=self.gmm_max_iter,
                                variance_floor=self.variance_floor, seed=self.seed).fit(projected)
        return self

    def encode(self, features):
        """Fisher vector of one image's :class:`LocalFeatures`."""
        descriptors, positions = self._usable(features)
        if self.pca_ is not None:
            descriptors = self.pca_.transform(descriptors)
        return fisher_vector(descriptors, self.gmm_, positions, self.pyramid, self.improved)

    def transform(self, X):
        encoded = [self.encode(f) for f in X]
        xp = array_module(encoded[0]) if encoded else np
        return xp.stack(encoded) if encoded else np.zeros((0, self.dimension), np.float32)

    @property
    def dimension(self) -> int:
        d = self.pca_dims or 128
        return n_regions(self.pyramid) * 2 * self.n_components * d


def sample_descriptors(per_image, size: int, seed: int):
    """Up to ``size`` descriptors drawn uniformly from a list of (N_i, D) arrays, about equally per image."""
    xp = array_module(per_image[0]) if per_image else np
    rng = np.random.default_rng(seed)
    quota = int(np.ceil(size / max(1, len(per_image))))
    parts = []
    for d in per_image:
        if d.shape[0] > quota:
            d = d[xp.asarray(np.sort(rng.choice(d.shape[0], quota, replace=False)))]
        parts.append(d)
    sample = xp.concatenate(parts)
    if sample.shape[0] > size:
        sample = sample[xp.asarray(np.sort(rng.choice(sample.shape[0], size, replace=False)))]
    return sample
