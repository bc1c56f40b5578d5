r"""Gaussian mixture model with diagonal covariances, fitted by expectation-maximisation.

.. math::  p(x) = \sum_{k=1}^{K} w_k \, \mathcal{N}(x; \mu_k, \operatorname{diag}(\sigma_k^2))

E-step: responsibilities :math:`\gamma_{nk} \propto w_k \mathcal{N}(x_n; \mu_k, \sigma_k^2)`, computed
in the log domain (posteriors below :math:`e^{-30}` set to 0, which keeps float32 out of the slow
denormal range) with the expansion

.. math::  -\tfrac12 \sum_d \frac{(x_d - \mu_{kd})^2}{\sigma_{kd}^2}
          = -\tfrac12 \Big( \sum_d x_d^2 \sigma_{kd}^{-2} - 2 \sum_d x_d \mu_{kd} \sigma_{kd}^{-2}
                          + \sum_d \mu_{kd}^2 \sigma_{kd}^{-2} \Big),

i.e. two matrix products for all points and components at once, and a log-sum-exp over k.
M-step: with :math:`N_k = \sum_n \gamma_{nk}`, :math:`w_k = N_k / N`,
:math:`\mu_k = \sum_n \gamma_{nk} x_n / N_k`,
:math:`\sigma_k^2 = \sum_n \gamma_{nk} x_n^2 / N_k - \mu_k^2` (Dempster, Laird & Rubin 1977).

Numerical soundness in float32.  The expansion cancels large terms when :math:`\sigma_k^2` is tiny,
which happens when a component collapses onto a set of identical points (e.g. the zeroed
low-contrast SIFT descriptors of flat image regions).  Every variance is therefore floored at
``variance_floor`` times the data's variance in that dimension (relative, so it means the same for
whitened and unwhitened data), which bounds the amplification of rounding errors; and the Fisher
vector encoder drops zeroed descriptors before they reach the model.  Components that lose all
their points are re-seeded on the points the model explains worst.

Initialisation: the k-means of :mod:`classic.encoding.kmeans` (k-means++ seeds and a few Lloyd
iterations) on a subsample, or ``init="random"`` (random points as means), both driven by ``seed``.

References
----------
Dempster, A. P., Laird, N. M., Rubin, D. B. (1977). Maximum likelihood from incomplete data via the
EM algorithm. J. Royal Statistical Society B 39(1). https://doi.org/10.1111/j.2517-6161.1977.tb01600.x

Perronnin, F., Sánchez, J., Mensink, T. (2010). Improving the Fisher kernel for large-scale image
classification. ECCV. https://doi.org/10.1007/978-3-642-15561-1_11
"""
from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, DensityMixin
from threadpoolctl import threadpool_limits

from ..backend import array_module
from ..validation import check_array, check_is_fitted
from .kmeans import kmeans_plus_plus, lloyd, nearest_centres, seeding_draws

logger = logging.getLogger(__name__)

_CHUNK = 8192               # points per E-step block: (K, chunk) posteriors of 8 MiB at K = 256 stay in cache
_LOG_POSTERIOR_CUT = -30.0  # log-posteriors are floored 30 below the largest (see DiagonalGMM.responsibilities)


def stacked_moments(X):
    """[X, X^2, 1] side by side: (n, 2D + 1).

    With it, the E-step's log-densities are one matrix product (against [mu / sigma^2, -1 / (2 sigma^2),
    constant]), and the sufficient statistics [S1, S2, S0] are one product gamma^T [X, X^2, 1].
    """
    xp = array_module(X)
    n, d = X.shape
    moments = xp.empty((n, 2 * d + 1), dtype=X.dtype)     # written in place: 20% faster than concatenating
    moments[:, :d] = X
    xp.multiply(X, X, out=moments[:, d:2 * d])
    moments[:, 2 * d] = 1
    return moments


class DiagonalGMM(DensityMixin, BaseEstimator):
    """Diagonal-covariance GMM fitted by EM on the array backend.

    Parameters
    ----------
    n_components : int, default=256
        Number of Gaussians K.
    max_iter : int, default=100
        EM iterations at most.
    tol : float, default=1e-5
        Stop when the mean log-likelihood changes by less than ``tol`` times its magnitude.
    init : {"kmeans", "random"}, default="kmeans"
    init_sample : int, default=50000
        Points the initialisation runs on.
    init_max_iter : int, default=10
        Lloyd iterations of the k-means initialisation.
    variance_floor : float, default=1e-3
        Variances are floored at this fraction of the data's variance in each dimension.
    n_jobs : int, default=-1
        CPU threads for the E-step (-1: all cores; the result does not depend on it).
    seed : int, default=0

    Attributes
    ----------
    means_, variances_ : (K, D) float32 arrays
    weights_ : (K,) float32 array
    lower_bound_ : float
        Mean log-likelihood per point at the last iteration.
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (500, 2)), rng.normal(5, 1, (500, 2))]).astype(np.float32)
    >>> gmm = DiagonalGMM(n_components=2, seed=0).fit(X)
    >>> np.sort(gmm.means_[:, 0]).round(0).tolist()
    [-5.0, 5.0]
    >>> gmm.weights_.round(1).tolist()
    [0.5, 0.5]
    """

    def __init__(self, n_components: int = 256, *, max_iter: int = 100, tol: float = 1e-5,
                 init: str = "kmeans", init_sample: int = 50_000, init_max_iter: int = 10,
                 variance_floor: float = 1e-3, n_jobs: int = -1, seed: int = 0):
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.init_sample = init_sample
        self.init_max_iter = init_max_iter
        self.variance_floor = variance_floor
        self.n_jobs = n_jobs
        self.seed = seed

    # -- model evaluation --------------------------------------------------------------------
    def _log_joint(self, moments):
        """log w_k + log N(x; mu_k, sigma_k^2) for a block of points, from its ``moments`` [X, X^2, 1]:
        (K, n), component-major (see :meth:`responsibilities`)."""
        return self._joint_weights(moments.dtype) @ moments.T

    def _joint_weights(self, dtype):
        """[mu / sigma^2, -1 / (2 sigma^2), constant] (K, 2D + 1), the log-densities' weights on the moments.

        Kept until the model's arrays are replaced (each M-step replaces them): an encoder calls this
        for every block of every image, and rebuilding it cost 13% of a 4,096-point block's time.
        """
        model = (self.means_, self.variances_, self.weights_)
        # a dict updated in place (made by fit and from_arrays): scoring does not change the estimator's
        # attributes, as scikit-learn's contract asks
        cache = self.__dict__.setdefault("_joint_weights_cache", {})
        cached = cache.get(np.dtype(dtype))
        if cached is not None and all(a is b for a, b in zip(cached[0], model)):
            return cached[1]
        xp = array_module(self.means_)
        precision = 1 / self.variances_
        const = (xp.log(self.weights_) - 0.5 * xp.log(self.variances_).sum(1)
                 - 0.5 * (self.means_ ** 2 * precision).sum(1)
                 - 0.5 * self.means_.shape[1] * math.log(2 * math.pi))
        weights = xp.concatenate([self.means_ * precision, -0.5 * precision, const[:, None]], axis=1).astype(dtype)
        cache[np.dtype(dtype)] = (model, weights)
        return weights

    def _unnormalised_posteriors(self, moments):
        """(E (K, n), top (n,), total (n,)) with E = exp(log-joint - top), log-posteriors floored 30 below
        the largest; gamma = E / total and log p(x) = top + log(total).

        Component-major, (K, n): the log-sum-exp's reductions over k then run across contiguous rows,
        elementwise, instead of along each short row (the softmax ran 25% faster), and products with E
        read contiguous memory.  The floor: posteriors of ~1e-13 relative to the largest (VLFeat drops
        those below 1e-6), far below float32 resolution in every statistic, and never in the denormal
        range, where x86 arithmetic, matrix products included, runs ~100x slower.  Clamping costs one
        pass; setting them to exactly zero through a mask cost 1.5x as much.
        """
        xp = array_module(moments)
        shifted = self._log_joint(moments)
        top = shifted.max(axis=0)
        shifted -= top
        xp.maximum(shifted, _LOG_POSTERIOR_CUT, out=shifted)
        unnormalised = xp.exp(shifted, out=shifted)
        return unnormalised, top, unnormalised.sum(axis=0)

    def responsibilities(self, X, moments=None):
        """(gamma (n, K), log p(x) (n,)) for a block of points; ``moments`` = stacked_moments(X) if at hand.

        gamma is the transpose (a view) of a component-major (K, n) array (see
        :meth:`_unnormalised_posteriors`).
        """
        unnormalised, top, total = self._unnormalised_posteriors(moments if moments is not None else stacked_moments(X))
        unnormalised /= total
        return unnormalised.T, top + array_module(X).log(total)

    def posterior_statistics(self, moments):
        """(weights (n, K), weighted moments (n, M)) whose product ``weights.T @ weighted`` is the
        statistic sum_n gamma_nk moments_n, and log p(x) (n,).

        The posteriors' normalisation gamma = E / total is applied to the narrower moments
        (n x (2D + 1)) instead of the (K x n) posteriors: one pass over fewer numbers.  ``moments`` is
        scaled in place.
        """
        unnormalised, top, total = self._unnormalised_posteriors(moments)
        moments /= total[:, None]
        return unnormalised.T, moments, top + array_module(moments).log(total)

    def _checked(self, X):
        check_is_fitted(self)
        return check_array(self, X, reset=False)

    def predict_proba(self, X):
        """Posterior probabilities (n, K) of the components."""
        X = self._checked(X)
        xp = array_module(X)
        return xp.concatenate([self.responsibilities(X[i:i + _CHUNK])[0] for i in range(0, X.shape[0], _CHUNK)])

    def predict(self, X):
        """The most probable component of each row."""
        return self.predict_proba(X).argmax(axis=1)

    def score_samples(self, X):
        """Log-likelihood log p(x) (n,) of each row."""
        X = self._checked(X)
        return self._score_samples(X)

    def _score_samples(self, X):
        xp = array_module(X)
        return xp.concatenate([self.responsibilities(X[i:i + _CHUNK])[1] for i in range(0, X.shape[0], _CHUNK)])

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per point (scikit-learn's convention)."""
        return float(self.score_samples(X).mean())

    # -- fitting ----------------------------------------------------------------------------
    def _initialise(self, X, rng):
        xp = array_module(X)
        n, k = X.shape[0], self.n_components
        sample = X[xp.asarray(rng.choice(n, min(n, self.init_sample), replace=False))]
        if self.init == "kmeans":
            seeds = kmeans_plus_plus(sample[None], k, *seeding_draws(rng, len(sample), k))
            centres, assignment = lloyd(sample[None], seeds, self.init_max_iter)
        elif self.init == "random":
            centres = sample[xp.asarray(rng.choice(len(sample), k, replace=False))][None]
            assignment = nearest_centres(sample[None], centres)
        else:
            raise ValueError(f"init must be 'kmeans' or 'random', not {self.init!r}")
        means, assignment = centres[0], assignment[0]
        counts = xp.bincount(assignment, minlength=k).astype(X.dtype)
        squares = xp.stack([xp.bincount(assignment, weights=sample[:, t] ** 2, minlength=k)
                            for t in range(sample.shape[1])], axis=1)
        sq = squares / xp.maximum(counts, 1)[:, None] - means ** 2
        variances = xp.where(counts[:, None] > 1, sq, self.data_variance_[None, :])
        self.means_ = means.astype(xp.float32)
        self.variances_ = xp.maximum(variances, self.variance_floor_).astype(xp.float32)
        self.weights_ = ((counts + 1) / (counts.sum() + k)).astype(xp.float32)

    def fit(self, X, y=None):
        """Fit by EM on the rows of ``X`` (n, D); computed in float32."""
        X = check_array(self, X, reset=True, dtype=(np.float32,))
        xp = array_module(X)
        n, d = X.shape
        if n < self.n_components:
            raise ValueError(f"{self.n_components} components need at least as many points, got n_samples = {n}")
        self._joint_weights_cache = {}
        rng = np.random.default_rng(self.seed)
        self.data_variance_ = X.astype(xp.float64).var(axis=0).astype(xp.float32)
        self.variance_floor_ = xp.maximum(self.variance_floor * self.data_variance_, xp.float32(1e-12))
        self._initialise(X, rng)
        previous = -np.inf
        self.converged_ = False
        for iteration in range(1, self.max_iter + 1):
            stats, total = self._expectation(X)
            self.lower_bound_ = total / n
            self.n_iter_ = iteration
            self._m_step(X, stats[:, 2 * d], stats[:, :d], stats[:, d:2 * d], rng)
            done = abs(self.lower_bound_ - previous) <= self.tol * abs(self.lower_bound_)
            # every iteration at DEBUG, every tenth and the last at INFO: progress without a flood
            logger.log(logging.INFO if done or iteration % 10 == 0 or iteration in (1, self.max_iter) else logging.DEBUG,
                       "    GMM K = %d: EM iteration %d / %d, mean log-likelihood %.6g%s", self.n_components, iteration,
                       self.max_iter, self.lower_bound_, " (converged)" if done else "")
            if done:
                self.converged_ = True
                break
            previous = self.lower_bound_
        return self

    def _expectation(self, X):
        """E-step statistics [S1, S2, S0] (K, 2D + 1) and the summed log-likelihood, block by block.

        On the CPU the blocks run on ``n_jobs`` threads, each with a one-thread BLAS: the
        log-sum-exp is elementwise numpy work that one thread would do alone while BLAS threads
        wait, and blocks on threads use every core for all of it (numpy releases the GIL).  The
        blocks' sums are added in a fixed order, so the result does not depend on ``n_jobs``.
        """
        xp = array_module(X)

        def block(i):
            weights, weighted, log_px = self.posterior_statistics(stacked_moments(X[i:i + _CHUNK]))
            return weights.T @ weighted, float(log_px.astype(xp.float64).sum())
        starts = range(0, X.shape[0], _CHUNK)
        if xp is np:
            with threadpool_limits(1), ThreadPoolExecutor(effective_n_jobs(self.n_jobs)) as pool:
                parts = list(pool.map(block, starts))
        else:
            parts = [block(i) for i in starts]
        stats = parts[0][0]
        for part, _ in parts[1:]:
            stats += part
        return stats, sum(total for _, total in parts)

    def _m_step(self, X, s0, s1, s2, rng):
        xp = array_module(X)
        n = X.shape[0]
        alive = s0 >= 0.5          # at least half a point's worth of responsibility
        safe = xp.maximum(s0, 1e-12)[:, None]
        means = s1 / safe
        variances = xp.maximum(s2 / safe - means * means, self.variance_floor_)
        weights = s0 / n
        dead = xp.flatnonzero(~alive)
        if dead.size:
            # re-seed components that lost their points on the worst-explained points of a subsample
            subset = xp.asarray(rng.choice(n, min(n, 20_000), replace=False))
            picks = subset[xp.argsort(self._score_samples(X[subset]))[:int(dead.size)]]
            means[dead] = X[picks]
            variances[dead] = self.data_variance_
            weights[dead] = 1.0 / n
        self.means_ = means.astype(xp.float32)
        self.variances_ = variances.astype(xp.float32)
        self.weights_ = (weights / weights.sum()).astype(xp.float32)

    def to_arrays(self) -> dict:
        """Learned state as plain arrays (for ``.npz`` files)."""
        return {"means": self.means_, "variances": self.variances_, "weights": self.weights_}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "DiagonalGMM":
        """A fitted model from :meth:`to_arrays`' arrays."""
        gmm = cls(n_components=len(arrays["weights"]))
        gmm.means_, gmm.variances_, gmm.weights_ = arrays["means"], arrays["variances"], arrays["weights"]
        gmm.n_features_in_ = int(arrays["means"].shape[1])
        gmm._joint_weights_cache = {}
        return gmm
