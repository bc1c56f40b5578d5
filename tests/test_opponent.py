"""Opponent-colour dense SIFT: the intensity channel is gray SIFT, the chromatic ones see colour edges."""
import numpy as np

from classic.features import DenseSIFT, OpponentSIFT
from classic.features.dsift import phow
from classic.features.opponent import opponent_channels, opponent_phow
from conftest import CALTECH, requires_caltech


def test_a_gray_image_has_flat_chromatic_channels_and_its_intensity_sift_is_gray_sift():
    gray = np.random.default_rng(0).random((40, 48), dtype=np.float32)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    o1, o2, o3 = opponent_channels(rgb)
    np.testing.assert_allclose(o1, 0.5)
    np.testing.assert_allclose(o2, 0.5)
    frames, d = opponent_phow(rgb, bin_sizes=(4, 6), step=4)
    reference_frames, reference = phow(gray, (4, 6), 4)
    np.testing.assert_array_equal(frames[:, :3], reference_frames[:, :3])
    assert not d[:, :256].any()                            # flat chromatic channels: below the contrast threshold
    np.testing.assert_allclose(d[:, 256:], reference, atol=1e-6)


def test_an_edge_between_two_colours_of_one_brightness_is_seen_by_o1_only():
    image = np.zeros((40, 40, 3), dtype=np.float32)
    image[:, :20, 0] = 1                                   # red | green: the same R + G + B
    image[:, 20:, 1] = 1
    d = opponent_phow(image, bin_sizes=(4,), step=4)[1]
    assert np.abs(d[:, :128]).max() > 0.1                  # O1 = (R - G) / 2 + 1/2 jumps from 1 to 0
    assert not d[:, 256:].any()                            # the intensity is flat


@requires_caltech
def test_extractor_on_a_caltech_image():
    from classic.data import load_image
    image = load_image(CALTECH / "cup" / "image_0001.jpg", "rgb", 120)
    features = OpponentSIFT(bin_sizes=(4, 8), step=6).extract(image)
    gray = DenseSIFT(bin_sizes=(4, 8), step=6).extract(load_image(CALTECH / "cup" / "image_0001.jpg", "gray", 120))
    assert features.descriptors.shape == (len(gray), 384) and OpponentSIFT().descriptor_size == 384
    np.testing.assert_allclose(features.positions, gray.positions)
