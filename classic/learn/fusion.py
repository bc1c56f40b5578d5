r"""Combining descriptor channels, with weights chosen on the training images only.

Two ways to combine C channels whose encodings :math:`x_c` are L2-normalised:

* **early fusion**: one SVM on the weighted concatenation :math:`[\sqrt{w_1} x_1, \dots, \sqrt{w_C} x_C]`,
  whose Gram matrix is the weighted sum of the channels' Gram matrices, :math:`K = \sum_c w_c K_c`
  (so nothing is re-encoded: a fixed-weight form of multiple kernel learning, Gehler & Nowozin 2009);
* **late fusion**: one SVM per channel, their scores averaged, :math:`s = \sum_c w_c s_c`.

The weights are normalised to sum to 1 (the first channel's weight is 1 before normalising).  They
are chosen by stratified k-fold cross-validation on the training images: late fusion tries every
combination of ``grid`` values for the other channels on the channels' out-of-fold scores (each
channel's SVMs are fitted once per fold, the search itself costs no fit); early fusion needs SVMs on
each candidate's kernel, so it searches one channel at a time (coordinate ascent, two sweeps at
most), keeping a change only when it raises the cross-validated accuracy.

References
----------
Gehler, P., Nowozin, S. (2009). On feature combination for multiclass object classification. ICCV.
https://doi.org/10.1109/ICCV.2009.5459169
"""
from __future__ import annotations

import itertools

import numpy as np

from .model_selection import fold_accuracy, out_of_fold_scores

FUSION_METHODS = ("early", "late")


def normalised_weights(weights) -> np.ndarray:
    """``weights`` divided by their sum (they must be >= 0, not all 0)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"fusion weights must be >= 0 and not all 0, got {list(w)}")
    return w / w.sum()


def combine(arrays, weights):
    """:math:`\\sum_c w_c A_c` with the normalised ``weights`` (kernels for early fusion, scores for late)."""
    w = normalised_weights(weights)
    return sum(np.float32(wc) * np.asarray(a, dtype=np.float32) for wc, a in zip(w, arrays) if wc > 0)


def late_fusion_weights(channel_scores, y, folds, grid, *, n_classes: int) -> tuple[np.ndarray, dict]:
    """The weights (first channel 1, the others from ``grid``) whose combination of the channels'
    out-of-fold ``channel_scores`` has the best fold accuracy; returns (normalised weights, {weights: accuracy}).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat([0, 1], 10)
    >>> good = np.stack([-(y - 0.5), y - 0.5], axis=1)             # scores that rank every sample right
    >>> noise = np.random.default_rng(0).normal(size=(20, 2))
    >>> folds = [(np.arange(20), np.arange(20))]
    >>> w, tried = late_fusion_weights([good, noise], y, folds, [0, 1], n_classes=2)
    >>> w.tolist(), len(tried)
    ([1.0, 0.0], 2)
    """
    tried = {}
    best, best_accuracy = None, -1.0
    for others in itertools.product(sorted(set(grid)), repeat=len(channel_scores) - 1):
        weights = (1.0,) + tuple(float(v) for v in others)
        accuracy = fold_accuracy(combine(channel_scores, weights), y, folds, n_classes)
        tried[json_key(weights)] = accuracy
        if accuracy > best_accuracy:               # the first of equals: the grid is sorted, smaller weights win
            best, best_accuracy = weights, accuracy
    return normalised_weights(best), tried


def early_fusion_weights(kernels, y, folds, grid, *, C: float, n_classes: int, **svm) -> tuple[np.ndarray, dict]:
    """Coordinate ascent over ``grid`` for each channel after the first (from all weights 1): the
    weights of the best fold accuracy of SVMs on :math:`\\sum_c w_c K_c`; returns (normalised weights,
    {weights: accuracy} of every candidate tried).  ``svm``: :class:`~classic.learn.LinearSVM`'s other settings."""
    tried = {}

    def accuracy(weights):
        key = json_key(weights)
        if key not in tried:
            tried[key] = fold_accuracy(out_of_fold_scores(combine(kernels, weights), y, folds, C=C,
                                                          n_classes=n_classes, **svm), y, folds, n_classes)
        return tried[key]
    weights = [1.0] * len(kernels)
    best_accuracy = accuracy(weights)
    for _ in range(2):
        changed = False
        for c in range(1, len(kernels)):
            for value in sorted(set(grid)):
                candidate = weights[:c] + [float(value)] + weights[c + 1:]
                if sum(candidate) > 0 and accuracy(candidate) > best_accuracy:
                    weights, best_accuracy, changed = candidate, accuracy(candidate), True
        if not changed:
            break
    return normalised_weights(weights), tried


def json_key(weights) -> str:
    """A weight vector as a short string key (for the JSON record of what was tried)."""
    return ",".join(f"{w:.4g}" for w in weights)
