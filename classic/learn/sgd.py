r"""One-vs-rest linear SVMs for all classes at once, by mini-batch SGD (Perronnin et al., CVPR 2012).

For each class c, with :math:`y_{ic} = +1` if image i is of class c and :math:`-1` otherwise,

.. math:: \min_{w_c, b_c} \; \frac{\lambda}{2} \lVert w_c \rVert^2
          + \frac{1}{n} \sum_i \omega_{ic} \max\big(0, 1 - y_{ic} (w_c^\top x_i + b_c)\big),

or with the squared hinge :math:`\max(0, \cdot)^2` (``loss="squared_hinge"``, LIBLINEAR's default).
All C problems are solved together: a mini-batch's scores are one matrix product
:math:`S = X_B W^\top + b` (B x C), the hinge's subgradient
:math:`G = -\,\Omega \odot Y \odot [Y \odot S < 1]` another, and the
step is :math:`W \leftarrow (1 - \eta_t \lambda) W - \eta_t G^\top X_B / B` with
:math:`\eta_t = \eta_0 / (1 + \lambda \eta_0 t)` (Bottou 2010).  One-vs-rest is very unbalanced (1
positive for 999 negatives on ImageNet); the weights :math:`\omega` give each class's positives and
negatives equal total weight (``balance="equal"``), the reweighting Perronnin et al. found essential.
With ``average=True`` the model is the running average of the iterates from the second epoch on
(averaged SGD: Polyak & Juditsky 1992; Bottou 2010), which removes most of the noise that the
heavily weighted positives put into single iterates.  Early stopping on a held-out slice of the
training set picks the epoch (Perronnin et al. found it to work as well as tuning :math:`\lambda`).
Memory holds W and one batch: it does not grow with the number of training images.

On a few thousand training images of 10^5 dimensions (Caltech-101) SGD converges slowly: the
dual coordinate solver (:mod:`classic.learn.dcd`) reaches the same objective's optimum in a few passes.
"""
from __future__ import annotations

import numpy as np

from .streaming import StreamingLinearSVM


class SGDLinearSVM(StreamingLinearSVM):
    """``fit(X, y)`` with X (n, d) array-like (rows are read per batch); ``coef_`` (C, d), ``intercept_`` (C,)."""

    def __init__(self, lam: float = 1e-5, eta0: float = 1.0, batch_size: int = 256, max_epochs: int = 30,
                 patience: int = 5, validation_fraction: float = 0.1, balance: str = "equal",
                 average: bool = True, loss: str = "hinge", backend: str = "numpy", seed: int = 0):
        super().__init__(lam, batch_size, max_epochs, patience, validation_fraction, balance, loss, backend, seed)
        self.eta0 = eta0
        self.average = average

    def _begin(self, n, n_classes, d):
        xp = self.xp_
        self.W_, self.b_ = xp.zeros((n_classes, d), dtype=xp.float32), xp.zeros(n_classes, dtype=xp.float32)
        self.W_mean_, self.b_mean_ = self.W_.copy(), self.b_.copy()
        self.t_, self.averaged_ = 0, 0

    def _epoch(self, X, labels, train, epoch, rng):
        xp, W, b = self.xp_, self.W_, self.b_
        for batch in np.array_split(rng.permutation(train), max(1, len(train) // self.batch_size)):
            rows, order = self._rows(X, batch)
            Y = self._signs(labels[order])
            violation = xp.maximum(1 - Y * (rows @ W.T + b), 0)
            weight = self._weights(Y)
            if self.loss == "hinge":                                # (B, C) subgradient of the loss
                G = -(weight * Y * (violation > 0))
            else:
                G = -2 * weight * Y * violation
            eta = self.eta0 / (1 + self.lam * self.eta0 * self.t_)
            W *= 1 - eta * self.lam
            W -= (eta / len(batch)) * (G.T @ rows)
            b -= (eta / len(batch)) * G.sum(axis=0)
            self.t_ += 1
            if self.average and epoch > 1:             # the first epoch's iterates are far from the optimum
                self.averaged_ += 1
                self.W_mean_ += (W - self.W_mean_) / self.averaged_
                self.b_mean_ += (b - self.b_mean_) / self.averaged_
        return (self.W_mean_, self.b_mean_) if self.average and epoch > 1 else (W, b)
