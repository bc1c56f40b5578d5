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
"""
from __future__ import annotations

from ..backend import array_module
from .base import LocalEncoder
from .kmeans import KMeans
from .pyramid import n_regions, pool


def one_hot(assignment, k: int, dtype):
    """(n, k) matrix with a 1 at (i, assignment[i]): the hard assignments as pooling weights."""
    xp = array_module(assignment)
    out = xp.zeros((assignment.shape[0], k), dtype=dtype)
    out[xp.arange(assignment.shape[0]), assignment] = 1
    return out


def _l2_normalise(v, axis):
    xp = array_module(v)
    norm = xp.sqrt((v * v).sum(axis=axis, keepdims=True))
    return v / xp.maximum(norm, xp.asarray(1e-12, dtype=v.dtype))


def vlad_vectors(descriptors, positions, kmeans: KMeans, levels=((1, 1),), power: bool = True, intra: bool = True):
    """VLAD of a batch of images: (n_images, n_regions * K D); arguments as :func:`fisher.fisher_vectors`."""
    xp = array_module(descriptors[0])
    centres = kmeans.cluster_centers_.astype(descriptors[0].dtype)
    k = centres.shape[0]

    def assignments_and_moments(X):
        return one_hot(kmeans.predict(X), k, X.dtype), xp.concatenate([X, xp.ones((X.shape[0], 1), X.dtype)], 1)

    stats, _ = pool(descriptors, positions, levels, assignments_and_moments)
    v = stats[..., :-1] - centres * stats[..., -1:]          # (images, R, K, D)
    if power:
        v = xp.sign(v) * xp.sqrt(xp.abs(v))
    if intra:
        v = _l2_normalise(v, axis=3)
    v = _l2_normalise(v.reshape(v.shape[0], v.shape[1], -1), axis=2)
    return v.reshape(len(descriptors), -1)


class VLADEncoder(LocalEncoder):
    """PCA + k-means vocabulary (``n_clusters``) + VLAD over a spatial pyramid, as one estimator."""

    def __init__(self, n_clusters: int = 256, pca_dims: int | None = 80, whiten: bool = False,
                 pyramid=((1, 1), (2, 2), (1, 3)), sample_size: int = 200_000, kmeans_iter: int = 25,
                 power: bool = True, intra: bool = True, drop_empty: bool = True, seed: int = 0):
        self.n_clusters = n_clusters
        self.pca_dims = pca_dims
        self.whiten = whiten
        self.pyramid = pyramid
        self.sample_size = sample_size
        self.kmeans_iter = kmeans_iter
        self.power = power
        self.intra = intra
        self.drop_empty = drop_empty
        self.seed = seed

    def _fit_vocabulary(self, projected):
        return KMeans(self.n_clusters, n_iter=self.kmeans_iter, seed=self.seed).fit(projected)

    def _encode_batch(self, descriptors, positions):
        return vlad_vectors(descriptors, positions, self.vocabulary_, self.pyramid, self.power, self.intra)

    @property
    def dimension(self) -> int:
        return n_regions(self.pyramid) * self.n_clusters * self.descriptor_dimension
