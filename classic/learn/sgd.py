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

References
----------
Perronnin, F., Akata, Z., Harchaoui, Z., Schmid, C. (2012). Towards good practice in large-scale
learning for image classification. CVPR. https://doi.org/10.1109/CVPR.2012.6248090

Bottou, L. (2010). Large-scale machine learning with stochastic gradient descent. COMPSTAT.
https://doi.org/10.1007/978-3-7908-2604-3_16

Polyak, B. T., Juditsky, A. B. (1992). Acceleration of stochastic approximation by averaging. SIAM J.
Control and Optimization 30(4). https://doi.org/10.1137/0330046
"""
from __future__ import annotations

import numpy as np

from .streaming import StreamingLinearSVM


class SGDLinearSVM(StreamingLinearSVM):
    r"""One-vs-rest linear SVMs by mini-batch (averaged) SGD, streaming the rows of ``X``.

    Parameters
    ----------
    lam : float, default=1e-5
        Regularisation :math:`\lambda`.
    eta0 : float, default=1.0
        Initial step.
    batch_size, max_epochs, patience, validation_fraction, balance, loss, backend, seed
        See :class:`~classic.learn.streaming.StreamingLinearSVM`.
    average : bool, default=True
        Averaged iterates (ASGD) from the second epoch on.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-2, 1, (100, 5)), rng.normal(2, 1, (100, 5))]).astype(np.float32)
    >>> y = np.repeat([0, 1], 100)
    >>> svm = SGDLinearSVM(lam=1e-3, batch_size=32, max_epochs=10).fit(X, y)
    >>> float((svm.predict(X) == y).mean()) > 0.95
    True
    """

    def __init__(self, lam: float = 1e-5, *, eta0: float = 1.0, batch_size: int = 256, max_epochs: int = 30,
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

    def _begin(self, n, n_classes, d):
        xp = self._xp
        W, b = xp.zeros((n_classes, d), dtype=xp.float32), xp.zeros(n_classes, dtype=xp.float32)
        return {"W": W, "b": b, "W_mean": W.copy(), "b_mean": b.copy(), "t": 0, "averaged": 0}

    def _epoch(self, state, X, labels, train, epoch, rng):
        W, b = state["W"], state["b"]
        for batch in np.array_split(rng.permutation(train), max(1, len(train) // self.batch_size)):
            rows, order = self._rows(X, batch)
            Y = self._signs(labels[order])
            G = self._loss_gradient(state, Y, rows @ W.T + b)
            eta = self.eta0 / (1 + self.lam * self.eta0 * state["t"])
            W *= 1 - eta * self.lam
            W -= (eta / len(batch)) * (G.T @ rows)
            b -= (eta / len(batch)) * G.sum(axis=0)
            state["t"] += 1
            if self.average and epoch > 1:             # the first epoch's iterates are far from the optimum
                state["averaged"] += 1
                state["W_mean"] += (W - state["W_mean"]) / state["averaged"]
                state["b_mean"] += (b - state["b_mean"]) / state["averaged"]
        return (state["W_mean"], state["b_mean"]) if self.average and epoch > 1 else (W, b)
