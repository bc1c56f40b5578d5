"""The other encodings of the era: k-means vocabulary, VLAD, bag of words (hard / soft), chi2 kernel map."""
import numpy as np
import pytest
from sklearn.kernel_approximation import AdditiveChi2Sampler

from classic.encoding import (PCA, BagOfWordsEncoder, KMeans, VLADEncoder, bow_histograms, chi2_feature_map,
                              vlad_vectors)
from classic.encoding.bow import codeword_weights
from classic.encoding.pyramid import n_regions, region_indices


@pytest.fixture(scope="module")
def vocabulary(real_descriptors, descriptor_sample):
    """PCA 32 + k-means K = 32 on real (non-zero) dense SIFT descriptors, and one image's projected features."""
    pca = PCA(32).fit(descriptor_sample)
    kmeans = KMeans(32, max_iter=10, seed=0).fit(pca.transform(descriptor_sample))
    f = real_descriptors[2].without_empty()
    return pca, kmeans, pca.transform(f.descriptors), f.positions


def test_kmeans_recovers_separated_clusters_and_assigns_to_the_nearest():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(8, 5)).astype(np.float32) * 20
    X = (truth[rng.integers(8, size=4000)] + rng.normal(size=(4000, 5))).astype(np.float32)
    km = KMeans(8, max_iter=20, seed=0).fit(X)
    nearest_truth = np.linalg.norm(km.cluster_centers_[:, None] - truth[None], axis=2).min(axis=1)
    assert nearest_truth.max() < 0.3                                 # every centre sits on a true cluster
    brute = np.argmin(((X[:, None] - km.cluster_centers_[None]) ** 2).sum(2), axis=1)
    np.testing.assert_array_equal(km.predict(X), brute)
    assert 4 < km.mean_distance_ < 6                                 # 5 unit-variance dimensions
    again = KMeans.from_arrays(km.to_arrays())
    np.testing.assert_array_equal(again.predict(X), brute)


def test_chi2_map_matches_sklearn_and_approximates_the_kernel():
    rng = np.random.default_rng(0)
    H = rng.random((20, 50)).astype(np.float32) * (rng.random((20, 50)) > 0.3)
    H /= H.sum(axis=1, keepdims=True)
    ours = chi2_feature_map(H, order=2, period=0.5)
    ref = AdditiveChi2Sampler(sample_steps=3, sample_interval=0.5).fit_transform(H.astype(np.float64))
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        pair = 2 * H[:, None, :] * H[None, :, :] / (H[:, None, :] + H[None, :, :])
    exact = np.nan_to_num(pair).sum(axis=2)
    for order, period, tolerance in ((1, 0.6, 0.05), (2, 0.5, 0.02)):
        approx = chi2_feature_map(H, order, period) @ chi2_feature_map(H, order, period).T
        assert np.abs(approx / exact - 1).max() < tolerance


def test_vlad_equals_a_direct_computation(vocabulary):
    _, kmeans, X, P = vocabulary
    levels = [(1, 1), (2, 2)]
    v = vlad_vectors([X], [P], kmeans, levels)[0].reshape(n_regions(levels), 32, -1)
    C = kmeans.cluster_centers_.astype(np.float64)
    nearest = np.argmin(((X[:, None].astype(np.float64) - C[None]) ** 2).sum(2), axis=1)
    regions = region_indices(P, levels)
    for r in range(n_regions(levels)):
        inside = (regions == r).any(axis=1)
        ref = np.zeros_like(C)
        np.add.at(ref, nearest[inside], X[inside] - C[nearest[inside]])
        ref = np.sign(ref) * np.sqrt(np.abs(ref))
        ref /= np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
        ref /= np.linalg.norm(ref)
        np.testing.assert_allclose(v[r], ref, atol=1e-5)


def test_hard_bow_is_the_normalised_histogram_of_nearest_words(vocabulary):
    _, kmeans, X, P = vocabulary
    h = bow_histograms([X], [P], kmeans, [(1, 1)], kernel_map="linear")[0]
    expected = np.bincount(kmeans.predict(X), minlength=32) / len(X)
    np.testing.assert_allclose(h, expected, atol=1e-6)


def test_soft_assignment_is_local_normalised_and_tends_to_hard(vocabulary):
    _, kmeans, X, _ = vocabulary
    soft = codeword_weights(X, kmeans, "soft", n_nearest=5, beta=10.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1, atol=1e-5)
    assert ((soft > 0).sum(axis=1) <= 5).all() and ((soft > 0).sum(axis=1) >= 2).mean() > 0.5
    assert (soft.argmax(axis=1) == kmeans.predict(X)).all()          # the nearest word keeps the largest vote
    sharp = codeword_weights(X, kmeans, "soft", n_nearest=5, beta=1e4)
    assert (sharp.argmax(axis=1) == kmeans.predict(X)).all()
    assert (sharp.max(axis=1) > 0.99).mean() > 0.95                   # near-ties aside, one word takes the vote


@pytest.mark.parametrize("encoder", [
    VLADEncoder(n_components=16, pca_dims=16, pyramid=[(1, 1), (2, 2)], sample_size=5000, kmeans_max_iter=5),
    BagOfWordsEncoder(n_components=16, pca_dims=16, pyramid=[(1, 1), (1, 3)], sample_size=5000, kmeans_max_iter=5),
    BagOfWordsEncoder(n_components=16, assignment="soft", kernel_map="hellinger", pca_dims=None,
                      pyramid=[(1, 1)], sample_size=5000, kmeans_max_iter=5),
])
def test_encoder_estimators_end_to_end(encoder, real_descriptors):
    F = encoder.fit(real_descriptors).transform(real_descriptors)
    assert F.shape == (len(real_descriptors), encoder.dimension)
    # every region of every image has descriptors here, and each region's vector has unit norm
    # (chi2: approximately, since the map approximates k(h, h) = sum(h) = 1)
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), np.sqrt(n_regions(encoder.pyramid)), rtol=0.03)
