"""ImageMode (classic.features): one list of images for channels that read different modes."""
import numpy as np
import pytest

from classic.data import load_image
from classic.features import ImageMode
from conftest import CALTECH, SAMPLE_IMAGES, requires_caltech


@requires_caltech
def test_rgb_to_gray_is_the_decoders_gray_image_when_nothing_is_resized():
    for name in SAMPLE_IMAGES[:3]:
        rgb, gray = load_image(CALTECH / name, "rgb", None), load_image(CALTECH / name, "gray", None)
        np.testing.assert_array_equal(ImageMode("gray").convert(rgb), gray)


def test_gray_to_rgb_repeats_and_an_image_in_mode_passes_through():
    gray = np.random.default_rng(0).random((5, 7), dtype=np.float32)
    rgb = ImageMode("rgb").transform([gray])[0]
    assert rgb.shape == (5, 7, 3) and all(np.array_equal(rgb[..., c], gray) for c in range(3))
    assert np.array_equal(ImageMode("gray").convert(gray), gray)
    with pytest.raises(ValueError, match="mode must be"):
        ImageMode("hsv").convert(gray)
