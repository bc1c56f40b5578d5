"""Choosing the SVM's cost C by cross-validation on the training set only.

Stratified k-fold over the training images: for each C of the grid, an SVM is fitted on k - 1 folds
(its Gram matrix is the training Gram matrix's sub-block: nothing is recomputed) and scored on the
held-out fold; the C with the best mean per-class accuracy over the folds wins (the larger C on a
tie, which the order of the grid decides).  Test images are never seen.  The held-out scores
(:func:`out_of_fold_scores`) also choose the weights of fused channels (:mod:`classic.learn.fusion`).
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.model_selection import StratifiedKFold

from .metrics import mean_class_accuracy, scores_for_classes
from .svm import LinearSVM

logger = logging.getLogger(__name__)


def stratified_folds(y, cv_folds: int = 3, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit indices, held-out indices) of each of ``cv_folds`` stratified, shuffled folds of the labels ``y``."""
    y = np.asarray(y)
    return list(StratifiedKFold(cv_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def out_of_fold_scores(K, y, folds, *, C: float, n_classes: int, loss: str = "squared_hinge", tol: float = 1e-4,
                       max_iter: int = 5000, n_jobs: int = -1) -> np.ndarray:
    """(n, n_classes) scores of every training sample by the SVM of the fold that held it out.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-1, 1, (30, 4)), rng.normal(1, 1, (30, 4))])
    >>> y = np.repeat([0, 1], 30)
    >>> s = out_of_fold_scores(X @ X.T, y, stratified_folds(y), C=1.0, n_classes=2, n_jobs=1)
    >>> s.shape, bool((s.argmax(axis=1) == y).mean() > 0.8)
    ((60, 2), True)
    """
    K, y = np.asarray(K), np.asarray(y)
    scores = np.zeros((len(y), n_classes), dtype=np.float32)
    for fit_idx, val_idx in folds:
        svm = LinearSVM(C=C, loss=loss, tol=tol, max_iter=max_iter, n_jobs=n_jobs)
        svm.fit_kernel(K[np.ix_(fit_idx, fit_idx)], y[fit_idx])
        scores[val_idx] = scores_for_classes(svm.decision_function_kernel(K[np.ix_(val_idx, fit_idx)]), svm.classes_,
                                             n_classes)
    return scores


def fold_accuracy(scores, y, folds, n_classes: int) -> float:
    """Mean over the folds of the mean per-class accuracy of the held-out ``scores``."""
    y = np.asarray(y)
    return float(np.mean([mean_class_accuracy(scores[val_idx], y[val_idx], n_classes) for _, val_idx in folds]))


def choose_C(K, y, C_grid, *, n_classes: int, cv_folds: int = 3, loss: str = "squared_hinge", tol: float = 1e-4,
             max_iter: int = 5000, seed: int = 0, n_jobs: int = -1) -> tuple[float, dict]:
    """The C of ``C_grid`` with the best mean per-class accuracy in stratified k-fold CV.

    Parameters
    ----------
    K : (n, n) array
        The training Gram matrix.
    y : (n,) int array
        Training labels, in ``range(n_classes)``.
    C_grid : sequence of float
    n_classes : int
    cv_folds, seed : int
        Folds, and the seed of their shuffle.
    loss, tol, max_iter, n_jobs
        As :class:`~classic.learn.LinearSVM`.

    Returns
    -------
    best : float
    scores : dict
        ``str(C)`` -> mean per-class accuracy over the folds.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-1, 1, (30, 4)), rng.normal(1, 1, (30, 4))])
    >>> best, scores = choose_C(X @ X.T, np.repeat([0, 1], 30), [0.01, 1.0], n_classes=2, n_jobs=1)
    >>> best in (0.01, 1.0), sorted(scores)
    (True, ['0.01', '1.0'])
    """
    best, scores, _ = cross_validate_C(K, y, stratified_folds(y, cv_folds, seed), C_grid, n_classes=n_classes,
                                       loss=loss, tol=tol, max_iter=max_iter, n_jobs=n_jobs)
    return best, scores


def cross_validate_C(K, y, folds, C_grid, *, n_classes: int, **svm) -> tuple[float, dict, np.ndarray]:
    """:func:`choose_C` on given folds: (best C, ``str(C)`` -> fold accuracy, the best C's out-of-fold scores)."""
    scores, held_out = {}, {}
    for C in C_grid:
        held_out[C] = out_of_fold_scores(K, y, folds, C=C, n_classes=n_classes, **svm)
        scores[str(C)] = fold_accuracy(held_out[C], y, folds, n_classes)
        logger.info("    C = %g: %d-fold mean class accuracy %.2f%%", C, len(folds), 100 * scores[str(C)])
    best = max(C_grid, key=lambda c: scores[str(c)])
    return float(best), scores, held_out[best]
