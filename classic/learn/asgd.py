r"""One-vs-rest linear SVMs by averaged stochastic gradient descent (ASGD: Xu 2011; Bottou 2010), the
solver of the NEC-UIUC ILSVRC-2010 entry (Lin et al. 2011: "typically 5 epochs are sufficient").

The problem is the one :mod:`classic.learn.dcd` solves, for all classes c at once:

.. math:: \min_{W, b} \; P(W, b) = \frac{\lambda}{2} \lVert W \rVert^2 + \frac{1}{n} \sum_i \sum_c \omega_{ic}\,
          \ell\big(y_{ic}\, (w_c^\top x_i + b_c)\big),

with :math:`\ell` the hinge or the squared hinge and the class weights :math:`\omega` of
:mod:`classic.learn.streaming`, and the bias regularised as the weight of a constant feature
(:math:`+\frac{\lambda}{2}\lVert b \rVert^2`, as LIBLINEAR does; not with ``centre=True``, below).  With
:math:`\lambda = 1 / (C n)` and ``balance="none"`` it is LIBLINEAR's problem with cost C, so its optimum
is the kernel solver's.

Each step takes a mini-batch B, its loss gradient :math:`G_B` (C x d, one matrix product) and

.. math:: W_{t+1} = (1 - \eta_t \lambda) W_t - \eta_t G_B, \qquad
          \eta_t = \eta_0 (1 + \lambda \eta_0 t)^{-3/4},

the schedule Xu (2011) proves right for averaging (a plain SGD's :math:`1/t` decay is too fast for
it: the average would be of iterates that barely move); the model is the running average
:math:`\bar W_t = \bar W_{t-1} + (W_t - \bar W_{t-1}) / (t - t_0)` of the iterates after ``average_start``
epochs, which converges to the optimum at the rate of the best second-order method of one pass
(Polyak & Juditsky 1992), where single iterates keep jumping by :math:`\eta_t G`.

**The step is bounded by the curvature.**  At the start, W = 0, every row violates every class's
margin: the squared hinge's Hessian is then :math:`\frac{2}{n}\sum_i \omega_{ic}\, \tilde x_i \tilde x_i^\top`, and
a gradient step is stable only for :math:`\eta < 1 / \lambda_{\max}(\frac{1}{n}\sum_i \omega_{ic}\, \tilde x_i
\tilde x_i^\top)`, the largest over the classes.  With :math:`\tilde x = (x, 1)` (the bias a constant
feature) that eigenvalue is the mean direction's: Fisher vectors are L2-normalised and far from
centred, 1.09 against <= 0.11 for the next one, so the step stays below 0.92 (a step above it
oscillates along the mean direction until rows leave the margin; measured in
``experiments/README.md``).  With ``centre=True`` the scores are written :math:`w_c^\top (x - m) + b'_c`,
m the mean of the calibration sample, an exact change of variables (:math:`b = b' - W m`): the weights
see :math:`\tilde x = x - m`, whose largest curvature is the largest variance, and the bias
:math:`b'` takes its own step, below its own bound :math:`1 / \max_c \frac1n \sum_i \omega_{ic}`, without
regularisation (as in Bottou's ``svmsgd``, whose bias is unregularised by default).  The bound then
admits steps ten times larger.  That pays on dense rows with n > d (scikit-learn's digits: 1.02-1.04x
LIBLINEAR's objective in 10 passes, against 1.07-1.64x, ``tests/test_asgd.py``), but not on Fisher
vectors (n < d): there the calibration takes 1 and the run stalls at 3.4x the optimum's objective,
and at an equal step (0.5) it ends at the same objective as the rows left as they are; so it is
off by default (``experiments/README.md``).

**Implicit steps** (``implicit=True``, the squared hinge only): the loss gradient is taken at the step's
end point instead of its start, the batch's proximal step of averaged implicit SGD (AI-SGD: Toulis,
Tran & Airoldi 2016),

.. math:: W_{t+1} = \arg\min_W \; \frac{1}{2\eta_t} \lVert W - (1 - \eta_t\lambda) W_t \rVert^2
          + \frac{1}{|B|} \sum_{i \in B} \sum_c \omega_{ic}\, \ell\big(y_{ic} (w_c^\top x_i + b_c)\big).

Its solution is again :math:`(1 - \eta_t \lambda) W_t - \eta_t G_B`, with the gradient's row factors
:math:`u_{ic} = 2\omega_{ic} \max(0, 1 - m'_{ic})` taken at the end point's margins
:math:`m'_{ic} = m_{ic} + \frac{\eta_t}{|B|} \sum_{j \in B} y_{ic} y_{jc} \tilde K_{ij} u_{jc}` (m the margins
after the shrink, :math:`\tilde K` the batch's Gram matrix with the bias's constant feature): for each
class a |B| x |B| linear system on the rows that violate the margin at the end point, found by iterating
on that set (a semismooth Newton method; a few iterations).  A row's own loss then never carries it
past its margin, however large :math:`\eta_t` (an explicit step of the squared hinge overshoots once
:math:`2\eta_t \lVert x \rVert^2 / |B| > 1`, and the overshoot on the hinge's flat side is pulled back only by
λ): the step needs no stability bound and no warm-up, and its cost is a B x B solve per class beside
the scores.  On the Caltech-101 Fisher vectors η0 from 1 to 16 all end within a point of LIBLINEAR
in 10 passes, with a smaller spread over batch orders than the explicit steps with a warm-up, which
are as close on average (``experiments/README.md``).  It costs more per pass: the end point lands on the margin, so nearly
separated classes keep a small violation and stay in the update.

Three tricks make a step cost one read of the weights (the scores) and updates of only the classes
the batch violates (the others' gradient is zero: once a class separates its negatives, most steps
leave it alone): :math:`W = a U` with the scalar a carrying the shrinking :math:`(1 - \eta_t\lambda)`
(Bottou's); the sum of the averaged iterates kept as :math:`V + \beta U` (Xu's sparse form of the
average), so that it moves on the same rows as U; and :math:`\eta_0` calibrated before the first pass
as Bottou's ``sgd`` does: one pass of plain SGD over a sample of the training rows for each candidate
on a grid (factors of 2), keeping the candidate of lowest objective on that sample, among those
below the stable step estimated on the same sample.  On a few thousand training images the number of
steps is what limits SGD (measured in ``experiments/README.md``: batches of 256 give 12 steps a
pass); small batches (8) give many.

Memory: W, its average and one batch; it does not grow with n.

References
----------
Xu, W. (2011). Towards optimal one pass large scale learning with averaged stochastic gradient
descent. arXiv:1107.2490. https://arxiv.org/abs/1107.2490

Bottou, L. (2010). Large-scale machine learning with stochastic gradient descent. COMPSTAT.
https://doi.org/10.1007/978-3-7908-2604-3_16

Polyak, B. T., Juditsky, A. B. (1992). Acceleration of stochastic approximation by averaging. SIAM J.
Control and Optimization 30(4). https://doi.org/10.1137/0330046

Toulis, P., Tran, D., Airoldi, E. M. (2016). Towards stability and optimality in stochastic gradient
descent. AISTATS. https://proceedings.mlr.press/v51/toulis16.html

Lin, Y., Lv, F., Zhu, S., Yang, M., Cour, T., Yu, K., Cao, L., Huang, T. (2011). Large-scale image
classification: fast feature extraction and SVM training. CVPR. https://doi.org/10.1109/CVPR.2011.5995477
"""
from __future__ import annotations

import numpy as np

from .streaming import StreamingLinearSVM

# eta0 candidates: 2^k, k = -12 .. 8; calibrated on this many training rows at most
ETA0_GRID = tuple(2.0 ** k for k in range(-12, 9))
CALIBRATION_ROWS = 512
# mini-batches read from the store at once
READ_BATCHES = 32
# power iterations for the largest curvature at W = 0 (the calibration's bound)
POWER_ITERATIONS = 50
# W = a U: U is rescaled when a falls below this (float32 keeps 7 digits)
MIN_SCALE = 1e-4
# implicit steps: iterations on the set of rows that violate the margin at the step's end point
IMPLICIT_ITERATIONS = 8


class ASGDLinearSVM(StreamingLinearSVM):
    r"""One-vs-rest linear SVMs by averaged SGD with Xu's step schedule, streaming the rows of ``X``.

    Parameters
    ----------
    lam : float, default=1e-5
        Regularisation :math:`\lambda` (:math:`1 / (C n)` for LIBLINEAR's C on n training images).
    eta0 : float or "auto", default="auto"
        Initial step; "auto" calibrates it on a sample of the training rows (see the module docstring).
    warmup : float, default=0.0
        Passes over which the step rises linearly from :math:`\eta_0 / T` to :math:`\eta_0` (T the warm-up's
        steps) before Xu's schedule takes over: large steps while every row still violates every margin do
        damage the squared hinge's flat side never undoes (``experiments/README.md``: with 2 passes,
        :math:`\eta_0 = 1` no longer stalls on Fisher vectors).  0: no warm-up.
    implicit : bool, default=False
        Implicit (proximal) steps: the batch's loss gradient at the step's end point, so that no step
        overshoots a margin (see the module docstring); the squared hinge only.  The calibration of
        ``eta0="auto"`` then runs implicit trials, without the explicit step's stability bound.
    centre : bool, default=False
        Centre the rows on the calibration sample's mean, the bias unregularised with its own step (see
        the module docstring: larger stable steps; faster on dense rows with n > d, not on Fisher vectors).
    average_start : float, default=1.0
        Epochs of plain SGD before the averaging starts.
    batch_size : int, default=32
        Rows per step: small batches give many steps per pass on a few thousand rows.
    max_epochs : int, default=10
    validation_fraction : float, default=0.0
        The averaged iterates improve pass after pass, so no held-out slice is needed to stop: all the
        training rows are used and the last pass is kept.  With a slice, the pass of best held-out
        accuracy is kept (early stopping, as the other streaming solvers).
    patience, balance, loss, backend, seed
        See :class:`~classic.learn.streaming.StreamingLinearSVM`.

    Attributes
    ----------
    eta0_ : float
        The initial step used (the calibrated one with ``eta0="auto"``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-2, 1, (100, 5)), rng.normal(2, 1, (100, 5))]).astype(np.float32)
    >>> y = np.repeat([0, 1], 100)
    >>> svm = ASGDLinearSVM(lam=1e-3, max_epochs=5).fit(X, y)
    >>> float((svm.predict(X) == y).mean()) > 0.95
    True
    """

    def __init__(self, lam: float = 1e-5, *, eta0="auto", warmup: float = 0.0, implicit: bool = False,
                 centre: bool = False, average_start: float = 1.0, batch_size: int = 32, max_epochs: int = 10,
                 patience: int = 3, validation_fraction: float = 0.0, balance: str = "equal", loss: str = "squared_hinge",
                 backend: str = "numpy", seed: int = 0):
        self.lam = lam
        self.eta0 = eta0
        self.warmup = warmup
        self.implicit = implicit
        self.centre = centre
        self.average_start = average_start
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.balance = balance
        self.loss = loss
        self.backend = backend
        self.seed = seed

    def _begin(self, n, n_classes, d):
        if not (self.eta0 == "auto" or (isinstance(self.eta0, (int, float)) and self.eta0 > 0)):
            raise ValueError(f"eta0 must be 'auto' or a number > 0, got {self.eta0!r}")
        if not (isinstance(self.warmup, (int, float)) and self.warmup >= 0):
            raise ValueError(f"warmup must be a number of passes >= 0, got {self.warmup!r}")
        if self.implicit and self.loss != "squared_hinge":
            raise ValueError(f"implicit steps are implemented for the squared hinge only, got loss={self.loss!r}")
        xp = self._xp
        return {"U": xp.zeros((n_classes, d), dtype=xp.float32), "u_bias": xp.zeros(n_classes, dtype=xp.float32),
                "scale": 1.0, "V": None, "v_bias": None, "beta": 0.0, "t": 0, "averaged": 0,
                "mean": None, "bias": xp.zeros(n_classes, dtype=xp.float32), "bias_sum": xp.zeros(n_classes, dtype=xp.float32)}

    def _epoch(self, state, X, labels, train, epoch, rng):
        if epoch == 1:
            self.eta0_ = float(self.eta0) if self.eta0 != "auto" else None
            if self.centre or self.eta0_ is None:     # the sample: for the mean, the calibration, or both
                sample = np.sort(rng.choice(train, min(len(train), CALIBRATION_ROWS), replace=False))
                rows, order = self._rows(X, sample)
                Y = self._signs(labels[order])
                if self.centre:
                    state["mean"] = rows.mean(axis=0)
                    state["bias_step"] = 0.5 / float(self._weights(state, Y).mean(axis=0).max())
                if self.eta0_ is None:
                    self.eta0_ = self._calibrate(state, rows, Y, rng)
            state["eta0"] = self.eta0_
            state["warmup_steps"] = self.warmup * self._steps_per_epoch(len(train))
            state["average_from"] = int(round(self.average_start * self._steps_per_epoch(len(train))))
        xp = self._xp
        batches = np.array_split(rng.permutation(train), self._steps_per_epoch(len(train)))
        # rows are read READ_BATCHES batches at a time (one store read per block, not per small batch)
        for first in range(0, len(batches), READ_BATCHES):
            group = batches[first:first + READ_BATCHES]
            block, order = self._rows(X, np.concatenate(group))          # order: the rows, sorted
            Y = self._signs(labels[order])
            for batch in group:
                where = xp.asarray(np.searchsorted(order, batch))
                self._step(state, block[where], Y[where], average=True)
        return self._model(state)

    def _model(self, state):
        """The averaged iterate (V + beta U) / k once averaging has started, else the current one a U; with
        centred rows, in the rows' own coordinates (the bias less W m)."""
        if state["V"] is None:
            W = state["scale"] * state["U"]
            b = state["bias"] if self.centre else state["scale"] * state["u_bias"]
        else:
            k = state["averaged"]
            W = (state["V"] + state["beta"] * state["U"]) / k
            b = state["bias_sum"] / k if self.centre else (state["v_bias"] + state["beta"] * state["u_bias"]) / k
        return (W, b - W @ state["mean"]) if self.centre else (W, b)

    def _steps_per_epoch(self, n_train: int) -> int:
        return max(1, n_train // self.batch_size)

    def _step_size(self, state) -> float:
        r"""Xu's schedule :math:`\eta_t = \eta_0 (1 + \lambda \eta_0 t)^{-3/4}`, times
        :math:`\min(1, (t + 1) / T)` during a warm-up of T steps (none in the calibration's trials)."""
        eta = state["eta0"] * (1 + self.lam * state["eta0"] * state["t"]) ** -0.75
        warmup = state.get("warmup_steps", 0)
        return eta * min(1.0, (state["t"] + 1) / warmup) if warmup > 0 else eta

    def _step(self, state, rows, Y, average: bool):
        r"""One mini-batch step on ``state`` (see the module docstring); with ``average``, the sum of the
        iterates is updated once the averaging has started.

        Only the classes the batch violates move: the others' loss gradient is zero, and their rows of
        U, and of the running sum, are left alone (the shrink is the scalar a).  The sum of the averaged
        iterates :math:`\sum_\tau a_\tau U_\tau` is kept as :math:`V + \beta U` (Xu 2011): when
        U moves by :math:`-s\Delta`, V moves by :math:`+\beta s\Delta` on the same rows and β grows by the
        new a, so a step costs one read of U (the scores) and two updates of the violated rows."""
        xp = self._xp
        U, u_bias = state["U"], state["u_bias"]
        eta = self._step_size(state)
        shrink = 1 - eta * self.lam
        if shrink <= 0:
            raise ValueError(f"eta0 = {state['eta0']:g} is too large for lam = {self.lam:g}: a step would "
                             f"flip the weights' sign; lower eta0 or use eta0='auto'")
        if self.centre:
            rows = rows - state["mean"]
            scores = state["scale"] * (rows @ U.T) + state["bias"]
        else:
            scores = state["scale"] * (rows @ U.T + u_bias)
        # the bias: with centred rows its own step, below its own stable one, and not shrunk
        bias_eta = min(eta, state["bias_step"]) if self.centre else eta
        if self.implicit:
            shrunk = shrink * (scores - state["bias"]) + state["bias"] if self.centre else shrink * scores
            G = self._implicit_gradient(state, rows, Y, shrunk, eta, bias_eta)
        else:
            G = self._loss_gradient(state, Y, scores)                                # (B, C)
        delta_bias = G.sum(axis=0)
        if self.centre:
            state["bias"] -= xp.float32(bias_eta / rows.shape[0]) * delta_bias
        state["scale"] *= shrink
        step = eta / (state["scale"] * rows.shape[0])
        active = xp.flatnonzero((G != 0).any(axis=0))
        if active.size:
            # all classes: a basic slice, so the updates stay in place instead of gather-scatter copies
            moving = slice(None) if active.size == U.shape[0] else active
            delta = G[:, moving].T @ rows                                            # (|active|, d)
            U[moving] -= xp.float32(step) * delta
            if not self.centre:
                u_bias -= xp.float32(step) * delta_bias
            if state["V"] is not None:
                state["V"][moving] += xp.float32(state["beta"] * step) * delta
                if not self.centre:
                    state["v_bias"] += xp.float32(state["beta"] * step) * delta_bias
        state["t"] += 1
        if average and state["t"] > state["average_from"]:
            if state["V"] is None:
                state["V"], state["v_bias"] = xp.zeros_like(U), xp.zeros_like(u_bias)
            state["averaged"] += 1
            state["beta"] += state["scale"]
            if self.centre:
                state["bias_sum"] += state["bias"]
        if state["scale"] < MIN_SCALE:           # U absorbs a; beta U must stay the same sum
            U *= xp.float32(state["scale"])
            u_bias *= xp.float32(state["scale"])
            state["beta"] /= state["scale"]
            state["scale"] = 1.0

    def _implicit_gradient(self, state, rows, Y, scores, eta, bias_eta):
        r"""(B, C) loss gradient at the end point of the implicit step from ``scores`` (the batch's scores
        after the shrink; ``rows`` already centred when the rows are), for weight step ``eta`` and bias
        step ``bias_eta`` (see the module docstring).

        With :math:`Q_c = \frac{\eta}{|B|} (y_c y_c^\top) \circ (X X^\top + \eta_b / \eta)` and the set A of
        rows past which the end point still violates the margin, :math:`u_A` solves
        :math:`(\mathrm{diag}(1 / 2\omega_A) + Q_{c,AA})\, u_A = 1 - m_A` and :math:`u = 0` off A; A is
        updated from the end point's margins until it no longer changes (all classes at once: one batched
        |B| x |B| solve per iteration, rows off A replaced by the identity)."""
        xp = self._xp
        B = rows.shape[0]
        gram = rows @ rows.T + xp.float32(bias_eta / eta)                   # (B, B): the bias as a feature
        signs = Y.T                                                          # (C, B)
        Q = xp.float32(eta / B) * signs[:, :, None] * signs[:, None, :] * gram[None]
        inverse_weight = 1 / (2 * self._weights(state, Y).T)                 # (C, B)
        residual = 1 - (Y * scores).T                                        # 1 - m, (C, B)
        violated = residual > 0
        identity = xp.eye(B, dtype=xp.float32)
        for _ in range(IMPLICIT_ITERATIONS):
            mask = violated.astype(xp.float32)
            diagonal = xp.where(violated, inverse_weight, 1)[:, :, None]
            system = Q * mask[:, :, None] * mask[:, None, :] + identity * diagonal
            u = xp.linalg.solve(system, (mask * residual)[:, :, None])[:, :, 0]
            # the end point's violations: 1 - m' = residual - Q u (> 0 where the row still violates)
            now = (residual - (Q @ u[:, :, None])[:, :, 0]) > 0
            if bool((now == violated).all()):
                break
            violated = now
        return -(Y * xp.maximum(u, 0).T)

    def _calibrate(self, state, rows, Y, rng) -> float:
        """Bottou's choice of eta0: one pass of plain SGD over the sample ``rows`` (signs ``Y``) for each
        candidate of ``ETA0_GRID`` below the squared hinge's stable step (:meth:`_stable_step`); the
        candidate of lowest objective on the sample."""
        xp = self._xp
        batches = np.array_split(rng.permutation(rows.shape[0]), self._steps_per_epoch(rows.shape[0]))
        fixed = {key: state[key] for key in ("positive", "negative", "mean", "bias_step") if key in state}
        explicit_squared_hinge = self.loss == "squared_hinge" and not self.implicit
        bound = self._stable_step(fixed, rows, Y) if explicit_squared_hinge else np.inf
        best = None
        # the candidates in increasing order: past the first that diverges, all the larger ones do too
        with np.errstate(over="ignore", invalid="ignore"):
            for eta0 in ETA0_GRID:
                if eta0 * self.lam >= 1 or eta0 >= bound:
                    break
                trial = {**self._begin(rows.shape[0], Y.shape[1], rows.shape[1]), **fixed, "eta0": eta0,
                         "average_from": 0}
                for batch in batches:
                    index = xp.asarray(batch)
                    self._step(trial, rows[index], Y[index], average=False)
                W, b = self._model(trial)
                objective = self._objective(trial, rows, Y, W, b)
                if not np.isfinite(objective):
                    break
                if best is None or objective < best[0]:
                    best = (objective, eta0)
        return best[1] if best is not None else ETA0_GRID[0]

    def _stable_step(self, state, rows, Y) -> float:
        r"""The largest stable step of the squared hinge at W = 0 on the m ``rows`` (signs ``Y``):
        :math:`1 / \max_c \lambda_{\max}(\frac{1}{m} \sum_i \omega_{ic}\, \tilde x_i \tilde x_i^\top)`, with
        :math:`\tilde x_i` the row less the mean when the rows are centred (the bias then has its own
        step), else the row and the bias's constant feature; the eigenvalue that class c's weighted
        m x m Gram matrix :math:`D_c^{1/2} (\tilde X \tilde X^\top / m) D_c^{1/2}` shares, by power iteration
        on all the classes at once."""
        xp = self._xp
        if state.get("mean") is not None:
            rows = rows - state["mean"]
            gram = rows @ rows.T / rows.shape[0]
        else:
            gram = (rows @ rows.T + 1) / rows.shape[0]
        root = xp.sqrt(self._weights(state, Y))                              # (m, C)
        # a random start: with centred rows the Gram matrix maps the constant vector to zero
        v = xp.asarray(np.random.default_rng(0).standard_normal(root.shape), dtype=root.dtype)
        for _ in range(POWER_ITERATIONS):
            v = root * (gram @ (root * v))
            v /= xp.linalg.norm(v, axis=0, keepdims=True)
        largest = (v * root * (gram @ (root * v))).sum(axis=0).max()          # Rayleigh quotients, unit v
        return 1 / float(largest)

    def _objective(self, state, rows, Y, W, b) -> float:
        """The primal objective P(W) on ``rows`` (see the module docstring), the bias regularised."""
        xp = self._xp
        violation = xp.maximum(1 - Y * (rows @ W.T + b), 0)
        loss = violation if self.loss == "hinge" else violation * violation
        data = float((self._weights(state, Y) * loss).sum()) / rows.shape[0]
        return 0.5 * self.lam * (float((W * W).sum()) + float((b * b).sum())) + data
