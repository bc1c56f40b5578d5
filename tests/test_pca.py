"""PCA: the same subspace as scikit-learn's, whitening."""
import numpy as np
from sklearn.decomposition import PCA as SkPCA

from classic.encoding import PCA


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
