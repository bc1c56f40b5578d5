"""ILSVRC metrics: ties, hand-computed errors."""
import numpy as np
import pytest

from classic.learn import evaluate, top_k, top_k_error
from classic.learn.metrics import confusion_matrix


def test_top_k_breaks_ties_towards_lower_class_index():
    scores = np.array([[0.5, 0.9, 0.9, 0.1],
                       [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(top_k(scores, 3), [[1, 2, 0], [0, 1, 2]])


def test_hand_computed_errors():
    scores = np.array([[0.1, 0.7, 0.2],      # true 1: top-1 hit
                       [0.6, 0.3, 0.1],      # true 1: top-1 miss, top-2 hit
                       [0.2, 0.3, 0.5],      # true 0: top-1 miss, top-2 miss
                       [0.3, 0.3, 0.4]])     # true 1: top-1 miss (2), top-2 = [2, 0] (tie -> 0): miss
    labels = np.array([1, 1, 0, 1])
    assert top_k_error(scores, labels, 1) == 0.75
    assert top_k_error(scores, labels, 2) == 0.5
    assert top_k_error(scores, labels, 3) == 0.0
    m = evaluate(scores, labels, 3)
    # class 0: 0/1 correct, class 1: 1/3 correct, class 2 absent -> mean of (0, 1/3)
    assert m["mean_class_accuracy"] == pytest.approx(1 / 6)
    np.testing.assert_array_equal(m["confusion"], confusion_matrix(labels, [1, 0, 2, 2], 3))
    assert m["confusion"].sum() == 4 and m["confusion"][1, 1] == 1
