"""LLC codes and max pooling equal direct float64 computations (Wang et al. 2010)."""
import numpy as np
import pytest

from classic.encoding import LLCEncoder, llc_vectors
from classic.encoding.llc import llc_codes
from classic.encoding.pyramid import n_regions, region_indices


def direct_codes(X, centres, k, lam):
    """Dense (n, K) LLC codes: brute-force k nearest, then the regularised local solve, in float64."""
    X, centres = X.astype(np.float64), centres.astype(np.float64)
    codes = np.zeros((len(X), len(centres)))
    for i, x in enumerate(X):
        nearest = np.argsort(((centres - x) ** 2).sum(1))[:k]
        shifted = centres[nearest] - x
        C = shifted @ shifted.T
        c = np.linalg.solve(C + lam * np.trace(C) * np.eye(k), np.ones(k))
        codes[i, nearest] = c / c.sum()
    return codes


def test_codes_equal_the_direct_solution_and_sum_to_one(vocabulary):
    _, kmeans, X, _ = vocabulary
    X = X[:300]
    index, codes = llc_codes(X, kmeans.cluster_centers_, n_nearest=5, lam=1e-4)
    dense = np.zeros((len(X), 32))
    np.put_along_axis(dense, index, codes, axis=1)
    np.testing.assert_allclose(dense, direct_codes(X, kmeans.cluster_centers_, 5, 1e-4), atol=2e-5)
    np.testing.assert_allclose(codes.sum(1), 1, atol=1e-5)


def test_with_enough_codewords_the_code_reconstructs_the_descriptor():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 3)).astype(np.float32)
    X = rng.standard_normal((50, 3)).astype(np.float32) * 0.5
    index, codes = llc_codes(X, centres, n_nearest=4, lam=0.0)        # 4 codewords span 3-D affinely
    reconstruction = (codes[:, :, None] * centres[index]).sum(1)
    np.testing.assert_allclose(reconstruction, X, atol=1e-4)


@pytest.mark.parametrize("levels", [[(1, 1)], [(1, 1), (2, 2), (4, 4)]])
def test_pooled_vectors_are_the_region_maxima_of_the_dense_codes(vocabulary, levels):
    _, kmeans, X, P = vocabulary
    v = llc_vectors([X], [P], kmeans, levels)[0]
    dense = direct_codes(X, kmeans.cluster_centers_, 5, 1e-4)
    regions = region_indices(P, levels)
    ref = np.zeros((n_regions(levels), 32))
    for r in range(n_regions(levels)):
        inside = (regions == r).any(axis=1)
        if inside.any():
            ref[r] = dense[inside].max(axis=0)
    ref = ref.ravel() / np.linalg.norm(ref)
    np.testing.assert_allclose(v, ref, atol=2e-5)


def test_a_codeword_every_descriptor_of_a_region_uses_keeps_its_negative_maximum():
    centres = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)
    X = np.array([[1.4, 1.4]], dtype=np.float32)                      # outside the square: negative weights
    _, codes = llc_codes(X, centres, n_nearest=4, lam=1e-6)
    assert codes.min() < 0
    from classic.encoding import KMeans
    kmeans = KMeans(4).fit(np.repeat(centres, 10, axis=0))
    v = llc_vectors([X], [np.array([[0.5, 0.5]])], kmeans, [(1, 1)])[0]
    assert (v < 0).any()                                              # the only descriptor: max = its code


def test_images_without_descriptors_code_to_zeros_and_the_encoder_fits(real_descriptors):
    encoder = LLCEncoder(n_components=16, pca_dims=16, pyramid=((1, 1), (2, 2)), sample_size=5000).fit(real_descriptors)
    out = encoder.transform(real_descriptors)
    assert out.shape == (len(real_descriptors), 5 * 16) == (len(real_descriptors), encoder.dimension)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    empty = llc_vectors([np.zeros((0, 16), np.float32)], [np.zeros((0, 2))], encoder.vocabulary_, [(1, 1)])
    assert np.all(empty == 0)
