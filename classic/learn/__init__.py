"""Learning and evaluation: one-vs-rest linear SVMs (kernel-form LIBLINEAR; streaming mini-batch SGD
and dual coordinate descent), choosing C by cross-validation, ILSVRC-style metrics."""
from .dcd import DualCoordinateSVM
from .metrics import evaluate, scores_for_classes, top_k, top_k_error
from .model_selection import choose_C
from .sgd import SGDLinearSVM
from .svm import LinearSVM

__all__ = ["DualCoordinateSVM", "LinearSVM", "SGDLinearSVM", "choose_C", "evaluate", "scores_for_classes", "top_k",
           "top_k_error"]
