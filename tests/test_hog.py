"""HOG: Dalal–Triggs blocks equal to scikit-image's ``hog``, UoCTTI cells equal to VLFeat's ``vl_hog``."""
import numpy as np
import pytest
from skimage import data
from skimage.feature import hog as skimage_hog

from classic.features import DenseHOG
from classic.features.hog import block_normalise, cell_histograms, dense_hog, hog, uoctti_hog
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



@requires_vlfeat
def test_uoctti_directions_on_midpoints_fall_as_in_vl_hog():
    """Gradients exactly between two of the 2n directions (90 degrees, 10 degrees, ...), where rounding
    atan2 could pick either neighbour: decided by VLFeat's float32 dot products, so the cells equal
    vl_hog's.  A ring of every orientation (a radial ramp) and straight horizontal / diagonal edges."""
    y, x = np.mgrid[0:64, 0:72].astype(np.float32)
    ring = np.hypot(y - 31.5, x - 35.5) / 50
    horizontal = (y >= 30).astype(np.float32)                         # gradient at 90 degrees
    tilted = np.clip((x * np.float32(np.tan(np.pi / 18)) + y) / 40, 0, 1).astype(np.float32)   # near 80 degrees
    for image in (ring, horizontal, tilted):
        np.testing.assert_allclose(uoctti_hog(image), vlfeat.hog(image, 8), atol=1e-6)

def test_uoctti_layout_signed_unsigned_texture_on_an_edge():
    edge = np.zeros((32, 40), dtype=np.float32)
    edge[:, 20:] = 1                                  # brighter to the right
    cell = uoctti_hog(edge)[1, 2]
    assert cell[0] == pytest.approx(0.4) and cell[9] == 0          # signed bin 0 (rightwards), not its opposite
    assert cell[18] == pytest.approx(0.4)                            # unsigned bin 0
    np.testing.assert_allclose(cell[27:], 0.2 / np.sqrt(18), rtol=1e-6)    # per block: the edge bin clipped at 0.2
    flipped = uoctti_hog(edge[:, ::-1].copy())[1, 2]
    assert flipped[9] == pytest.approx(0.4) and flipped[0] == 0     # the opposite direction: bin n + 0


@requires_vlfeat
@requires_caltech
@pytest.mark.parametrize("cell_size", [4, 8])
def test_dense_uoctti_descriptors_stack_vl_hogs_2x2_cells_at_their_shared_corner(cell_size):
    from classic.data import load_image
    image = load_image(CALTECH / SAMPLE_IMAGES[0], "gray", 300)
    frames, descriptors = dense_hog(image, cell_size, "uoctti")
    cells = vlfeat.hog(image, cell_size)                           # (cy, cx, 31)
    cy, cx = cells.shape[:2]
    assert descriptors.shape == ((cy - 1) * (cx - 1), 124)
    reference = np.concatenate([cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]], axis=2)
    np.testing.assert_allclose(descriptors, reference.reshape(-1, 124), atol=1e-6)
    j, i = 3, 2                                                    # group (row 2, column 3)
    assert frames[i * (cx - 1) + j].tolist() == [(j + 1) * cell_size, (i + 1) * cell_size, cell_size, 0]


@requires_caltech
def test_dense_dalal_triggs_descriptors_are_scikit_images_blocks():
    from classic.data import load_image
    image = load_image(CALTECH / SAMPLE_IMAGES[1], "gray", 300)
    frames, descriptors = dense_hog(image, 6, "dalal_triggs")
    ref = skimage_hog(image, orientations=9, pixels_per_cell=(6, 6), cells_per_block=(2, 2), block_norm="L2-Hys",
                      feature_vector=False)
    assert descriptors.shape == (ref.shape[0] * ref.shape[1], 36)
    assert np.abs(descriptors - ref.reshape(-1, 36)).max() < 5e-4
    assert frames[:, 0].max() == ref.shape[1] * 6 and frames[:, 1].max() == ref.shape[0] * 6


def test_dense_hog_extractor_scales_and_small_images():
    image = np.random.default_rng(1).integers(0, 256, (50, 70), dtype=np.uint8)
    for variant, size in (("uoctti", 124), ("dalal_triggs", 36)):
        extractor = DenseHOG(cell_sizes=(4, 8), variant=variant)
        features = extractor.extract(image)
        assert extractor.descriptor_size == size == features.descriptors.shape[1]
        assert len(features) == sum(len(dense_hog(image / np.float32(255), c, variant)[1]) for c in (4, 8))
        assert (features.positions >= 0).all() and (features.positions < 1).all()
        # an image with fewer than 2 x 2 cells of the largest size keeps the smaller scale only
        assert len(extractor.extract(image[:11, :11])) == len(dense_hog(image[:11, :11] / np.float32(255), 4, variant)[1])
    with pytest.raises(ValueError, match="variant"):
        dense_hog(np.zeros((20, 20), np.float32), 4, "felzenszwalb")
