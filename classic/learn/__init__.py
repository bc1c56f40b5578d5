"""Learning and evaluation: one-vs-rest linear SVMs (kernel-form LIBLINEAR; streaming mini-batch SGD,
averaged SGD and dual coordinate descent), choosing C and channel-fusion weights by cross-validation, ILSVRC-style metrics."""
from .asgd import ASGDLinearSVM
from .dcd import DualCoordinateSVM
from .fusion import FUSION_METHODS, combine, early_fusion_weights, late_fusion_weights, normalised_weights
from .metrics import evaluate, scores_for_classes, top_k, top_k_error
from .model_selection import choose_C, cross_validate_C, fold_accuracy, out_of_fold_scores, stratified_folds
from .sgd import SGDLinearSVM
from .svm import LinearSVM

__all__ = ["ASGDLinearSVM", "FUSION_METHODS", "DualCoordinateSVM", "LinearSVM", "SGDLinearSVM", "choose_C", "combine", "cross_validate_C",
           "early_fusion_weights", "evaluate", "fold_accuracy", "late_fusion_weights", "normalised_weights",
           "out_of_fold_scores", "scores_for_classes", "stratified_folds", "top_k", "top_k_error"]
