r"""One-vs-rest linear SVM for Fisher vectors, solved in the span of the training samples.

Each class c gets a binary linear SVM (class c against all others),

.. math:: \min_{w, b} \tfrac12 \|w\|^2 + C \sum_i \ell\big(y_i (w^\top x_i + b)\big),

with :math:`\ell` the hinge or squared hinge loss.  Fisher vectors have far more dimensions than
there are training images (Caltech-101: 3,060 images x 327,680 dimensions), and a linear SVM's
solution lies in the span of the training samples (representer theorem), so the problem is solved
exactly in that span: any factorisation of the linear Gram matrix :math:`K = X X^\top = Z Z^\top`
(Z: n x n) gives an "empirical kernel map" :math:`z(x) = Z^{-1} X x` with
:math:`z(x_i)^\top z(x_j) = x_i^\top x_j` for every pair of training samples, and
:math:`w^\top x = w_z^\top z(x)` for every x.  LIBLINEAR (scikit-learn's ``LinearSVC``; Fan et al.
2008) then trains on the n x n rows of Z instead of the n x d matrix of x's: the same solution
(the SVM's dual sees the data only through inner products; LIBLINEAR's bias is an extra constant
feature, which only adds a constant to every one of them), at a fraction of the memory.  Z is the
Cholesky factor :math:`K = L L^\top`: n^3 / 3 flops (an eigendecomposition :math:`U \Lambda^{1/2}`
costs ~10 times as much), and, being triangular, half zeros, which LIBLINEAR skips: on the
Caltech-101 Gram matrix (3,060 images) LIBLINEAR ran twice as fast on L as on
:math:`U \Lambda^{1/2}`, with the same scores (benchmarks/README.md, "Design measurements").
When K is (numerically) singular, e.g. with more images than dimensions, the eigendecomposition's
positive part is used instead.  The classes' one-vs-rest problems are independent and run in
groups on ``n_jobs`` processes.  The Gram matrix is one matrix product, which the experiment layer
computes block by block from the feature store.

Decision scores: :math:`s_c(x) = \sum_i \alpha_{ci} \, x_i^\top x + b_c` with
``dual_coef_`` :math:`\alpha` (classes x training samples); for raw features the weight vectors
``coef_`` = :math:`\alpha X` are formed once after fitting.

References
----------
Fan, R.-E., Chang, K.-W., Hsieh, C.-J., Wang, X.-R., Lin, C.-J. (2008). LIBLINEAR: a library for large
linear classification. JMLR 9. https://www.jmlr.org/papers/v9/fan08a.html

Schölkopf, B., Herbrich, R., Smola, A. J. (2001). A generalized representer theorem. COLT.
https://doi.org/10.1007/3-540-44581-1_27
"""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from numpy.linalg import LinAlgError
from scipy.linalg import cholesky, solve_triangular
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC

from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ..backend import array_module, to_numpy
from ..validation import check_array, check_is_fitted

# classes per LIBLINEAR run (see LinearSVM._one_vs_rest): Caltech-101's 102 classes make 2 runs, one per
# core on a 2-core machine.  Smaller groups cost more in all: each adds one "rest" problem
# (benchmarks/README.md, "Design measurements")
_GROUP_SIZE = 64


class LinearSVM(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM; ``fit(X, y)`` on features or ``fit_kernel(K, y)`` on the Gram matrix.

    Parameters
    ----------
    C : float, default=10.0
        Cost of the loss (LIBLINEAR's C).
    loss : {"squared_hinge", "hinge"}, default="squared_hinge"
    tol : float, default=1e-4
        LIBLINEAR's stopping tolerance.
    max_iter : int, default=5000
        LIBLINEAR's passes at most.
    eigen_tolerance : float, default=1e-10
        Below this share of the largest eigenvalue the Gram matrix counts as singular.
    n_jobs : int, default=-1
        Processes for the classes' problems (-1: all cores; the result does not depend on it).

    Attributes
    ----------
    classes_ : (C,) array
    dual_coef_ : (C, n_train) float32 array
    intercept_ : (C,) float32 array
    coef_ : (C, d) array
        Only after ``fit`` on features.
    n_iter_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-2, 1, (40, 5)), rng.normal(2, 1, (40, 5)), rng.normal(0, 1, (40, 5)) + [0, 0, 6, 0, 0]])
    >>> y = np.repeat([0, 1, 2], 40)
    >>> svm = LinearSVM(C=1.0, n_jobs=1).fit(X, y)
    >>> float((svm.predict(X) == y).mean()) > 0.95
    True
    >>> K = X @ X.T                                   # the same SVM from the Gram matrix alone
    >>> kernel_svm = LinearSVM(C=1.0, n_jobs=1).fit_kernel(K, y)
    >>> bool(np.allclose(kernel_svm.decision_function_kernel(K), svm.decision_function(X), atol=1e-3))
    True
    """

    def __init__(self, C: float = 10.0, *, loss: str = "squared_hinge", tol: float = 1e-4,
                 max_iter: int = 5000, eigen_tolerance: float = 1e-10, n_jobs: int = -1):
        self.C = C
        self.loss = loss
        self.tol = tol
        self.max_iter = max_iter
        self.eigen_tolerance = eigen_tolerance
        self.n_jobs = n_jobs

    def _kernel_map(self, K):
        """(Z, to_dual): Z Z^T = K (n x r), and the map from weights on z to coefficients on the samples."""
        try:
            L = cholesky(K, lower=True)
            # a pivot this small means a sample (nearly) in the span of the previous ones: K is singular
            if L.diagonal().min() ** 2 > self.eigen_tolerance * K.diagonal().max():
                # w_z^T z(x) = w_z^T L^{-1} X x  =>  alpha = w_z^T L^{-1}, i.e. L^T alpha^T = w_z^T
                return L, lambda coef: solve_triangular(L, coef.T, lower=True, trans="T").T
        except LinAlgError:
            pass
        eigenvalues, eigenvectors = np.linalg.eigh(K)
        keep = eigenvalues > self.eigen_tolerance * max(eigenvalues[-1], 1e-30)
        eigenvalues, eigenvectors = eigenvalues[keep], eigenvectors[:, keep]
        # w = X^T U Lambda^{-1/2} w_z  =>  alpha = w_z Lambda^{-1/2} U^T
        return eigenvectors * np.sqrt(eigenvalues), lambda coef: (coef / np.sqrt(eigenvalues)) @ eigenvectors.T

    def _one_vs_rest(self, Z, y, classes):
        """(coef (n_classes, r), intercept, n_iter) of every class against the rest.

        The classes go in fixed groups of at most ``_GROUP_SIZE``, each group one LIBLINEAR run, the
        groups spread over ``n_jobs`` processes (LIBLINEAR draws its coordinate order from one global
        generator, which threads would share: processes keep each group's result independent of the
        others and of ``n_jobs``).
        """
        index = np.searchsorted(classes, y)
        n_groups = 1 if len(classes) <= 2 else -(-len(classes) // _GROUP_SIZE)
        groups = np.array_split(np.arange(len(classes)), n_groups)
        options = dict(C=self.C, loss=self.loss, dual=True, tol=self.tol, max_iter=self.max_iter, random_state=0)
        jobs = min(effective_n_jobs(self.n_jobs), len(groups))
        parts = Parallel(n_jobs=jobs)(delayed(_fit_group)(Z, index, members, len(classes), options)
                                      for members in groups)
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                max(p[2] for p in parts))

    def fit_kernel(self, K, y):
        """Fit from the training Gram matrix K = X X^T (n x n) and labels y."""
        K = np.asarray(to_numpy(K), dtype=np.float64)
        y = column_or_1d(np.asarray(to_numpy(y)), warn=True)
        if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] != len(y):
            raise ValueError(f"fit_kernel takes the (n, n) Gram matrix of n = {len(y)} labelled samples, got {K.shape}")
        if not np.isfinite(K).all():
            raise ValueError("the Gram matrix contains NaN or infinity")
        check_classification_targets(y)
        K = 0.5 * (K + K.T)
        Z, to_dual = self._kernel_map(K)
        self.classes_ = np.unique(y)
        coef, intercept, self.n_iter_ = self._one_vs_rest(Z, y, self.classes_)
        self.dual_coef_ = to_dual(coef).astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        return self

    def fit(self, X, y):
        """Fit on features ``X`` (n, d) and labels ``y``: on their Gram matrix, then ``coef_`` = alpha X."""
        X, y = check_array(self, X, reset=True, y=y)
        xp = array_module(X)
        self.fit_kernel(X @ X.T, y)
        self.coef_ = xp.asarray(self.dual_coef_).astype(X.dtype) @ X
        return self

    def set_fitted(self, coef, intercept, classes):
        """This SVM with given weights ``coef`` (n_classes, d), biases and class labels (e.g. a trained
        model read back from its files): ``decision_function`` and ``predict`` on features then work
        as after ``fit``; the arrays stay on their backend."""
        xp = array_module(coef)
        coef, classes = xp.asarray(coef), np.asarray(classes)
        if coef.ndim != 2 or coef.shape[0] != len(classes) or np.shape(intercept) != (len(classes),):
            raise ValueError(f"coef must be (n_classes, d) and intercept (n_classes,) for {len(classes)} classes, "
                             f"got {coef.shape} and {np.shape(intercept)}")
        self.coef_, self.intercept_, self.classes_ = coef, xp.asarray(intercept), classes
        self.n_features_in_ = int(coef.shape[1])
        return self

    def _binary(self, scores):
        # scikit-learn's convention: one column for two classes, positive for classes_[1]
        return scores[:, 1] if len(self.classes_) == 2 else scores

    def decision_function_kernel(self, K_test):
        """Scores from K_test = X_test X_train^T: (n_test, n_classes), or (n_test,) for two classes."""
        check_is_fitted(self, "dual_coef_")
        xp = array_module(K_test)
        if K_test.ndim != 2 or K_test.shape[1] != self.dual_coef_.shape[1]:
            raise ValueError(f"K_test must be (n_test, {self.dual_coef_.shape[1]}) (against the training samples), "
                             f"got {K_test.shape}")
        return self._binary(K_test @ xp.asarray(self.dual_coef_).T.astype(K_test.dtype) + xp.asarray(self.intercept_))

    def decision_function(self, X):
        """Scores of features ``X``: (n, n_classes), or (n,) for two classes."""
        check_is_fitted(self, "coef_")
        X = check_array(self, X, reset=False)
        xp = array_module(X)
        return self._binary(X @ self.coef_.T.astype(X.dtype) + xp.asarray(self.intercept_).astype(X.dtype))

    def predict(self, X):
        """The class of highest score of each row of ``X``."""
        scores = self.decision_function(X)
        xp = array_module(scores)
        index = (scores > 0).astype(xp.int64) if scores.ndim == 1 else xp.argmax(scores, axis=1)
        return xp.asarray(self.classes_)[index]


def _fit_group(Z, index, members, n_classes, options):
    """LIBLINEAR's own one-vs-rest over the classes ``members`` (of ``index``, the samples' class
    indices), the other classes' samples under one extra label (-1), a negative for all of them (its
    own problem is fitted too, and dropped): (coef, intercept, n_iter) of the members."""
    labels = np.where(np.isin(index, members), index, -1) if len(members) < n_classes else index
    svc = LinearSVC(**options).fit(Z, labels)
    coef, intercept = svc.coef_, svc.intercept_
    if len(svc.classes_) == 2:      # LIBLINEAR's binary model: one vector, for the second label
        coef, intercept = np.vstack([-coef, coef]), np.array([-intercept[0], intercept[0]])
    rows = np.searchsorted(svc.classes_, members)
    return coef[rows], intercept[rows], int(svc.n_iter_)
