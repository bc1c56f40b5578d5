"""Mini-batch SGD: LIBLINEAR's accuracy while streaming from disk."""
import numpy as np
import pytest

from classic.learn import LinearSVM, evaluate


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_sgd_svm_matches_liblinear_accuracy_while_streaming_from_a_memmap(tmp_path, loss):
    from sklearn.datasets import make_classification

    from classic.learn import SGDLinearSVM
    X, y = make_classification(1500, 300, n_informative=40, n_classes=10, n_clusters_per_class=1,
                               class_sep=1.5, random_state=0)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float16)
    np.save(tmp_path / "features.npy", X)
    stored = np.load(tmp_path / "features.npy", mmap_mode="r")        # rows are read batch by batch
    train, test = np.arange(1000), np.arange(1000, 1500)
    sgd = SGDLinearSVM(max_epochs=20, loss=loss, seed=0).fit(stored[:1000], y[train])
    reference = LinearSVM(C=10).fit(X[train].astype(np.float32), y[train])
    ours = evaluate(sgd.decision_function(stored[1000:]), y[test], 10)["mean_class_accuracy"]
    theirs = evaluate(reference.decision_function(X[test].astype(np.float32)), y[test], 10)["mean_class_accuracy"]
    assert ours > theirs - 0.03 and ours > 0.5
    assert 1 <= sgd.best_epoch_ <= len(sgd.history_) <= 20
    assert sgd.coef_.shape == (10, 300) and sgd.coef_.dtype == np.float32
    with pytest.raises(ValueError, match="balance"):
        SGDLinearSVM(balance="sometimes").fit(X[train], y[train])
    with pytest.raises(ValueError, match="loss"):
        SGDLinearSVM(loss="logistic").fit(X[train], y[train])
