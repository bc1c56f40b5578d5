"""What every encoder of local descriptors shares: PCA, a vocabulary, a spatial pyramid.

An encoder turns one image's set of local descriptors into one fixed-length vector.  The encoders of
the era (bag of visual words, VLAD, Fisher vectors) differ only in their vocabulary (k-means
centres or a GMM) and in the statistic they pool over the pyramid's regions; fitting is the same:
draw a descriptor sample, fit PCA on it, fit the vocabulary on the projected sample.
Subclasses implement ``_fit_vocabulary(projected)``, ``_encode_batch(descriptors, positions)`` and
``_dimension(d)``, the length of their vector for d-dimensional (projected) descriptors: the one place
where an encoding's dimension is worked out.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module
from ..features import LocalFeatures, nonzero_rows
from ..validation import check_is_fitted
from .kmeans import KMeans
from .pca import PCA
from .pyramid import cell_indices


def check_local_features(X, name: str) -> list:
    """``X`` as a list of :class:`LocalFeatures`, or a ValueError saying what an encoder takes."""
    if isinstance(X, LocalFeatures) or not hasattr(X, "__iter__"):
        raise ValueError(f"{name} takes a list of LocalFeatures (one per image, from a descriptor extractor's "
                         f"transform), got {type(X).__name__}")
    X = list(X)
    for f in X:
        if not isinstance(f, LocalFeatures):
            raise ValueError(f"{name} takes a list of LocalFeatures (one per image, from a descriptor extractor's "
                             f"transform); it holds a {type(f).__name__}")
    return X


class LocalEncoder(TransformerMixin, BaseEstimator):
    """Base class: ``fit`` takes a list of :class:`classic.features.LocalFeatures` (one per image) and
    learns ``pca_`` (None without PCA) and ``vocabulary_``; ``transform`` returns one row per image.

    Subclasses set ``pca_dims``, ``whiten``, ``pyramid``, ``sample_size``, ``drop_empty`` and ``seed``
    in their ``__init__``.
    """

    def usable_features(self, features):
        """The features the encoder uses: less the all-zero descriptors when ``drop_empty``."""
        return features.without_empty() if self.drop_empty else features

    def prepared(self, features):
        """:meth:`usable_features` in the order the encoder pools them (by cell of its pyramid), made
        with one gather: encoders that share this pyramid (one per split) then read them without
        moving them again (:func:`pyramid.pool` regroups only what is out of order)."""
        xp = array_module(features.descriptors)
        keep = nonzero_rows(features.descriptors) if self.drop_empty and not features.empty_dropped else None
        cells = cell_indices(features.positions, self.pyramid)
        rows = xp.flatnonzero(keep) if keep is not None else xp.arange(len(features))
        rows = rows[xp.argsort(cells[rows], kind="stable")]
        return LocalFeatures(features.descriptors[rows], features.positions[rows],
                             empty_dropped=self.drop_empty or features.empty_dropped)

    def fit(self, X, y=None):
        """Fit PCA and the vocabulary on a descriptor sample of ``X``, a list of :class:`LocalFeatures`."""
        X = check_local_features(X, type(self).__name__)
        if not X:
            raise ValueError(f"{type(self).__name__} needs at least one image's features to fit")
        sample = sample_descriptors([self.usable_features(f).descriptors for f in X], self.sample_size, self.seed)
        return self.fit_sample(sample)

    def fit_sample(self, sample):
        """Fit PCA and the vocabulary on an (n, D) descriptor sample."""
        pca = PCA(self.pca_dims, whiten=self.whiten).fit(sample) if self.pca_dims else None
        projected = pca.project(sample) if pca is not None else sample
        return self.set_fitted(pca, self._fit_vocabulary(projected))

    def set_fitted(self, pca, vocabulary):
        """This encoder, fitted with ``pca`` (a fitted :class:`PCA`, or None) and ``vocabulary`` (e.g. both
        read back from files with their ``from_arrays``)."""
        self.pca_, self.vocabulary_ = pca, vocabulary
        self.n_descriptor_features_ = int(pca.n_features_in_ if pca is not None else vocabulary.n_features_in_)
        return self

    def project(self, descriptors):
        """Descriptors (n, D) as the vocabulary sees them: PCA-projected, if the encoder has PCA."""
        return self.pca_.project(descriptors) if self.pca_ is not None else descriptors

    def encode(self, features):
        """The vector of one image's :class:`LocalFeatures`."""
        return self.encode_batch([features])[0]

    def encode_batch(self, batch):
        """Vectors (n_images, dimension) of a list of :class:`LocalFeatures`, in one batched computation."""
        check_is_fitted(self)
        usable = [self.usable_features(f) for f in batch]
        return self._encode_batch([self.project(f.descriptors) for f in usable], [f.positions for f in usable])

    def output_dimension(self, n_descriptor_features: int) -> int:
        """Length of the encoding of ``n_descriptor_features``-dimensional descriptors (before PCA), fitted or not."""
        return self._dimension(self.pca_dims or n_descriptor_features)

    @property
    def dimension(self) -> int:
        """Length of the fitted encoder's vectors."""
        check_is_fitted(self)
        return self.output_dimension(self.n_descriptor_features_)

    def transform(self, X):
        """Vectors (n_images, dimension) of ``X``, a list of :class:`LocalFeatures`."""
        check_is_fitted(self)
        X = check_local_features(X, type(self).__name__)
        # image by image: a whole dataset's (n, K) assignments in one batch would not fit in memory
        encoded = [self.encode(f) for f in X]
        xp = array_module(encoded[0]) if encoded else np
        return xp.stack(encoded) if encoded else np.zeros((0, self.dimension), np.float32)


class KMeansEncoder(LocalEncoder):
    """Base class of the encoders on a k-means vocabulary of ``n_components`` words, fitted with
    ``kmeans_max_iter`` Lloyd iterations from ``seed`` (VLAD, bag of words, super-vectors, LLC)."""

    def _fit_vocabulary(self, projected):
        return KMeans(self.n_components, max_iter=self.kmeans_max_iter, seed=self.seed).fit(projected)


def sample_descriptors(per_image, size: int, seed: int):
    """Up to ``size`` descriptors drawn uniformly from a list of (N_i, D) arrays, about equally per image.

    Examples
    --------
    >>> import numpy as np
    >>> sample_descriptors([np.ones((100, 2)), np.zeros((10, 2))], size=20, seed=0).shape
    (20, 2)
    """
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
