"""Input checks at the public methods: clear errors for what an estimator cannot take, and images
taken as they are meant (uint8 scaled, floats in [0, 1], the right number of channels)."""
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from classic.encoding import PCA, FisherVectorEncoder, KMeans
from classic.features import DenseSIFT, LocalColourStatistics
from classic.validation import check_image


def test_lists_are_arrays_and_nan_or_empty_input_is_refused():
    X = np.random.default_rng(0).normal(size=(20, 4))
    np.testing.assert_allclose(PCA(2).fit(X.tolist()).transform(X), PCA(2).fit(X).transform(X), rtol=1e-5)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PCA(2).fit(bad)
    with pytest.raises(ValueError, match="feature"):     # zero-width input: refused, not a faiss SIGFPE
        KMeans(n_clusters=2).fit(np.zeros((10, 0), np.float32))
    with pytest.raises(ValueError, match="expecting 4 features"):
        PCA(2).fit(X).transform(X[:, :3])


def test_unfitted_estimators_say_so():
    for estimator, call in ((PCA(2), "transform"), (KMeans(2), "predict"), (FisherVectorEncoder(2), "transform")):
        with pytest.raises(NotFittedError):
            getattr(estimator, call)(np.zeros((3, 4), np.float32) if call != "transform" or isinstance(estimator, PCA)
                                     else [])
    check_is_fitted(DenseSIFT())               # stateless extractors are fitted as they are
    check_is_fitted(LocalColourStatistics())


def test_parameters_after_the_first_are_keyword_only():
    with pytest.raises(TypeError):
        DenseSIFT((4, 6), 3)
    with pytest.raises(TypeError):
        FisherVectorEncoder(16, 32)


def test_images_uint8_is_scaled_and_wrong_ranges_or_channels_are_refused():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    np.testing.assert_allclose(check_image(gray, "gray", "DenseSIFT"), gray / np.float32(255))
    sift = DenseSIFT(bin_sizes=(4,), step=6)
    np.testing.assert_allclose(sift.extract(gray).descriptors, sift.extract(gray / np.float32(255)).descriptors,
                               atol=1e-6)
    with pytest.raises(ValueError, match="divide 0-255 images by 255"):
        sift.extract(gray.astype(np.float32))
    with pytest.raises(ValueError, match=r"takes gray \(H, W\) images, got 40 x 48 x 3: convert"):
        sift.extract(np.stack([gray] * 3, axis=2))
    with pytest.raises(ValueError, match=r"takes RGB \(H, W, 3\) images, got 40 x 48"):
        LocalColourStatistics().extract(gray)
    with pytest.raises(ValueError, match="NaN"):
        sift.extract(np.full((40, 48), np.nan, np.float32))
    with pytest.raises(ValueError, match="a list of images"):
        sift.transform(gray)
