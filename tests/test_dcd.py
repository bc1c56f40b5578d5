"""Dual coordinate descent: LIBLINEAR's solution, per-class costs, dual variables on disk, stopping."""
import numpy as np
import pytest


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_dual_coordinate_svm_reaches_liblinears_solution(loss):
    """Same objective as LIBLINEAR with C = 1 / (lambda n): the same weights, bias included."""
    from sklearn.datasets import make_classification
    from sklearn.svm import LinearSVC

    from classic.learn import DualCoordinateSVM
    X, y = make_classification(300, 100, n_informative=20, n_classes=3, n_clusters_per_class=1, random_state=0)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    lam = 1e-2
    ours = DualCoordinateSVM(lam=lam, batch_size=64, max_epochs=150, patience=150, validation_fraction=0,
                             balance="none", loss=loss, tol=0).fit(X, y)
    reference = LinearSVC(C=1 / (lam * 300), loss=loss, tol=1e-8, max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-3 * np.abs(reference.coef_).max())
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-3 * np.abs(reference.coef_).max())


def test_dual_coordinate_svm_balanced_weights_are_per_class_costs():
    """balance="equal": each one-vs-rest problem weighs its positives and negatives n/2 each."""
    from sklearn.svm import LinearSVC

    from classic.learn import DualCoordinateSVM
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 40)).astype(np.float32) + np.repeat(np.eye(40, dtype=np.float32)[:3] * 2, 80, 0)
    y = np.repeat(np.arange(3), 80)
    y[:10] = 1                                                   # unequal classes: 70 / 90 / 80
    lam = 5e-2
    ours = DualCoordinateSVM(lam=lam, batch_size=50, max_epochs=300, patience=300, validation_fraction=0,
                             tol=0).fit(X, y)
    for c in range(3):
        positive = y == c
        weight = np.where(positive, 240 / (2 * positive.sum()), 240 / (2 * (~positive).sum()))
        reference = LinearSVC(C=1 / (lam * 240), loss="hinge", tol=1e-8, max_iter=1_000_000)
        reference.fit(X, np.where(positive, 1, -1), sample_weight=weight)
        np.testing.assert_allclose(ours.coef_[c], reference.coef_[0], atol=1e-3 * np.abs(reference.coef_).max())


def test_dual_variables_can_live_in_a_file_read_and_written_by_rows(tmp_path):
    from classic.experiment.store import RowFile
    from classic.learn import DualCoordinateSVM
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 30)).astype(np.float32)
    y = np.repeat(np.arange(3), 40)
    X[:, :3] += 2 * np.eye(3, dtype=np.float32)[y]
    dual = RowFile(tmp_path / "dual.f32", (120, 3))
    assert not dual[[0, 119]].any()                                   # starts at zero
    options = dict(lam=1e-2, batch_size=32, max_epochs=5, validation_fraction=0, tol=0)
    on_disk = DualCoordinateSVM(**options).fit(X, y, dual=dual)
    held = np.zeros((120, 3), dtype=np.float32)
    in_memory = DualCoordinateSVM(**options).fit(X, y, dual=held)
    np.testing.assert_array_equal(on_disk.coef_, in_memory.coef_)
    np.testing.assert_array_equal(dual[np.arange(120)], held)
    dual.close()


def test_dual_coordinate_svm_stops_when_the_optimality_violation_has_shrunk():
    from classic.learn import DualCoordinateSVM
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 20)).astype(np.float32)
    y = np.repeat(np.arange(2), 100)
    X[:, 0] += 3 * y
    model = DualCoordinateSVM(lam=1e-1, batch_size=50, max_epochs=200, patience=200, validation_fraction=0,
                              tol=1e-2).fit(X, y)
    violations = [h["max_projected_gradient"] for h in model.history_]
    assert len(violations) < 200 and violations[-1] <= 1e-2 * violations[0] < violations[-2]
    assert model.best_epoch_ == len(violations)
