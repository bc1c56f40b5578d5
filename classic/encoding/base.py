"""What every encoder of local descriptors shares: PCA, a vocabulary, a spatial pyramid.

An encoder turns one image's set of local descriptors into one fixed-length vector.  The encoders of
the era (bag of visual words, VLAD, Fisher vectors) differ only in their vocabulary (k-means
centres or a GMM) and in the statistic they pool over the pyramid's regions; fitting is the same:
draw a descriptor sample, fit PCA on it, fit the vocabulary on the projected sample.
Subclasses implement ``_fit_vocabulary(projected)`` and ``_encode_batch(descriptors, positions)``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module
from ..features import LocalFeatures, nonzero_rows
from .pca import PCA
from .pyramid import cell_indices


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
        sample = sample_descriptors([self.usable_features(f).descriptors for f in X], self.sample_size, self.seed)
        return self.fit_sample(sample)

    def fit_sample(self, sample):
        """Fit PCA and the vocabulary on an (n, D) descriptor sample."""
        self.pca_ = PCA(self.pca_dims, whiten=self.whiten).fit(sample) if self.pca_dims else None
        self.vocabulary_ = self._fit_vocabulary(self.project(sample))
        return self

    def project(self, descriptors):
        return self.pca_.transform(descriptors) if self.pca_ is not None else descriptors

    def encode(self, features):
        """The vector of one image's :class:`LocalFeatures`."""
        return self.encode_batch([features])[0]

    def encode_batch(self, batch):
        """Vectors (n_images, dimension) of a list of :class:`LocalFeatures`, in one batched computation."""
        usable = [self.usable_features(f) for f in batch]
        return self._encode_batch([self.project(f.descriptors) for f in usable], [f.positions for f in usable])

    @property
    def descriptor_dimension(self) -> int:
        """D of the descriptors the vocabulary sees: the fitted vocabulary's, else PCA's, else SIFT's 128."""
        vocabulary = getattr(self, "vocabulary_", None)
        if vocabulary is not None:
            return (vocabulary.means_ if hasattr(vocabulary, "means_") else vocabulary.cluster_centers_).shape[1]
        return self.pca_dims or 128

    def transform(self, X):
        # image by image: a whole dataset's (n, K) assignments in one batch would not fit in memory
        encoded = [self.encode(f) for f in X]
        xp = array_module(encoded[0]) if encoded else np
        return xp.stack(encoded) if encoded else np.zeros((0, self.dimension), np.float32)


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
