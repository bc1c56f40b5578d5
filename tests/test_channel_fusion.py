"""Fusion of descriptor channels (classic.learn.fusion): what early and late fusion compute and how
their weights are chosen on the training images."""
import numpy as np
import pytest

from classic.learn import (LinearSVM, combine, early_fusion_weights, fold_accuracy, late_fusion_weights,
                           normalised_weights, out_of_fold_scores, stratified_folds)


def _channels(seed=0, n_per_class=12, n_classes=3):
    """An informative channel (class means apart) and a channel of pure noise, L2-normalised rows."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    good = rng.normal(size=(len(y), 10)) + 2.5 * np.eye(n_classes, 10)[y]
    noise = rng.normal(size=(len(y), 10))
    return [x / np.linalg.norm(x, axis=1, keepdims=True) for x in (good, noise)], y


def test_early_fusion_kernel_is_the_gram_matrix_of_the_weighted_concatenation():
    (a, b), _ = _channels()
    w = normalised_weights([1.0, 0.5])
    concatenated = np.hstack([np.sqrt(w[0]) * a, np.sqrt(w[1]) * b])
    np.testing.assert_allclose(combine([a @ a.T, b @ b.T], [1.0, 0.5]), concatenated @ concatenated.T, rtol=1e-5,
                               atol=1e-6)


def test_weights_are_normalised_and_refused_when_negative_or_all_zero():
    np.testing.assert_allclose(normalised_weights([2, 1, 1]), [0.5, 0.25, 0.25])
    for bad in ([1, -1], [0, 0]):
        with pytest.raises(ValueError, match="weights"):
            normalised_weights(bad)


def test_late_fusion_weights_keep_the_informative_channel_and_drop_the_noise():
    (a, b), y = _channels()
    folds = stratified_folds(y, 3, seed=0)
    held_out = [out_of_fold_scores(x @ x.T, y, folds, C=1.0, n_classes=3, n_jobs=1) for x in (a, b)]
    weights, tried = late_fusion_weights(held_out, y, folds, [0.0, 0.5, 1.0], n_classes=3)
    assert len(tried) == 3 and weights[0] > weights[1]
    assert max(tried.values()) == fold_accuracy(combine(held_out, weights), y, folds, 3)
    assert fold_accuracy(held_out[0], y, folds, 3) > fold_accuracy(held_out[1], y, folds, 3) + 0.3


def test_early_fusion_weights_never_do_worse_in_cross_validation_than_equal_weights():
    (a, b), y = _channels(seed=1)
    folds = stratified_folds(y, 3, seed=0)
    kernels = [a @ a.T, b @ b.T]
    weights, tried = early_fusion_weights(kernels, y, folds, [0.0, 0.25, 1.0], C=1.0, n_classes=3, n_jobs=1)
    assert tried["1,1"] <= max(tried.values()) == tried[",".join(f"{w / weights[0]:.4g}" for w in weights)]
    assert weights[1] < weights[0]                     # the noise channel is down-weighted
    # the held-out scores are those of SVMs that never saw the sample
    fit_idx, val_idx = folds[0]
    K = combine(kernels, weights)
    svm = LinearSVM(C=1.0, n_jobs=1).fit_kernel(K[np.ix_(fit_idx, fit_idx)], y[fit_idx])
    np.testing.assert_allclose(out_of_fold_scores(K, y, folds, C=1.0, n_classes=3, n_jobs=1)[val_idx],
                               svm.decision_function_kernel(K[np.ix_(val_idx, fit_idx)]), rtol=1e-5, atol=1e-6)
