"""The kernel-form LIBLINEAR SVM: LIBLINEAR's solution, class groups, singular Gram matrices."""
import numpy as np
import pytest
from sklearn.svm import LinearSVC

from classic.learn import LinearSVM
from classic.learn import svm as svm_module


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
