r"""Principal component analysis, fitted on a sample of local descriptors.

Descriptors are centred by their mean :math:`m` and projected on the leading eigenvectors
:math:`U` of their covariance :math:`\Sigma = \frac{1}{n-1} \sum (x - m)(x - m)^\top`:
:math:`z = U^\top (x - m)`.  With ``whiten=True`` each coordinate is further divided by the square
root of its eigenvalue (plus ``whiten_eps`` times the largest, so that near-null directions are
not blown up).  For Fisher vectors, PCA decorrelates the descriptor dimensions, which is what makes
a diagonal-covariance GMM a good model (Perronnin et al. 2010; Chatfield et al. 2011 use 80-D).

The covariance is accumulated in float64 (it is a sum over up to 10^6 descriptors), the projection
runs in float32.  Component signs are fixed (largest-magnitude entry positive) for reproducibility.
"""
from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module


class PCA(TransformerMixin, BaseEstimator):
    """PCA on the array backend: ``mean_``, ``components_`` (n_components, D), ``explained_variance_``."""

    def __init__(self, n_components: int = 80, whiten: bool = False, whiten_eps: float = 1e-5):
        self.n_components = n_components
        self.whiten = whiten
        self.whiten_eps = whiten_eps

    def fit(self, X, y=None):
        xp = array_module(X)
        n, d = X.shape
        if not 0 < self.n_components <= d:
            raise ValueError(f"n_components={self.n_components} must be in 1..{d}")
        if n < 2:
            raise ValueError("PCA needs at least 2 samples")
        X64 = X.astype(xp.float64)
        mean = X64.mean(axis=0)
        centred = X64 - mean
        covariance = centred.T @ centred / (n - 1)
        eigenvalues, eigenvectors = xp.linalg.eigh(covariance)
        order = xp.argsort(eigenvalues)[::-1][: self.n_components]
        components = eigenvectors[:, order].T
        signs = xp.sign(components[xp.arange(len(order)), xp.argmax(xp.abs(components), axis=1)])
        self.mean_ = mean.astype(xp.float32)
        self.components_ = (components * signs[:, None]).astype(xp.float32)
        self.explained_variance_ = xp.maximum(eigenvalues[order], 0).astype(xp.float32)
        scale = xp.ones(self.n_components, dtype=xp.float32)
        if self.whiten:
            floor = self.whiten_eps * float(self.explained_variance_[0])
            scale = (1 / xp.sqrt(self.explained_variance_ + floor)).astype(xp.float32)
        self.scale_ = scale
        return self

    def transform(self, X):
        # U^T (x - m) = U^T x - U^T m: one product and one pass over the (n, n_components) output, instead
        # of a pass over the wider (n, D) input first (float32 loses nothing here: |U^T m| is of the order
        # of the projections themselves, ~1 for SIFT); whitening folds into U.
        xp = array_module(X)
        projection = self.components_.T.astype(xp.float64)
        if self.whiten:
            projection = projection * self.scale_.astype(xp.float64)
        offset = self.mean_.astype(xp.float64) @ projection
        projected = X @ projection.astype(X.dtype)
        projected -= offset.astype(X.dtype)
        return projected

    def to_arrays(self) -> dict:
        """Learned state as plain arrays (for ``.npz`` caching)."""
        return {"mean": self.mean_, "components": self.components_,
                "explained_variance": self.explained_variance_, "scale": self.scale_}

    @classmethod
    def from_arrays(cls, arrays: dict, whiten: bool = False) -> "PCA":
        pca = cls(n_components=len(arrays["components"]), whiten=whiten)
        pca.mean_, pca.components_ = arrays["mean"], arrays["components"]
        pca.explained_variance_, pca.scale_ = arrays["explained_variance"], arrays["scale"]
        return pca
