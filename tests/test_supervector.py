"""Super-vector coding equals the direct float64 formula of Zhou et al. (2010), region by region."""
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from classic.encoding import SuperVectorEncoder, supervectors
from classic.encoding.bow import codeword_weights
from classic.encoding.pyramid import n_regions, region_indices


def direct_supervector(X, weights, centres, s, power=True):
    """[s sqrt(p_k), (1 / sqrt(p_k)) sum_x w_k(x) (x - mu_k) / N] per codeword, in float64 loops."""
    X, weights, centres = (a.astype(np.float64) for a in (X, weights, centres))
    N = len(X)
    parts = []
    for k in range(len(centres)):
        p = weights[:, k].sum() / N
        residual = (weights[:, k, None] * (X - centres[k])).sum(0) / N
        parts.append(np.concatenate([[s * np.sqrt(p)], residual / np.sqrt(p) if p > 0 else residual * 0]))
    v = np.concatenate(parts)
    if power:
        v = np.sign(v) * np.sqrt(np.abs(v))
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("assignment", ["hard", "soft"])
@pytest.mark.parametrize("s", [0.1, 1.0])
def test_supervector_equals_the_direct_formula_on_every_pyramid_region(vocabulary, assignment, s):
    _, kmeans, X, P = vocabulary
    levels = [(1, 1), (2, 2)]
    v = supervectors([X], [P], kmeans, levels, s=s, assignment=assignment)[0].reshape(n_regions(levels), -1)
    assert v.shape[1] == 32 * (X.shape[1] + 1)
    weights = codeword_weights(X, kmeans, assignment)
    regions = region_indices(P, levels)
    for r in range(n_regions(levels)):
        inside = (regions == r).any(axis=1)
        ref = direct_supervector(X[inside], weights[inside], kmeans.cluster_centers_, s)
        np.testing.assert_allclose(v[r], ref, atol=2e-6)


def test_supervector_without_power_and_s_zero_is_the_scaled_residual_part(vocabulary):
    _, kmeans, X, P = vocabulary
    v = supervectors([X], [P], kmeans, s=0.0, power=False)[0].reshape(32, -1)
    assert np.all(v[:, 0] == 0)                                   # no frequency part
    ref = direct_supervector(X, codeword_weights(X, kmeans, "hard"), kmeans.cluster_centers_, 0.0, power=False)
    np.testing.assert_allclose(v.ravel(), ref, atol=2e-6)


def test_an_image_or_region_without_descriptors_codes_to_zeros(vocabulary):
    _, kmeans, X, P = vocabulary
    left = P[:, 0] < 0.5
    v = supervectors([X[left], X[:0]], [P[left], P[:0]], kmeans, [(1, 1), (2, 1)])
    assert np.all(v[1] == 0) and np.isfinite(v).all()
    right_region = v[0].reshape(3, -1)[2]
    assert np.all(right_region == 0) and np.linalg.norm(v[0].reshape(3, -1)[0]) == pytest.approx(1, abs=1e-5)


def test_the_encoder_is_a_pipeline_stage_and_refuses_an_unknown_assignment(real_descriptors):
    from classic.features import LocalFeatures  # noqa: F401  (the encoder takes LocalFeatures)
    encoder = SuperVectorEncoder(n_components=8, pca_dims=16, pyramid=((1, 1), (1, 2)), sample_size=5000)
    out = make_pipeline(encoder).fit(real_descriptors).transform(real_descriptors)
    assert out.shape == (len(real_descriptors), 3 * 8 * 17) == (len(real_descriptors), encoder.dimension)
    with pytest.raises(ValueError, match="assignment"):
        SuperVectorEncoder(n_components=4, assignment="nearest").fit(real_descriptors)
