r"""One-vs-rest linear SVM for Fisher vectors, solved in the span of the training samples.

Each class c gets a binary linear SVM (class c against all others),

.. math:: \min_{w, b} \tfrac12 \|w\|^2 + C \sum_i \ell\big(y_i (w^\top x_i + b)\big),

with :math:`\ell` the hinge or squared hinge loss.  Fisher vectors have far more dimensions than
there are training images (Caltech-101: 3,060 images x 327,680 dimensions), and a linear SVM's
solution lies in the span of the training samples (representer theorem), so the problem is solved
exactly in that span: with the linear Gram matrix :math:`K = X X^\top = U \Lambda U^\top`, the
"empirical kernel map" :math:`z(x) = \Lambda^{-1/2} U^\top X x` gives n-dimensional features with
:math:`z(x_i)^\top z(x_j) = x_i^\top x_j` for every pair of training samples, and
:math:`w^\top x = w_z^\top z(x)` for every x.  LIBLINEAR (scikit-learn's ``LinearSVC``; Fan et al.
2008) then trains on the n x n matrix of z's instead of the n x d matrix of x's: the same solution
(LIBLINEAR's bias is an extra constant feature, which only adds a constant to every inner product),
at a fraction of the memory.  The Gram matrix is one matrix product, which the experiment layer
computes block by block from the feature store.

Decision scores: :math:`s_c(x) = \sum_i \alpha_{ci} \, x_i^\top x + b_c` with
``dual_coef_`` :math:`\alpha` (classes x training samples); for raw features the weight vectors
``coef_`` = :math:`\alpha X` are formed once after fitting.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC

from ..backend import array_module, to_numpy


class LinearSVM(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM; ``fit(X, y)`` on features or ``fit_kernel(K, y)`` on the Gram matrix."""

    def __init__(self, C: float = 10.0, loss: str = "squared_hinge", tol: float = 1e-4,
                 max_iter: int = 5000, eigen_tolerance: float = 1e-10):
        self.C = C
        self.loss = loss
        self.tol = tol
        self.max_iter = max_iter
        self.eigen_tolerance = eigen_tolerance

    def fit_kernel(self, K, y):
        """Fit from the training Gram matrix K = X X^T (n x n) and labels y."""
        K = np.asarray(to_numpy(K), dtype=np.float64)
        y = np.asarray(to_numpy(y))
        K = 0.5 * (K + K.T)
        eigenvalues, eigenvectors = np.linalg.eigh(K)
        keep = eigenvalues > self.eigen_tolerance * max(eigenvalues[-1], 1e-30)
        eigenvalues, eigenvectors = eigenvalues[keep], eigenvectors[:, keep]
        Z = eigenvectors * np.sqrt(eigenvalues)
        svc = LinearSVC(C=self.C, loss=self.loss, dual=True, tol=self.tol, max_iter=self.max_iter,
                        random_state=0).fit(Z, y)
        self.classes_ = svc.classes_
        coef = svc.coef_ if len(self.classes_) > 2 else np.vstack([-svc.coef_, svc.coef_])
        intercept = svc.intercept_ if len(self.classes_) > 2 else np.array([-svc.intercept_[0], svc.intercept_[0]])
        # w_z = coef; w = X^T U Lambda^{-1/2} w_z  =>  alpha = coef Lambda^{-1/2} U^T
        self.dual_coef_ = ((coef / np.sqrt(eigenvalues)) @ eigenvectors.T).astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        self.n_iter_ = svc.n_iter_
        return self

    def fit(self, X, y):
        xp = array_module(X)
        self.fit_kernel(X @ X.T, y)
        self.coef_ = xp.asarray(self.dual_coef_).astype(X.dtype) @ X
        return self

    def decision_function_kernel(self, K_test):
        """Scores (n_test, n_classes) from K_test = X_test X_train^T."""
        xp = array_module(K_test)
        return K_test @ xp.asarray(self.dual_coef_).T.astype(K_test.dtype) + xp.asarray(self.intercept_)

    def decision_function(self, X):
        xp = array_module(X)
        return X @ self.coef_.T + xp.asarray(self.intercept_).astype(X.dtype)

    def predict(self, X):
        xp = array_module(X)
        return xp.asarray(self.classes_)[xp.argmax(self.decision_function(X), axis=1)]
