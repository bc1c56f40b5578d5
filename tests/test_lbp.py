"""Uniform LBP codes: exactly scikit-image's ``local_binary_pattern(..., method="nri_uniform")``."""
import warnings

import numpy as np
import pytest
from skimage import data
from skimage.feature import local_binary_pattern

from classic.features import DenseLBP
from classic.features.lbp import dense_lbp, lbp_codes, lbp_histograms
from classic.peers import vlfeat
from conftest import CALTECH, SAMPLE_IMAGES, requires_caltech, requires_vlfeat


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


def _vlfeat_codes(image):
    """VLFeat's LBP code of every interior pixel: 3 x 3 square, strict comparisons, its bin of each of
    the 256 patterns read off vl_lbp itself (one 3 x 3 image per pattern, whose one voting pixel
    lands in the single cell's bin)."""
    offsets = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]    # R, RU, U, ... (y down)
    mapping = np.zeros(256, np.int64)
    for pattern in range(256):
        probe = np.full((3, 3), 0.5, np.float32)
        for bit, (dy, dx) in enumerate(offsets):
            probe[1 + dy, 1 + dx] = float(pattern >> bit & 1)
        mapping[pattern] = int(np.argmax(vlfeat.lbp(probe, 3)[0, 0]))
    h, w = image.shape
    centre = image[1:-1, 1:-1]
    bits = sum((image[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx] > centre).astype(np.int64) << b
               for b, (dy, dx) in enumerate(offsets))
    codes = np.zeros((h, w), np.int64)
    codes[1:-1, 1:-1] = mapping[bits]
    return codes, mapping


@requires_vlfeat
@requires_caltech
@pytest.mark.parametrize("cell_size", [8, 5])
def test_cell_pooling_is_vl_lbps_fed_its_own_codes(cell_size):
    """The 58 / 59-bin difference is the codes only (see features/lbp.py); the pooling is vl_lbp's."""
    from classic.data import load_image
    for name in SAMPLE_IMAGES:
        image = load_image(CALTECH / name, "gray", 300)
        codes, mapping = _vlfeat_codes(image)
        ours, ref = lbp_histograms(codes, cell_size, n_codes=58), vlfeat.lbp(image, cell_size)
        assert ours.shape == ref.shape == (image.shape[0] // cell_size, image.shape[1] // cell_size, 58)
        np.testing.assert_allclose(ours, ref, atol=2e-6)
    # the definitional difference: VLFeat's two constant patterns share a bin, its 58 bins = 56 + 1 + 1
    assert mapping[0] == mapping[255] and len(set(mapping.tolist())) == 58


def test_dense_lbp_stacks_2x2_unit_norm_cell_histograms():
    image = np.random.default_rng(2).integers(0, 256, (45, 61), dtype=np.uint8)
    frames, d = dense_lbp(image, 7)
    cells = lbp_histograms(lbp_codes(image), 7)                                # (6, 8, 59)
    assert d.shape == (5 * 7, 236)
    np.testing.assert_allclose(d[8].reshape(4, 59), [cells[1, 1], cells[1, 2], cells[2, 1], cells[2, 2]], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(d.reshape(-1, 4, 59), axis=2), 1, rtol=1e-5)
    assert frames[8].tolist() == [14, 14, 7, 0]
    extractor = DenseLBP(cell_sizes=(7, 30))                  # 30: fewer than 2 x 2 cells, no descriptor
    assert len(extractor.extract(image)) == len(d) and extractor.descriptor_size == 236
