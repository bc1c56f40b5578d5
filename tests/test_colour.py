"""Local colour statistics: integral-image sums against a direct loop, and the grid shared with SIFT."""
import numpy as np

from classic.features.colour import local_colour_statistics, multiscale_colour_statistics
from classic.features.dsift import dense_sift, phow


def test_colour_statistics_equal_a_direct_computation():
    rng = np.random.default_rng(0)
    image = rng.random((37, 45, 3), dtype=np.float32)
    b, step = 5, 4
    frames, d = local_colour_statistics(image, b, step)
    d = d.reshape(-1, 4, 4, 3, 2)
    for n in (0, 7, len(frames) - 1):
        origin = frames[n, :2] - 1.5 * b
        for i in range(4):
            for j in range(4):
                cy, cx = int(origin[1]) + i * b, int(origin[0]) + j * b
                cell = image[max(cy - b // 2, 0):cy - b // 2 + b, max(cx - b // 2, 0):cx - b // 2 + b]
                np.testing.assert_allclose(d[n, i, j, :, 0], cell.mean(axis=(0, 1)), atol=1e-5)
                np.testing.assert_allclose(d[n, i, j, :, 1], cell.std(axis=(0, 1)), atol=1e-4)


def test_same_grid_as_dense_sift(caltech_images):
    gray = caltech_images[0]
    rgb = np.repeat(gray[..., None], 3, axis=2)
    sift_frames, _ = dense_sift(gray, 6, 3, offset=(6, 6))
    frames, d = local_colour_statistics(rgb, 6, 3, (6, 6))
    np.testing.assert_array_equal(frames[:, :3], sift_frames[:, :3])
    assert d.shape == (len(frames), 96) and d.dtype == np.float32
    all_frames, _ = phow(gray, (4, 8), 3)
    colour_frames, colour = multiscale_colour_statistics(rgb, (4, 8), 3)
    np.testing.assert_array_equal(colour_frames[:, :3], all_frames[:, :3])
    # gray image: the three channels' statistics agree
    np.testing.assert_allclose(colour.reshape(-1, 16, 3, 2)[:, :, 0], colour.reshape(-1, 16, 3, 2)[:, :, 2], atol=1e-6)
