"""VLAD equals a direct computation."""
import numpy as np

from classic.encoding import vlad_vectors
from classic.encoding.pyramid import n_regions, region_indices


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
