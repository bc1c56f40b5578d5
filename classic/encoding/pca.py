r"""Principal component analysis, fitted on a sample of local descriptors.

Descriptors are centred by their mean :math:`m` and projected on the leading eigenvectors
:math:`U` of their covariance :math:`\Sigma = \frac{1}{n-1} \sum (x - m)(x - m)^\top`:
:math:`z = U^\top (x - m)`.  With ``whiten=True`` each coordinate is further divided by the square
root of its eigenvalue (plus ``whiten_eps`` times the largest, so that near-null directions are
not blown up).  For Fisher vectors, PCA decorrelates the descriptor dimensions, which is what makes
a diagonal-covariance GMM a good model (Perronnin et al. 2010; Chatfield et al. 2011 use 80-D).

The covariance is accumulated in float64 (it is a sum over up to 10^6 descriptors), the projection
runs in float32.  Component signs are fixed (largest-magnitude entry positive) for reproducibility.

References
----------
Perronnin, F., Sánchez, J., Mensink, T. (2010). Improving the Fisher kernel for large-scale image
classification. ECCV. https://doi.org/10.1007/978-3-642-15561-1_11

Chatfield, K., Lempitsky, V., Vedaldi, A., Zisserman, A. (2011). The devil is in the details: an
evaluation of recent feature encoding methods. BMVC. https://doi.org/10.5244/C.25.76
"""
from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module
from ..validation import check_array, check_is_fitted


class PCA(TransformerMixin, BaseEstimator):
    """PCA on the array backend.

    Parameters
    ----------
    n_components : int, default=80
        Dimensions kept (at most the input's).
    whiten : bool, default=False
        Divide each projected coordinate by the square root of its eigenvalue.
    whiten_eps : float, default=1e-5
        Added to every eigenvalue, relative to the largest, before whitening.

    Attributes
    ----------
    mean_ : (D,) float32 array
    components_ : (n_components, D) float32 array
    explained_variance_ : (n_components,) float32 array
    scale_ : (n_components,) float32 array
        The whitening factors (ones without whitening).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((200, 5)) * [10, 5, 1, 0.1, 0.1]
    >>> pca = PCA(n_components=2).fit(X)
    >>> pca.transform(X).shape
    (200, 2)
    >>> np.abs(pca.components_).argmax(axis=1).tolist()     # the two directions of largest variance
    [0, 1]
    """

    def __init__(self, n_components: int = 80, *, whiten: bool = False, whiten_eps: float = 1e-5):
        self.n_components = n_components
        self.whiten = whiten
        self.whiten_eps = whiten_eps

    def fit(self, X, y=None):
        """Fit on the rows of ``X`` (n, D), n >= 2."""
        X = check_array(self, X, reset=True, min_samples=2)
        xp = array_module(X)
        n, d = X.shape
        if not 0 < self.n_components <= d:
            raise ValueError(f"n_components={self.n_components} must be in 1..{d} (the input's features)")
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
        """The projections (n, n_components) of the rows of ``X``, in ``X``'s float type."""
        check_is_fitted(self)
        return self.project(check_array(self, X, reset=False))

    def project(self, X):
        """:meth:`transform` without the input checks, for callers that made them (the encoders, image
        by image)."""
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
        """Learned state as plain arrays (for ``.npz`` files)."""
        return {"mean": self.mean_, "components": self.components_,
                "explained_variance": self.explained_variance_, "scale": self.scale_}

    @classmethod
    def from_arrays(cls, arrays: dict, whiten: bool = False) -> "PCA":
        """A fitted PCA from :meth:`to_arrays`' arrays."""
        pca = cls(n_components=len(arrays["components"]), whiten=whiten)
        pca.mean_, pca.components_ = arrays["mean"], arrays["components"]
        pca.explained_variance_, pca.scale_ = arrays["explained_variance"], arrays["scale"]
        pca.n_features_in_ = int(arrays["components"].shape[1])
        return pca
