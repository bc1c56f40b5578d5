"""What the streaming one-vs-rest SVM solvers share: class weights, the held-out slice, batches read
from the store, early stopping, scoring.

Training reads the features batch by batch from any array-like indexable by a sorted index array
(the experiment layer's feature store), so the features never need to fit in memory; the arithmetic
runs on the backend of ``xp`` (NumPy or CuPy).  A solver subclass implements ``_begin`` (its state)
and ``_epoch`` (one pass over the training rows, returning the current model ``(W, b)``).

One-vs-rest is very unbalanced (1 positive for 999 negatives on ImageNet); with ``balance="equal"``
each class's positives and negatives get equal total weight, the reweighting Perronnin et al. (CVPR
2012) found essential.  Early stopping on a held-out slice of the training set picks the epoch.
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ..backend import array_module, get_backend, to_numpy
from ..validation import check_array, check_feature_count, check_is_fitted, check_target

logger = logging.getLogger(__name__)

LOSSES = ("hinge", "squared_hinge")


class StreamingLinearSVM(ClassifierMixin, BaseEstimator):
    """Base of the streaming solvers; ``coef_`` (C, d), ``intercept_`` (C,), ``history_`` (one record per
    pass: ``epoch``, the held-out mean class accuracy when there is a held-out slice, the solver's own
    measures), ``best_epoch_`` and ``selected_by_`` (what chose it: the held-out accuracy, or the last pass).

    The parameters every solver takes: ``lam`` the regularisation, ``batch_size`` the rows per matrix
    product, ``max_epochs`` the passes, ``patience`` the passes without held-out improvement before
    stopping, ``validation_fraction`` the held-out slice (0: train on everything, keep the last pass),
    ``balance`` "equal" or "none", ``loss``, ``backend`` ("numpy" or "cupy"), ``seed``.

    The fitted state is arrays only (``coef_`` and ``intercept_`` on the backend): a fitted solver
    pickles, and the solver's working state (its iterates, the dual variables) lives only during ``fit``.
    """

    @property
    def _xp(self):
        return get_backend(self.backend)[0]

    def _rows(self, X, index):
        """Rows ``index`` (sorted: sequential reads from the store) as float32 on the backend, and the order."""
        order = np.sort(index)
        return self._xp.asarray(X[order], dtype=self._xp.float32), order

    def _signs(self, labels):
        """(B, C) +1 where the row is of the class, -1 elsewhere."""
        xp = self._xp
        return xp.asarray(np.where(labels[:, None] == np.arange(len(self.classes_))[None, :], 1, -1), dtype=xp.float32)

    def _check_input(self, X, y="no_validation", reset=False):
        """Arrays are checked in full; a store (any array-like of rows with ``shape``, read in batches) by
        its shape only: checking its values would read it all."""
        if (isinstance(X, np.ndarray) or hasattr(X, "__cuda_array_interface__") or not hasattr(X, "shape")
                or scipy.sparse.issparse(X)):
            return check_array(self, X, reset=reset, y=y)
        if len(X.shape) != 2:
            raise ValueError(f"{type(self).__name__} expects rows (n, d), got shape {X.shape}")
        check_feature_count(self, X.shape[1], reset)
        checked = check_target(self, X, y)
        return checked if checked is X else (X, column_or_1d(np.asarray(y), warn=True))

    def fit(self, X, y):
        """Fit on rows ``X`` (n, d): an array, or any array-like indexable by sorted row indices (a store)."""
        xp = self._xp
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        X, y = self._check_input(X, y, reset=True)
        y = np.asarray(to_numpy(y))
        check_classification_targets(y)
        if len(y) != X.shape[0]:
            raise ValueError(f"{X.shape[0]} rows but {len(y)} labels")
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes, got 1 class")
        n, d, n_classes = len(y), X.shape[1], len(self.classes_)
        rng = np.random.default_rng(self.seed)
        held_out = _stratified_slice(labels, self.validation_fraction, rng)
        train = np.setdiff1d(np.arange(n), held_out)
        counts = np.bincount(labels[train], minlength=n_classes).astype(np.float64)
        if self.balance == "equal":          # per class: positives and negatives weigh n/2 each
            positive = len(train) / (2 * np.maximum(counts, 1))
            negative = len(train) / (2 * np.maximum(len(train) - counts, 1))
        elif self.balance == "none":
            positive = negative = np.ones(n_classes)
        else:
            raise ValueError(f"balance must be 'equal' or 'none', got {self.balance!r}")
        state = {"positive": xp.asarray(positive, dtype=xp.float32), "negative": xp.asarray(negative, dtype=xp.float32)}
        state.update(self._begin(n, n_classes, d))
        best, stale, self.history_ = None, 0, []
        # with a held-out slice, the pass with the best held-out mean class accuracy is kept (early
        # stopping; on a tie the later pass, nearer the optimum); without one there is nothing to choose
        # by, and the model is the last pass's
        self.selected_by_ = "held_out_mean_class_accuracy" if len(held_out) else "last_epoch"
        for epoch in range(1, self.max_epochs + 1):
            W, b = self._epoch(state, X, labels, train, epoch, rng)
            record = {"epoch": epoch}
            if len(held_out):
                accuracy = record["held_out_mean_class_accuracy"] = self._accuracy(X, labels, held_out, W, b)
                if best is None or accuracy > best[0]:
                    best, stale = (accuracy, W.copy(), b.copy(), epoch), 0
                else:
                    stale += 1
                    if accuracy == best[0]:
                        best = (accuracy, W.copy(), b.copy(), epoch)
            else:
                best = (None, W, b, epoch)
            self.history_.append({**record, **self._progress(state)})
            logger.info("    %s: pass %d / %d %s", type(self).__name__, epoch, self.max_epochs,
                         ", ".join(f"{k} {v:.4g}" for k, v in self.history_[-1].items()
                                   if k != "epoch" and isinstance(v, float)))
            if stale >= self.patience or self._converged(state):
                break
        self.best_epoch_ = best[3]
        self.coef_, self.intercept_ = best[1], best[2]
        return self

    def _progress(self, state) -> dict:
        """What the solver reports per pass beside the held-out accuracy."""
        return {}

    def _converged(self, state) -> bool:
        """True when the solver knows it has reached its optimum: no further pass is run."""
        return False

    @staticmethod
    def _weights(state, Y):
        """(B, C) per-row, per-class weight of the loss."""
        return array_module(Y).where(Y > 0, state["positive"], state["negative"])

    def _loss_gradient(self, state, Y, scores):
        """(B, C) derivative of each row's weighted loss (hinge: a subgradient) with respect to its scores."""
        weight = self._weights(state, Y)
        violation = array_module(Y).maximum(1 - Y * scores, 0)
        if self.loss == "hinge":
            return -(weight * Y * (violation > 0))
        return -2 * weight * Y * violation

    def _accuracy(self, X, labels, index, W, b) -> float:
        predictions = []
        for part in np.array_split(np.sort(index), max(1, len(index) // 1024)):
            rows, _ = self._rows(X, part)
            predictions.append(to_numpy((rows @ W.T + b).argmax(axis=1)))
        predictions, truth = np.concatenate(predictions), labels[np.sort(index)]
        return float(np.mean([np.mean(predictions[truth == c] == c) for c in np.unique(truth)]))

    def decision_function(self, X):
        """Scores of rows ``X`` (an array, or an array-like read in blocks): (n, C), or for two classes
        (n,), positive for ``classes_[1]`` (scikit-learn's convention)."""
        check_is_fitted(self)
        X = self._check_input(X)
        xp = self._xp
        parts = [xp.asarray(X[i:i + 1024], dtype=xp.float32) @ self.coef_.T + self.intercept_
                 for i in range(0, X.shape[0], 1024)]
        scores = xp.concatenate(parts) if parts else xp.zeros((0, len(self.classes_)), xp.float32)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X):
        """The class of highest score of each row."""
        scores = to_numpy(self.decision_function(X))
        return self.classes_[(scores > 0).astype(np.int64) if scores.ndim == 1 else scores.argmax(axis=1)]


def _stratified_slice(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """About ``fraction`` of each class (at least one image of every class with two or more), sorted."""
    if fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    chosen = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) >= 2:
            chosen.extend(members[:max(1, int(round(fraction * len(members))))])
    return np.sort(np.asarray(chosen, dtype=np.int64))
