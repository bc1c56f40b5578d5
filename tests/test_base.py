"""What every encoder shares (encoding/base.py): prepared features, the estimator interface."""
import numpy as np
import pytest

from classic.encoding import BagOfWordsEncoder, FisherVectorEncoder, VLADEncoder
from classic.encoding.pyramid import cell_indices, n_regions
from classic.features import nonzero_rows


def test_prepared_features_encode_to_the_same_vector(real_descriptors):
    """Features dropped of empties and put in pooling order once (shared by the encoders of several
    splits) encode as the raw ones; they are in cell order, without zero rows.

    Not bit for bit: the descriptors reach the posterior-weighted sums (BLAS products over N rows) in
    another order, and float32 sums of N terms in two orders differ by ~sqrt(N) eps relative (here
    N ~ 2,000: ~5e-6).  The power normalisation's square root turns an absolute difference d of a
    small entry into at most sqrt(d), so entries of these unit-norm vectors are compared at 1e-5
    absolute (measured: 1.1e-6 with OPENBLAS_CORETYPE=Haswell); two different images' vectors lie
    ~1 apart."""
    enc = FisherVectorEncoder(n_components=8, pca_dims=16, pyramid=[(1, 1), (2, 2), (1, 3)], sample_size=5000,
                              gmm_max_iter=5).fit(real_descriptors)
    for features in real_descriptors[:3]:
        prepared = enc.prepared(features)
        assert prepared.empty_dropped and len(prepared) == int(nonzero_rows(features.descriptors).sum())
        assert (np.diff(cell_indices(prepared.positions, enc.pyramid)) >= 0).all()
        np.testing.assert_allclose(enc.encode(prepared), enc.encode(features), rtol=0, atol=1e-5)


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
