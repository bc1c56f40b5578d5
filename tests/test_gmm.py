"""The diagonal GMM: recovers mixtures, matches scikit-learn's likelihood, stays out of denormals."""
import numpy as np
from sklearn.mixture import GaussianMixture

from classic.encoding import DiagonalGMM


def test_gmm_recovers_separated_mixture():
    rng = np.random.default_rng(1)
    means = np.array([[0, 0], [6, 0], [0, 6]], dtype=np.float32)
    stds = np.array([[0.5, 1.0], [1.0, 0.3], [0.7, 0.7]], dtype=np.float32)
    counts = [3000, 2000, 1000]
    X = np.concatenate([rng.normal(m, s, (n, 2)) for m, s, n in zip(means, stds, counts)]).astype(np.float32)
    gmm = DiagonalGMM(3, max_iter=200, seed=0).fit(X)
    order = np.argsort(gmm.means_[:, 0] + 10 * gmm.means_[:, 1])
    np.testing.assert_allclose(gmm.means_[order], means, atol=0.1)
    np.testing.assert_allclose(np.sqrt(gmm.variances_[order]), stds, atol=0.05)
    np.testing.assert_allclose(gmm.weights_[order], np.array(counts) / 6000, atol=0.01)


def test_gmm_fit_does_not_depend_on_the_number_of_threads(descriptor_sample):
    """The E-step's blocks (8,192 points) run on threads and are summed in a fixed order."""
    X = descriptor_sample[:20_000, :16]
    fits = [DiagonalGMM(8, max_iter=4, tol=0, n_jobs=jobs, seed=0).fit(X) for jobs in (1, 3)]
    assert fits[0].lower_bound_ == fits[1].lower_bound_
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    np.testing.assert_array_equal(fits[0].variances_, fits[1].variances_)


def test_gmm_log_likelihood_matches_sklearn_on_real_descriptors(fitted):
    """Same data, K = 16: our EM reaches the log-likelihood of sklearn's (within 1% of |LL|), and our
    density agrees with sklearn's evaluated at our parameters to 1e-4 per point."""
    pca, gmm, sample = fitted
    X = pca.transform(sample)
    ref = GaussianMixture(16, covariance_type="diag", max_iter=30, random_state=0, reg_covar=1e-6).fit(X)
    assert gmm.score(X) >= ref.score(X) - 0.01 * abs(ref.score(X))
    as_sklearn = GaussianMixture(16, covariance_type="diag")
    as_sklearn.weights_, as_sklearn.means_ = gmm.weights_.astype(np.float64), gmm.means_.astype(np.float64)
    as_sklearn.covariances_ = gmm.variances_.astype(np.float64)
    as_sklearn.precisions_cholesky_ = 1 / np.sqrt(as_sklearn.covariances_)
    np.testing.assert_allclose(gmm.score_samples(X[:2000]), as_sklearn.score_samples(X[:2000]), atol=1e-3, rtol=1e-4)


def test_posteriors_have_no_denormals(fitted):
    """Tiny posteriors are floored at e^-30 of a point's largest (over at most K components): float32
    denormals make x86 matrix products ~100x slower."""
    pca, gmm, sample = fitted
    gamma, _ = gmm.responsibilities(pca.transform(sample[:5000]))
    assert gamma.min() >= np.exp(-30.0) / gmm.n_components * (1 - 1e-5) > np.finfo(np.float32).tiny
    assert (gamma < 1e-12).mean() > 0.2                   # many real posteriors are at the floor
    np.testing.assert_allclose(gamma.sum(axis=1), 1, rtol=1e-5)


def test_gmm_variance_floor_and_collapsed_data():
    """Many identical points (zeroed descriptors) must not drive a variance to zero."""
    rng = np.random.default_rng(0)
    X = np.concatenate([np.zeros((5000, 8)), rng.normal(size=(5000, 8))]).astype(np.float32)
    gmm = DiagonalGMM(8, max_iter=50, variance_floor=1e-3, seed=0).fit(X)
    assert np.all(gmm.variances_ >= 1e-3 * X.var(axis=0) * (1 - 1e-5))
    assert np.isfinite(gmm.lower_bound_)
