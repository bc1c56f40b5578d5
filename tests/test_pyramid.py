"""The spatial pyramid: pooled statistics equal direct per-region sums; cells agree with regions."""
import numpy as np

from classic.encoding import fisher_vector
from classic.encoding.pyramid import cell_indices, n_regions, refinement, region_indices
from classic.features import nonzero_rows


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
