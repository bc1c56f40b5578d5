"""Fisher vectors: parity with VLFeat and scikit-image, float32 accuracy, batches, empty images."""
import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from classic.encoding import PCA, DiagonalGMM, FisherVectorEncoder, fisher_vector
from classic.encoding.fisher import fisher_vectors
from classic.features import nonzero_rows
from classic.peers import vlfeat
from conftest import requires_vlfeat


@requires_vlfeat
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
