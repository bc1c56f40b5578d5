import numpy as np
import pytest
from sklearn.svm import LinearSVC

from classic.learn import LinearSVM, evaluate, top_k, top_k_error
from classic.learn import svm as svm_module
from classic.learn.metrics import confusion_matrix


@pytest.fixture(scope="module")
def problem():
    """More dimensions than samples, as with Fisher vectors."""
    rng = np.random.default_rng(0)
    n, d, c = 300, 2000, 6
    centres = rng.normal(size=(c, d)).astype(np.float32)
    y = np.repeat(np.arange(c), n // c)
    X = (0.15 * centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    yt = np.repeat(np.arange(c), 20)
    Xt = (0.15 * centres[yt] + rng.normal(size=(len(yt), d))).astype(np.float32)
    return X, y, Xt, yt


@pytest.mark.parametrize("loss", ["squared_hinge", "hinge"])
def test_kernel_form_equals_liblinear_on_raw_features(problem, loss):
    """Solving in the span of the training samples gives LIBLINEAR's solution on the raw features."""
    X, y, Xt, _ = problem
    ours = LinearSVM(C=0.5, loss=loss, tol=1e-8, max_iter=100_000).fit(X, y)
    ref = LinearSVC(C=0.5, loss=loss, tol=1e-8, max_iter=100_000, random_state=0).fit(X, y)
    s_ours, s_ref = ours.decision_function(Xt), ref.decision_function(Xt)
    assert np.abs(s_ours - s_ref).max() < 1e-3 * np.abs(s_ref).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())


def test_fit_kernel_matches_fit(problem):
    X, y, Xt, yt = problem
    a = LinearSVM(C=1.0).fit(X, y)
    b = LinearSVM(C=1.0).fit_kernel(X @ X.T, y)
    np.testing.assert_allclose(a.decision_function(Xt), b.decision_function_kernel(Xt @ X.T), atol=1e-4)
    assert (a.predict(Xt) == yt).mean() > 0.8


def test_class_groups_in_processes_give_liblinear_one_vs_rest(problem, monkeypatch):
    """Classes in several LIBLINEAR runs (here 3), on processes: LIBLINEAR's one-vs-rest scores, and
    the same numbers whatever the number of processes."""
    monkeypatch.setattr(svm_module, "_GROUP_SIZE", 2)
    X, y, Xt, _ = problem
    fits = [LinearSVM(C=0.5, tol=1e-8, max_iter=100_000, n_jobs=jobs).fit(X, y) for jobs in (1, 2)]
    np.testing.assert_array_equal(fits[0].dual_coef_, fits[1].dual_coef_)
    ref = LinearSVC(C=0.5, tol=1e-8, max_iter=100_000, random_state=0).fit(X, y)
    s_ours, s_ref = fits[1].decision_function(Xt), ref.decision_function(Xt)
    assert np.abs(s_ours - s_ref).max() < 1e-3 * np.abs(s_ref).max()


def test_singular_gram_matrix_falls_back_to_the_eigendecomposition(problem):
    """More samples than dimensions: K is singular, no Cholesky factor; the solution is still LIBLINEAR's."""
    X, y, Xt, _ = problem
    X, Xt = X[:, :40], Xt[:, :40]
    ours = LinearSVM(C=0.5, tol=1e-8, max_iter=100_000).fit_kernel(X @ X.T, y)
    ref = LinearSVC(C=0.5, tol=1e-8, max_iter=100_000, random_state=0).fit(X, y)
    s_ours, s_ref = ours.decision_function_kernel(Xt @ X.T), ref.decision_function(Xt)
    assert np.abs(s_ours - s_ref).max() < 1e-3 * np.abs(s_ref).max()


def test_binary_problem_gives_one_score_column_as_scikit_learn(problem):
    from classic.learn import scores_for_classes
    X, y, Xt, _ = problem
    svm = LinearSVM().fit(X[y < 2], y[y < 2])
    s = svm.decision_function(Xt)
    assert s.shape == (len(Xt),)
    np.testing.assert_array_equal(svm.predict(Xt), np.where(s > 0, 1, 0))
    both = scores_for_classes(s, svm.classes_, 2)          # the runner's (n, classes) scores
    assert np.allclose(both[:, 0], -both[:, 1]) and (both.argmax(1) == svm.predict(Xt)).all()


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


def test_without_a_held_out_slice_the_history_holds_no_accuracy_and_the_last_pass_is_kept():
    from classic.learn import SGDLinearSVM
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 10)).astype(np.float32)
    y = np.repeat(np.arange(3), 100)
    X[:, :3] += 2 * np.eye(3, dtype=np.float32)[y]
    model = SGDLinearSVM(max_epochs=4, patience=1, validation_fraction=0, seed=0).fit(X, y)
    assert [h["epoch"] for h in model.history_] == [1, 2, 3, 4]                 # patience plays no part
    assert all("held_out_mean_class_accuracy" not in h for h in model.history_)
    assert model.selected_by_ == "last_epoch" and model.best_epoch_ == 4
    held = SGDLinearSVM(max_epochs=4, validation_fraction=0.2, seed=0).fit(X, y)
    assert held.selected_by_ == "held_out_mean_class_accuracy"
    assert all(0 <= h["held_out_mean_class_accuracy"] <= 1 for h in held.history_)
