"""The chi2 feature map: scikit-learn's layout, the kernel approximated."""
import numpy as np
from sklearn.kernel_approximation import AdditiveChi2Sampler

from classic.encoding import chi2_feature_map


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
