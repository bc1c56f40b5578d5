import numpy as np
import pytest
from sklearn.decomposition import PCA as SkPCA
from sklearn.mixture import GaussianMixture

from classic.encoding import PCA, DiagonalGMM, FisherVectorEncoder, fisher_vector
from classic.encoding.fisher import fisher_vectors
from classic.encoding.pyramid import cell_indices, n_regions, refinement, region_indices
from classic.features import nonzero_rows
from classic.peers import vlfeat
from conftest import requires_vlfeat


@pytest.fixture(scope="module")
def fitted(descriptor_sample):
    """PCA 32 + GMM K=16 fitted on real (non-zero) dense SIFT descriptors."""
    sample = descriptor_sample
    pca = PCA(32).fit(sample)
    gmm = DiagonalGMM(16, max_iter=30, seed=0).fit(pca.transform(sample))
    return pca, gmm, sample


def test_pca_matches_sklearn(fitted):
    pca, _, sample = fitted
    ref = SkPCA(32, svd_solver="full").fit(sample)
    np.testing.assert_allclose(pca.explained_variance_, ref.explained_variance_, rtol=1e-4)
    ours, theirs = pca.transform(sample[:100]), ref.transform(sample[:100])
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=2e-5)   # up to the sign of each component


def test_pca_whitening_gives_unit_variance(fitted):
    _, _, sample = fitted
    z = PCA(16, whiten=True).fit(sample).transform(sample)
    np.testing.assert_allclose(z.var(axis=0, ddof=1), 1, rtol=1e-2)


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


def test_fisher_vector_matches_vlfeat(fitted, real_descriptors):
    pca, gmm, _ = fitted
    for f in real_descriptors[:3]:
        X = pca.transform(f.descriptors[nonzero_rows(f.descriptors)])
        ours = fisher_vector(X, gmm)
        for improved in (True, False):
            ours = fisher_vector(X, gmm, improved=improved)
            ref = vlfeat.fisher(X, gmm.means_, gmm.variances_, gmm.weights_, improved=improved)
            # VLFeat skips posteriors below 1e-6; measured max |diff| / max |ref| ~ 2e-4
            assert np.abs(ours - ref).max() <= 1e-3 * np.abs(ref).max()
            assert np.corrcoef(ours, ref)[0, 1] > 0.99999


test_fisher_vector_matches_vlfeat = requires_vlfeat(test_fisher_vector_matches_vlfeat)


def test_fisher_vector_matches_skimage_up_to_its_conventions(fitted, real_descriptors):
    """skimage prepends K weight gradients and has the opposite sign on the variance block."""
    from skimage.feature import fisher_vector as sk_fisher_vector
    pca, gmm, _ = fitted
    X = pca.transform(real_descriptors[0].descriptors[nonzero_rows(real_descriptors[0].descriptors)])
    sk_gmm = GaussianMixture(16, covariance_type="diag")
    sk_gmm.weights_, sk_gmm.means_ = gmm.weights_.astype(np.float64), gmm.means_.astype(np.float64)
    sk_gmm.covariances_ = gmm.variances_.astype(np.float64)
    sk_gmm.precisions_cholesky_ = 1 / np.sqrt(sk_gmm.covariances_)
    ref = sk_fisher_vector(X.astype(np.float64), sk_gmm, improved=False)
    ours = fisher_vector(X.astype(np.float64), gmm, improved=False)     # same precision as skimage
    kd = gmm.means_.size
    np.testing.assert_allclose(ours[:kd], ref[16:16 + kd], atol=1e-6)
    np.testing.assert_allclose(ours[kd:], -ref[16 + kd:], atol=1e-6)


def test_fisher_vector_float32_matches_float64_on_real_descriptors(real_descriptors):
    """float32 Fisher vectors agree with a float64 reference on real descriptors.

    The danger (measured): the zeroed low-contrast descriptors are identical points; a GMM component
    collapses onto them, and the float32 expansion (S2 - 2 mu S1 + mu^2 S0) / sigma^2 then cancels
    catastrophically.  Two defences, both checked here: the GMM's relative variance floor bounds the
    amplification, and the encoder drops zeroed descriptors (the pipeline's default), after which
    float32 agrees with float64 to 1e-4 per entry after power + L2 normalisation (measured <= 2.1e-5).
    """
    sample = np.concatenate([f.descriptors for f in real_descriptors])
    sample = sample[np.random.default_rng(0).choice(len(sample), 30000, replace=False)]
    assert (~nonzero_rows(sample)).mean() > 0.02          # the real data has zeroed descriptors
    pca = PCA(32).fit(sample)
    gmm = DiagonalGMM(16, max_iter=30, seed=0, variance_floor=1e-3).fit(pca.transform(sample))
    ratio = (gmm.variances_ / gmm.data_variance_).min(axis=1)
    assert ratio.min() == pytest.approx(1e-3, rel=1e-3)   # one component sits on the floor: collapsed
    levels = [(1, 1), (2, 2)]
    worst_kept, worst_dropped = 0.0, 0.0
    for f in real_descriptors:
        for drop in (False, True):
            keep = nonzero_rows(f.descriptors) if drop else np.ones(len(f), bool)
            X, P = pca.transform(f.descriptors[keep]), f.positions[keep]
            fv32 = fisher_vector(X, gmm, P, levels)
            fv64 = fisher_vector(X.astype(np.float64), gmm, P.astype(np.float64), levels)
            assert fv32.dtype == np.float32 and fv64.dtype == np.float64
            error = float(np.abs(fv32 - fv64).max())
            if drop:
                worst_dropped = max(worst_dropped, error)
            else:
                worst_kept = max(worst_kept, error)
    assert worst_dropped < 1e-4
    # without dropping, the floor still bounds the error (measured 1.6e-3; 0.5 without a floor)
    assert worst_kept < 5e-3


def test_pyramid_statistics_equal_direct_per_region(fitted, real_descriptors):
    pca, gmm, _ = fitted
    f = real_descriptors[1]
    keep = nonzero_rows(f.descriptors)
    X, P = pca.transform(f.descriptors[keep]), f.positions[keep]
    levels = [(1, 1), (2, 2), (1, 3)]
    fv = fisher_vector(X, gmm, P, levels).reshape(n_regions(levels), -1)
    regions = region_indices(P, levels)
    for r in range(n_regions(levels)):
        inside = (regions == r).any(axis=1)
        np.testing.assert_allclose(fv[r], fisher_vector(X[inside], gmm), atol=1e-4)  # summation order
        np.testing.assert_allclose(np.linalg.norm(fv[r]), 1, atol=1e-5)


def test_pooling_in_cpu_blocks_equals_one_product_per_batch(fitted, real_descriptors):
    """block_rows=None is the GPU path (one posterior product for the batch); integers split each bag."""
    from classic.encoding.gmm import stacked_moments
    from classic.encoding.pyramid import pool
    pca, gmm, _ = fitted
    batch = [f.without_empty() for f in real_descriptors[:3]]
    X, P = [pca.transform(f.descriptors) for f in batch], [f.positions for f in batch]

    def statistics(rows):
        moments = stacked_moments(rows)
        return gmm.responsibilities(rows, moments)[0], moments
    whole, counts = pool(X, P, [(1, 1), (2, 2), (1, 3)], statistics, block_rows=None)
    assert counts.sum() == 3 * sum(len(x) for x in X)      # each descriptor in one region of each level
    for block_rows in (97, 4096, "auto"):
        blocked, blocked_counts = pool(X, P, [(1, 1), (2, 2), (1, 3)], statistics, block_rows=block_rows)
        np.testing.assert_array_equal(blocked_counts, counts)
        np.testing.assert_allclose(blocked, whole, rtol=1e-4, atol=1e-3)


def test_refinement_of_the_standard_pyramid():
    columns, rows, membership = refinement([(1, 1), (2, 2), (1, 3)])
    assert (columns, rows) == (2, 4)                       # 2 columns x bands cut at 1/3, 1/2, 2/3
    np.testing.assert_array_equal(membership.sum(axis=1), [8, 2, 2, 2, 2, 2, 4, 2])
    np.testing.assert_array_equal(membership.sum(axis=0), [3] * 8)     # every cell in one region per level


def test_cells_agree_with_regions_even_on_the_cuts():
    rng = np.random.default_rng(0)
    levels = [(1, 1), (2, 2), (1, 3)]
    P = np.concatenate([rng.random((1000, 2)), np.array([[0.5, 1 / 3], [0.5, 2 / 3], [0.0, 0.5], [0.9999, 0.99999]])])
    P = P.astype(np.float32)
    _, _, membership = refinement(levels)
    cells, regions = cell_indices(P, levels), region_indices(P, levels)
    for cell, region_row in zip(cells, regions):
        assert set(np.flatnonzero(membership[:, cell])) == set(region_row.tolist())


def test_batch_equals_one_image_at_a_time(fitted, real_descriptors):
    pca, gmm, _ = fitted
    levels = [(1, 1), (2, 2), (1, 3)]
    xs, ps = [], []
    for f in real_descriptors[:4]:
        keep = nonzero_rows(f.descriptors)
        xs.append(pca.transform(f.descriptors[keep]))
        ps.append(f.positions[keep])
    xs.append(np.zeros((0, 32), np.float32))               # an image without descriptors, inside a batch
    ps.append(np.zeros((0, 2), np.float32))
    batch = fisher_vectors(xs, ps, gmm, levels)
    for i, (x, p) in enumerate(zip(xs, ps)):
        np.testing.assert_allclose(batch[i], fisher_vector(x, gmm, p, levels), atol=1e-5)
    assert not batch[-1].any()


def test_empty_image_and_region_encode_to_zeros(fitted):
    _, gmm, _ = fitted
    assert not fisher_vector(np.zeros((0, 32), np.float32), gmm, np.zeros((0, 2), np.float32), [(1, 1), (2, 2)]).any()
    X = np.ones((5, 32), np.float32)
    P = np.full((5, 2), 0.1, np.float32)       # all in the top-left quadrant
    fv = fisher_vector(X, gmm, P, [(2, 2)]).reshape(4, -1)
    assert fv[0].any() and not fv[1:].any()


def test_encoder_estimator_end_to_end(real_descriptors):
    enc = FisherVectorEncoder(n_components=8, pca_dims=16, pyramid=[(1, 1), (2, 2)], sample_size=5000,
                              gmm_max_iter=10)
    F = enc.fit(real_descriptors).transform(real_descriptors)
    assert F.shape == (len(real_descriptors), enc.dimension) == (6, 5 * 2 * 8 * 16)
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), np.sqrt(5), atol=1e-4)


def test_prepared_features_encode_to_the_same_vector(real_descriptors):
    """Features dropped of empties and put in pooling order once (shared by the encoders of several
    splits) encode as the raw ones; they are in cell order, without zero rows.

    Not bit for bit: the descriptors reach the posterior-weighted sums (BLAS products over N rows) in
    another order, and float32 sums of N terms in two orders differ by ~sqrt(N) eps relative (here
    N ~ 2,000: ~5e-6).  The power normalisation's square root turns an absolute difference d of a
    small entry into at most sqrt(d), so entries of these unit-norm vectors are compared at 1e-5
    absolute (measured: 1.1e-6 with OPENBLAS_CORETYPE=Haswell); two different images' vectors lie
    ~1 apart."""
    from classic.encoding.pyramid import cell_indices
    enc = FisherVectorEncoder(n_components=8, pca_dims=16, pyramid=[(1, 1), (2, 2), (1, 3)], sample_size=5000,
                              gmm_max_iter=5).fit(real_descriptors)
    for features in real_descriptors[:3]:
        prepared = enc.prepared(features)
        assert prepared.empty_dropped and len(prepared) == int(nonzero_rows(features.descriptors).sum())
        assert (np.diff(cell_indices(prepared.positions, enc.pyramid)) >= 0).all()
        np.testing.assert_allclose(enc.encode(prepared), enc.encode(features), rtol=0, atol=1e-5)
