r"""One-vs-rest linear SVMs for all classes at once, by mini-batch SGD (Perronnin et al., CVPR 2012).

For each class c, with :math:`y_{ic} = +1` if image i is of class c and :math:`-1` otherwise,

.. math:: \min_{w_c, b_c} \; \frac{\lambda}{2} \lVert w_c \rVert^2
          + \frac{1}{n} \sum_i \omega_{ic} \max\big(0, 1 - y_{ic} (w_c^\top x_i + b_c)\big),

or with the squared hinge :math:`\max(0, \cdot)^2` (``loss="squared_hinge"``, LIBLINEAR's default).
All C problems are solved together: a mini-batch's scores are one matrix product
:math:`S = X_B W^\top + b` (B x C), the hinge's subgradient :math:`G = -\,\Omega \odot Y \odot [Y \odot S < 1]` another, and the
step is :math:`W \leftarrow (1 - \eta_t \lambda) W - \eta_t G^\top X_B / B` with
:math:`\eta_t = \eta_0 / (1 + \lambda \eta_0 t)` (Bottou 2010).  One-vs-rest is very unbalanced (1
positive for 999 negatives on ImageNet); the weights :math:`\omega` give each class's positives and
negatives equal total weight (``balance="equal"``), the reweighting Perronnin et al. found essential.
With ``average=True`` the model is the running average of the iterates from the second epoch on
(averaged SGD: Polyak & Juditsky 1992; Bottou 2010), which removes most of the noise that the
heavily weighted positives put into single iterates.  Early stopping on a held-out slice of the
training set picks the epoch (Perronnin et al. found it to work as well as tuning :math:`\lambda`).

Training reads the features batch by batch from any array-like indexable by a sorted index array
(a ``numpy.memmap``, the experiment layer's feature store), so memory does not grow with the number
of training images; the arithmetic runs on the backend of ``xp`` (NumPy or CuPy).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..backend import get_backend, to_numpy


class SGDLinearSVM(ClassifierMixin, BaseEstimator):
    """``fit(X, y)`` with X (n, d) array-like (rows are read per batch); ``coef_`` (C, d), ``intercept_`` (C,)."""

    def __init__(self, lam: float = 1e-5, eta0: float = 1.0, batch_size: int = 256, max_epochs: int = 30,
                 patience: int = 5, validation_fraction: float = 0.1, balance: str = "equal",
                 average: bool = True, loss: str = "hinge", backend: str = "numpy", seed: int = 0):
        self.lam = lam
        self.eta0 = eta0
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.balance = balance
        self.average = average
        self.loss = loss
        self.backend = backend
        self.seed = seed

    def _rows(self, X, index):
        """Rows ``index`` (sorted: sequential reads from a memory-mapped store) as float32 on the backend."""
        order = np.sort(index)
        return self.xp_.asarray(X[order], dtype=self.xp_.float32), order

    def fit(self, X, y):
        xp, _ = get_backend(self.backend)
        self.xp_ = xp
        if self.loss not in ("hinge", "squared_hinge"):
            raise ValueError(f"loss must be 'hinge' or 'squared_hinge', got {self.loss!r}")
        y = np.asarray(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
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
        positive, negative = xp.asarray(positive, dtype=xp.float32), xp.asarray(negative, dtype=xp.float32)
        W = xp.zeros((n_classes, d), dtype=xp.float32)
        b = xp.zeros(n_classes, dtype=xp.float32)
        W_mean, b_mean, averaged = W.copy(), b.copy(), 0
        best = (-1.0, W.copy(), b.copy(), 0)
        self.history_, t, stale = [], 0, 0
        for epoch in range(1, self.max_epochs + 1):
            for batch in np.array_split(rng.permutation(train), max(1, len(train) // self.batch_size)):
                rows, order = self._rows(X, batch)
                Y = xp.asarray(np.where(labels[order][:, None] == np.arange(n_classes)[None, :], 1, -1),
                               dtype=xp.float32)
                margin = Y * (rows @ W.T + b)
                weight = xp.where(Y > 0, positive, negative)
                violation = xp.maximum(1 - margin, 0)
                if self.loss == "hinge":                                # (B, C) subgradient of the loss
                    G = -(weight * Y * (violation > 0))
                else:
                    G = -2 * weight * Y * violation
                eta = self.eta0 / (1 + self.lam * self.eta0 * t)
                W *= 1 - eta * self.lam
                W -= (eta / len(batch)) * (G.T @ rows)
                b -= (eta / len(batch)) * G.sum(axis=0)
                t += 1
                if self.average and epoch > 1:             # the first epoch's iterates are far from the optimum
                    averaged += 1
                    W_mean += (W - W_mean) / averaged
                    b_mean += (b - b_mean) / averaged
            model = (W_mean, b_mean) if self.average and epoch > 1 else (W, b)
            accuracy = self._accuracy(X, labels, held_out, *model) if len(held_out) else float(epoch)
            self.history_.append({"epoch": epoch, "held_out_mean_class_accuracy": accuracy})
            if accuracy > best[0]:
                best, stale = (accuracy, model[0].copy(), model[1].copy(), epoch), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        self.best_epoch_ = best[3]
        self.coef_, self.intercept_ = best[1], best[2]
        return self

    def _accuracy(self, X, labels, index, W, b) -> float:
        predictions = []
        for part in np.array_split(np.sort(index), max(1, len(index) // 1024)):
            rows, _ = self._rows(X, part)
            predictions.append(to_numpy((rows @ W.T + b).argmax(axis=1)))
        predictions, truth = np.concatenate(predictions), labels[np.sort(index)]
        return float(np.mean([np.mean(predictions[truth == c] == c) for c in np.unique(truth)]))

    def decision_function(self, X):
        """Scores (n, C) of rows X (an array on the estimator's backend, or array-like read in blocks)."""
        xp = self.xp_
        parts = [xp.asarray(X[i:i + 1024], dtype=xp.float32) @ self.coef_.T + self.intercept_
                 for i in range(0, X.shape[0], 1024)]
        return xp.concatenate(parts) if parts else xp.zeros((0, len(self.classes_)), xp.float32)

    def predict(self, X):
        return self.classes_[to_numpy(self.decision_function(X)).argmax(axis=1)]


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
