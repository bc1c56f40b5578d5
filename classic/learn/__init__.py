"""Learning and evaluation: one-vs-rest linear SVMs (kernel-form LIBLINEAR; streaming mini-batch SGD
and dual coordinate descent), ILSVRC-style metrics."""
from .dcd import DualCoordinateSVM
from .metrics import evaluate, top_k, top_k_error
from .sgd import SGDLinearSVM
from .svm import LinearSVM

__all__ = ["DualCoordinateSVM", "LinearSVM", "SGDLinearSVM", "evaluate", "top_k", "top_k_error"]
