"""Learning and evaluation: one-vs-rest linear SVM, ILSVRC-style metrics."""
from .metrics import evaluate, top_k, top_k_error
from .svm import LinearSVM

__all__ = ["LinearSVM", "evaluate", "top_k", "top_k_error"]
