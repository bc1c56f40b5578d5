"""k-means: separated clusters recovered, points assigned to their nearest centre."""
import numpy as np

from classic.encoding import KMeans


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
