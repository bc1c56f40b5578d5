r"""Explicit feature map of the additive :math:`\chi^2` kernel (Vedaldi & Zisserman 2012).

Histogram-based encodings (bag of words) work best with the :math:`\chi^2` kernel
:math:`k(x, y) = \sum_i 2 x_i y_i / (x_i + y_i)`, which a linear SVM cannot use directly.  The kernel
is homogeneous, :math:`k(x, y) = \sqrt{xy}\, \kappa(\log y - \log x)`, with signature
:math:`\kappa(\lambda) = \operatorname{sech}(\pi \lambda)` in the Fourier domain.  Sampling that
spectrum with period :math:`L` at :math:`0, \pm L, \dots, \pm nL` gives a finite map per entry:

.. math::
    \Psi(x) = \sqrt{x L}\, \big[\, \sqrt{\kappa(0)},\;
        \sqrt{2\kappa(jL)} \cos(jL \log x),\; \sqrt{2\kappa(jL)} \sin(jL \log x) \,\big]_{j=1..n},

with :math:`\Psi(0) = 0`, so that :math:`\Psi(x)^\top \Psi(y) \approx k(x, y)`: a linear SVM on
:math:`\Psi` is a :math:`\chi^2` SVM.  Each entry becomes :math:`2n + 1` numbers.  The default n = 1,
L = 0.6 keeps the kernel within 4.4% (relative) on random sparse histograms, where scikit-learn's
L = 0.5 is off by 10% (self-similarity 0.90 instead of 1); n = 2, L = 0.5 brings it to 1.5%.  The layout is
scikit-learn's ``AdditiveChi2Sampler``: all entries' zeroth terms, then all cosines and sines of
j = 1, and so on.
"""
from __future__ import annotations

import math

from ..backend import array_module


def chi2_feature_map(X, order: int = 1, period: float = 0.6):
    """(n, d) non-negative -> (n, (2 order + 1) d) whose inner products approximate the chi2 kernel.

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.array([[0.2, 0.8]]), np.array([[0.4, 0.6]])
    >>> exact = (2 * x * y / (x + y)).sum()
    >>> approx = float((chi2_feature_map(x) @ chi2_feature_map(y).T)[0, 0])
    >>> chi2_feature_map(x).shape, bool(abs(approx - exact) < 0.05 * exact)
    ((1, 6), True)
    """
    xp = array_module(X)
    positive = X > 0
    safe = xp.where(positive, X, xp.ones_like(X))
    log_x = xp.log(safe)
    base = xp.sqrt(xp.where(positive, X, xp.zeros_like(X)) * period)
    parts = [base]
    for j in range(1, order + 1):
        factor = base * math.sqrt(2 / math.cosh(math.pi * j * period))
        parts += [factor * xp.cos(j * period * log_x), factor * xp.sin(j * period * log_x)]
    return xp.concatenate(parts, axis=1)
