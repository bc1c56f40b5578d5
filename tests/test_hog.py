"""HOG: Dalal–Triggs blocks equal to scikit-image's ``hog``, UoCTTI cells equal to VLFeat's ``vl_hog``."""
import numpy as np
import pytest
from skimage import data
from skimage.feature import hog as skimage_hog

from classic.features.hog import block_normalise, cell_histograms, hog, uoctti_hog
from classic.peers import vlfeat
from conftest import CALTECH, SAMPLE_IMAGES, requires_caltech, requires_vlfeat


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


@requires_vlfeat
@requires_caltech
@pytest.mark.parametrize("cell_size", [8, 6])
def test_uoctti_cells_equal_vlfeats_vl_hog_on_caltech_images(cell_size):
    """The same 31 numbers per cell as vl_hog, on VLFeat's own cell count ((size + cell / 2) // cell);
    measured: at most 2e-6 apart (float32 histograms on both sides, summed in another order)."""
    from classic.data import load_image
    for name in SAMPLE_IMAGES:
        image = load_image(CALTECH / name, "gray", 300)
        ours, ref = uoctti_hog(image, cell_size), vlfeat.hog(image, cell_size)
        assert ours.shape == ref.shape == ((image.shape[0] + cell_size // 2) // cell_size,
                                           (image.shape[1] + cell_size // 2) // cell_size, 31)
        np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_uoctti_layout_signed_unsigned_texture_on_an_edge():
    edge = np.zeros((32, 40), dtype=np.float32)
    edge[:, 20:] = 1                                  # brighter to the right
    cell = uoctti_hog(edge)[1, 2]
    assert cell[0] == pytest.approx(0.4) and cell[9] == 0          # signed bin 0 (rightwards), not its opposite
    assert cell[18] == pytest.approx(0.4)                            # unsigned bin 0
    np.testing.assert_allclose(cell[27:], 0.2 / np.sqrt(18), rtol=1e-6)    # per block: the edge bin clipped at 0.2
    flipped = uoctti_hog(edge[:, ::-1].copy())[1, 2]
    assert flipped[9] == pytest.approx(0.4) and flipped[0] == 0     # the opposite direction: bin n + 0
