"""Product quantisation: codes are nearest centroids, distortion as good as faiss's, round trips."""
import numpy as np
import pytest

from classic.encoding import ProductQuantizer


def clustered(n=1500, D=48, seed=0):
    """Each 8-D sub-vector drawn around one of 12 sub-space centres: what PQ is built to compress."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(D // 8, 12, 8)).astype(np.float32) * 3
    pick = rng.integers(12, size=(n, D // 8))
    X = centres[np.arange(D // 8)[None, :], pick].reshape(n, D)
    return (X + 0.2 * rng.normal(size=X.shape)).astype(np.float32)


def test_codes_are_the_nearest_centroids_and_decode_to_them():
    X = clustered()
    pq = ProductQuantizer(subvector_dims=8, bits=4, max_iter=15, seed=0).fit(X)
    assert pq.codebooks_.shape == (6, 16, 8)
    codes = pq.transform(X[:50])
    assert codes.shape == (50, 6) and codes.dtype == np.uint8
    sub = X[:50].reshape(50, 6, 1, 8)
    distances = ((sub - pq.codebooks_[None]) ** 2).sum(axis=3)              # (50, 6, 16), the brute force
    chosen = np.take_along_axis(distances, codes[..., None].astype(np.int64), axis=2)[..., 0]
    # the chosen centroid is a nearest one (equal distances to float32 rounding: a tie may go either way)
    np.testing.assert_allclose(chosen, distances.min(axis=2), rtol=1e-5, atol=1e-6)
    decoded = pq.inverse_transform(codes)
    np.testing.assert_array_equal(decoded.reshape(50, 6, 8)[3, 2], pq.codebooks_[2, codes[3, 2]])
    full = pq.inverse_transform(pq.transform(X))
    assert np.isclose(pq.distortion_, ((X - full) ** 2).sum() / (X ** 2).sum(), rtol=1e-4)
    assert pq.distortion_ < 0.02                      # 16 centroids for 12 clusters of noise 0.2


def test_distortion_is_as_low_as_faiss_at_the_same_settings():
    faiss = pytest.importorskip("faiss")
    X = clustered(n=3000, D=64, seed=1)
    X += np.random.default_rng(2).normal(size=X.shape).astype(np.float32)   # clusters overlap: k-means matters
    ours = ProductQuantizer(subvector_dims=8, bits=6, max_iter=20, seed=0).fit(X)
    reference = faiss.ProductQuantizer(64, 8, 6)
    reference.cp.niter = 20
    reference.train(X)
    theirs = reference.decode(reference.compute_codes(X))
    faiss_distortion = ((X - theirs) ** 2).sum() / (X ** 2).sum()
    assert ours.distortion_ <= 1.02 * faiss_distortion


def test_group_boundaries_do_not_change_the_result(monkeypatch):
    """Sub-quantisers are fitted in groups sized by memory; one per group gives the same codebooks."""
    import classic.encoding.pq as pq_module
    X = clustered(n=400, D=32)
    together = ProductQuantizer(bits=3, max_iter=5, seed=3).fit(X)
    monkeypatch.setattr(pq_module, "DISTANCE_BYTES", 1)
    apart = ProductQuantizer(bits=3, max_iter=5, seed=3)
    assert len(apart._groups(400, 4)) == 4
    apart.fit(X)
    np.testing.assert_allclose(apart.codebooks_, together.codebooks_, rtol=1e-5, atol=1e-6)
    # codebooks equal to rounding quantise alike: the reconstructions agree (a near-tie may pick the
    # other of two equidistant centroids, which changes the code but not the error)
    error = [((X - pq.inverse_transform(pq.transform(X))) ** 2).sum() for pq in (apart, together)]
    assert error[0] == pytest.approx(error[1], rel=1e-5)
    assert (apart.transform(X) == together.transform(X)).mean() > 0.999


def test_round_trip_through_arrays_and_errors():
    X = clustered(n=300, D=16)
    pq = ProductQuantizer(bits=5, max_iter=5).fit(X)
    again = ProductQuantizer.from_arrays(pq.to_arrays())
    assert again.bits == 5 and again.subvector_dims == 8
    np.testing.assert_array_equal(again.transform(X), pq.transform(X))
    with pytest.raises(ValueError, match="at least 256"):
        ProductQuantizer(bits=8).fit(X[:100])
    with pytest.raises(ValueError, match="sub-vectors of 8"):
        ProductQuantizer().fit(np.zeros((300, 12), np.float32))
    with pytest.raises(ValueError, match="between 1 and 8"):
        ProductQuantizer(bits=9).fit(X)
