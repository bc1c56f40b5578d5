"""Dalal–Triggs HOG: the same blocks as scikit-image's ``hog`` on real images."""
import numpy as np
import pytest
from skimage import data
from skimage.feature import hog as skimage_hog

from classic.features.hog import block_normalise, cell_histograms, hog
from conftest import CALTECH, SAMPLE_IMAGES, requires_caltech


def _compare(image, cell_size=8, block_size=2):
    ours = hog(image, cell_size=cell_size, block_size=block_size)
    ref = skimage_hog(image, orientations=9, pixels_per_cell=(cell_size, cell_size),
                      cells_per_block=(block_size, block_size), block_norm="L2-Hys", feature_vector=False)
    assert ours.shape == ref.shape
    difference = np.abs(ours - ref)
    # float32 here, float64 there: a pixel whose orientation lies within rounding of a bin edge may
    # vote in the neighbouring bin; measured on these images: max 1.0e-4, no entry off by 1e-3
    assert difference.max() < 5e-4 and np.mean(difference > 1e-5) < 1e-3
    return ours


@requires_caltech
@pytest.mark.parametrize("name", SAMPLE_IMAGES)
def test_dalal_triggs_blocks_equal_scikit_images_on_caltech_images(name):
    from classic.data import load_image
    image = load_image(CALTECH / name, "gray", 300)
    _compare(image)
    _compare(image, cell_size=6, block_size=3)


@pytest.mark.parametrize("image", [data.camera(), data.coins(), data.moon()])
def test_dalal_triggs_blocks_equal_scikit_images_on_its_own_samples(image):
    blocks = _compare(image.astype(np.float32) / 255)
    norms = np.linalg.norm(blocks.reshape(blocks.shape[0], blocks.shape[1], -1), axis=2)
    assert np.allclose(norms[norms > 0], 1, atol=1e-4)           # L2-Hys renormalises every block


def test_cells_sum_magnitudes_by_unsigned_orientation_and_leave_partial_cells_out():
    image = np.zeros((20, 27), dtype=np.float32)
    image[:, 13:] = 1                                # a vertical edge: gradient along x, orientation 0
    cells = cell_histograms(image, cell_size=8)
    assert cells.shape == (2, 3, 9)                  # 20 x 27 px hold 2 x 3 whole cells
    assert cells[:, 1, 0].tolist() == [16.0, 16.0] and cells[:, :, 1:].sum() == 0    # 8 rows x 2 columns x 1
    flipped = cell_histograms(image[:, ::-1].copy(), cell_size=8)
    assert flipped[:, :, 0].sum() == cells[:, :, 0].sum()      # unsigned: the opposite edge, the same bin
    assert block_normalise(np.zeros((1, 3, 9), np.float32)).shape == (0, 2, 2, 2, 9)   # too few cells
