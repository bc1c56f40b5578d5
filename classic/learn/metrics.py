"""Classification metrics with the ILSVRC devkit's conventions.

* Top-k error: a test image counts as an error when its true class is not among the k classes with
  the highest scores (ILSVRC "flat" classification error, k = 1 and 5).  Ties in the scores are
  broken deterministically in favour of the lower class index.
* Mean per-class accuracy (Caltech-101's measure): the top-1 recall of each class, averaged over the
  classes present in the test set, so that large classes do not dominate.
* Confusion matrix: rows are true classes, columns predicted classes (top-1).
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy


def top_k(scores, k: int) -> np.ndarray:
    """(n, k) class indices by decreasing score; equal scores ordered by class index.

    Examples
    --------
    >>> import numpy as np
    >>> top_k(np.array([[0.1, 0.7, 0.7, 0.0]]), 2).tolist()      # a tie goes to the lower class index
    [[1, 2]]
    """
    scores = np.asarray(to_numpy(scores))
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def top_k_error(scores, labels, k: int) -> float:
    """Share of rows whose label is not among their ``k`` highest scores."""
    labels = np.asarray(to_numpy(labels))
    hits = (top_k(scores, k) == labels[:, None]).any(axis=1)
    return float(1 - hits.mean())


def confusion_matrix(labels, predictions, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: rows true classes, columns predictions."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return np.bincount(labels * n_classes + predictions, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall per class (NaN for classes absent from the test set)."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / totals, np.nan)


def mean_class_accuracy(scores, labels, n_classes: int) -> float:
    """The mean over the classes present in ``labels`` of their top-1 recall (ties: the lower class index).

    Examples
    --------
    >>> import numpy as np
    >>> mean_class_accuracy(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]), 2)
    0.75
    """
    labels = np.asarray(to_numpy(labels))
    hits = np.asarray(to_numpy(scores)).argmax(axis=1) == labels     # argmax: the first of equal scores
    totals = np.bincount(labels, minlength=n_classes)
    present = totals > 0
    return float(np.mean(np.bincount(labels, weights=hits, minlength=n_classes)[present] / totals[present]))


def scores_for_classes(decision, classes, n_classes: int) -> np.ndarray:
    """A classifier's scores as an (n, n_classes) float32 array: column ``classes[j]`` holds its j-th
    column, the classes it never saw in training score -inf (ranked last, never predicted).

    A binary classifier's one column of scores (scikit-learn's convention: positive for
    ``classes[1]``) becomes the two columns ``[-s, s]``, which rank the two classes the same way.

    Examples
    --------
    >>> import numpy as np
    >>> scores_for_classes(np.array([[0.5, -1.0]]), classes=[0, 2], n_classes=3).tolist()
    [[0.5, -inf, -1.0]]
    >>> scores_for_classes(np.array([2.0]), classes=[0, 1], n_classes=2).tolist()
    [[-2.0, 2.0]]
    """
    decision = np.asarray(to_numpy(decision), dtype=np.float32)
    if decision.ndim == 1:
        decision = np.stack([-decision, decision], axis=1)
    out = np.full((decision.shape[0], n_classes), -np.inf, dtype=np.float32)
    out[:, np.asarray(to_numpy(classes))] = decision
    return out


def evaluate(scores, labels, n_classes: int) -> dict:
    """All metrics of one test set: top-1/top-5 error, mean per-class accuracy, confusion matrix.

    Examples
    --------
    >>> import numpy as np
    >>> m = evaluate(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]), n_classes=2)
    >>> round(m["top1_error"], 3), m["mean_class_accuracy"], m["confusion"].tolist()
    (0.333, 0.75, [[1, 0], [1, 1]])
    """
    labels = np.asarray(to_numpy(labels))
    predictions = top_k(scores, 1)[:, 0]
    confusion = confusion_matrix(labels, predictions, n_classes)
    per_class = per_class_accuracy(confusion)
    return {
        "top1_error": top_k_error(scores, labels, 1),
        "top5_error": top_k_error(scores, labels, min(5, n_classes)),
        "mean_class_accuracy": mean_class_accuracy(scores, labels, n_classes),
        "per_class_accuracy": per_class,
        "confusion": confusion,
    }
