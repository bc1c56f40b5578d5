"""Uniform LBP codes: exactly scikit-image's ``local_binary_pattern(..., method="nri_uniform")``."""
import warnings

import numpy as np
import pytest
from skimage import data
from skimage.feature import local_binary_pattern

from classic.features.lbp import lbp_codes
from conftest import CALTECH, SAMPLE_IMAGES, requires_caltech


def _reference(image):
    with warnings.catch_warnings():          # scikit-image warns about float images; we compare on them too
        warnings.simplefilter("ignore")
        return local_binary_pattern(image, 8, 1, method="nri_uniform").astype(np.int64)


@requires_caltech
@pytest.mark.parametrize("name", SAMPLE_IMAGES)
def test_codes_equal_scikit_images_on_caltech_images_as_uint8_and_float(name):
    from classic.data import load_image
    image = load_image(CALTECH / name, "gray", 300)
    for version in (image, np.round(255 * image).astype(np.uint8)):
        codes = lbp_codes(version)
        np.testing.assert_array_equal(codes, _reference(version))
        assert codes.min() >= 0 and codes.max() <= 58


@pytest.mark.parametrize("image", [data.camera(), data.coins(), np.zeros((6, 7), np.uint8),
                                   np.random.default_rng(0).integers(0, 3, (40, 50))])
def test_codes_equal_scikit_images_on_its_samples_flat_and_noisy_images(image):
    np.testing.assert_array_equal(lbp_codes(image), _reference(image))


def test_the_59_codes_of_8_neighbours():
    image = np.zeros((5, 5))
    image[2, 2] = 1
    assert lbp_codes(image)[2, 2] == 0                       # every neighbour darker: no 1s
    image[2, 2] = -1
    assert lbp_codes(image)[2, 2] == 57                      # every neighbour brighter: all 1s
    image = np.zeros((3, 3))
    image[0, 0] = image[2, 2] = 1                            # a bright diagonal pair around a dark centre
    image[1, 1] = 0.5                                        # 1s at two opposite neighbours: 4 changes
    assert lbp_codes(image)[1, 1] == 58
