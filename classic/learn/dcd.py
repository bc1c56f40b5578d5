r"""One-vs-rest linear SVMs for all classes at once, by dual coordinate descent over mini-batches
streamed from the store (Hsieh et al., ICML 2008 — LIBLINEAR's solver — with the updates of a batch
applied to W in one matrix product).

The primal problem is the one :mod:`classic.learn.sgd` solves, per class c,

.. math:: \min_{w_c} \; \frac{\lambda}{2} \lVert w_c \rVert^2 + \frac{1}{n} \sum_i \omega_{ic}\,
          \ell\big(y_{ic}\, w_c^\top \tilde x_i\big), \qquad \tilde x_i = (x_i, 1),

(the bias is a constant feature, regularised as in LIBLINEAR) with :math:`\ell` the hinge or the
squared hinge.  Multiplied by :math:`1/\lambda` it is LIBLINEAR's form with per-sample costs
:math:`C_{ic} = \omega_{ic} / (\lambda n)`, whose dual is

.. math:: \min_{\alpha} \tfrac12 \alpha^\top (Q + D) \alpha - \mathbf 1^\top \alpha,
          \quad 0 \le \alpha_i \le U_i, \qquad Q_{ij} = y_i y_j \tilde x_i^\top \tilde x_j,
          \quad w = \textstyle\sum_i \alpha_i y_i \tilde x_i,

with :math:`U_i = C_i, D_{ii} = 0` (hinge) or :math:`U_i = \infty, D_{ii} = 1/(2 C_i)` (squared
hinge).  One coordinate's exact minimiser is
:math:`\alpha_i \leftarrow \min(\max(\alpha_i - g_i / (Q_{ii} + D_{ii}), 0), U_i)` with
:math:`g_i = y_i w^\top \tilde x_i - 1 + D_{ii} \alpha_i`: no step size to tune, and every pass lowers
the objective.  A batch of B rows costs two matrix products, as an SGD step does: the scores
:math:`S = X_B W^\top` and, after the coordinates, :math:`W \mathrel{+}= \Delta^\top X_B`; in between,
the B coordinates are visited one after the other for all classes at once, each update reaching the
later rows' scores through the batch's Gram matrix :math:`X_B X_B^\top` (B x B), so the result is
exactly sequential coordinate descent.

The dual variables take n x C floats (ImageNet: 1.28 M x 1,000 x 4 bytes = 5 GB), the price of
convergence in a few passes where SGD needs many on few, high-dimensional samples.  They live in
host memory, or in any zero-filled array-like given to ``fit(..., dual=...)`` that reads and writes
rows by index (the experiment layer passes a file), so that memory need not grow with n; only the
batch's rows visit the backend.

References
----------
Hsieh, C.-J., Chang, K.-W., Lin, C.-J., Keerthi, S. S., Sundararajan, S. (2008). A dual coordinate
descent method for large-scale linear SVM. ICML. https://doi.org/10.1145/1390156.1390208
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from .streaming import StreamingLinearSVM


class DualCoordinateSVM(StreamingLinearSVM):
    r"""One-vs-rest linear SVMs by dual coordinate descent over streamed mini-batches.

    Parameters
    ----------
    lam : float, default=1e-4
        Regularisation :math:`\lambda` (the primal problem of :class:`~classic.learn.SGDLinearSVM`).
    tol : float, default=0.1
        Stop when the largest projected gradient fell to this share of the first pass's.
    batch_size, max_epochs, patience, validation_fraction, balance, loss, backend, seed
        See :class:`~classic.learn.streaming.StreamingLinearSVM`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(1).normal(size=(150, 4)).astype(np.float32)
    >>> y = np.repeat([0, 1, 2], 50)
    >>> X[np.arange(150), y] += 4                       # class c lies along axis c
    >>> svm = DualCoordinateSVM(lam=1e-2, batch_size=50).fit(X, y)
    >>> svm.decision_function(X).shape, float((svm.predict(X) == y).mean()) > 0.95
    ((150, 3), True)
    """

    def __init__(self, lam: float = 1e-4, *, batch_size: int = 256, max_epochs: int = 30, patience: int = 5,
                 validation_fraction: float = 0.1, balance: str = "equal", loss: str = "hinge", tol: float = 0.1,
                 backend: str = "numpy", seed: int = 0):
        self.lam = lam
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.balance = balance
        self.loss = loss
        self.tol = tol
        self.backend = backend
        self.seed = seed

    def fit(self, X, y, dual=None):
        """``dual``: optional zero-filled (n, n_classes) float32 array-like for the dual variables (for
        instance a file, so that memory does not grow with n); used during ``fit`` only."""
        self._dual = dual
        try:
            return super().fit(X, y)
        finally:
            del self._dual

    def _begin(self, n, n_classes, d):
        xp = self._xp
        alpha = self._dual if self._dual is not None else np.zeros((n, n_classes), dtype=np.float32)
        return {"W": xp.zeros((n_classes, d), dtype=xp.float32), "b": xp.zeros(n_classes, dtype=xp.float32),
                "alpha": alpha, "violations": []}

    def _epoch(self, state, X, labels, train, epoch, rng):
        xp, W, b, dual = self._xp, state["W"], state["b"], state["alpha"]
        cost_scale = 1.0 / (self.lam * len(train))            # C_ic = omega_ic / (lambda n)
        worst = xp.zeros((), dtype=xp.float32)                # largest projected gradient of the pass
        for batch in np.array_split(rng.permutation(train), max(1, len(train) // self.batch_size)):
            rows, order = self._rows(X, batch)
            Y = self._signs(labels[order])
            cost = cost_scale * self._weights(state, Y)                          # (B, C)
            if self.loss == "hinge":
                upper, diagonal = cost, xp.zeros_like(cost)
            else:
                upper, diagonal = xp.full_like(cost, xp.inf), 0.5 / cost
            gram = rows @ rows.T + 1                                             # x~_i . x~_j
            scores = rows @ W.T + b
            alpha = xp.asarray(dual[order])
            change = xp.zeros_like(alpha)
            for j in range(len(order)):
                gradient = Y[j] * scores[j] - 1 + diagonal[j] * alpha[j]
                projected = xp.where(alpha[j] <= 0, xp.minimum(gradient, 0),
                                     xp.where(alpha[j] >= upper[j], xp.maximum(gradient, 0), gradient))
                worst = xp.maximum(worst, xp.abs(projected).max())
                updated = xp.clip(alpha[j] - gradient / (gram[j, j] + diagonal[j]), 0, upper[j])
                change[j] = (updated - alpha[j]) * Y[j]
                alpha[j] = updated
                scores += gram[:, j:j + 1] * change[j][None, :]
            dual[order] = to_numpy(alpha)
            W += change.T @ rows
            b += change.sum(axis=0)
        state["violations"].append(float(worst))
        return W, b

    def _progress(self, state) -> dict:
        return {"max_projected_gradient": state["violations"][-1]}

    def _converged(self, state) -> bool:
        """LIBLINEAR's stopping rule, relative: the largest violation of the optimality conditions
        (projected gradient) fell below ``tol`` times that of the first pass."""
        violations = state["violations"]
        return len(violations) > 1 and violations[-1] <= self.tol * violations[0]
