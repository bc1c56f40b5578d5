import numpy as np
import pytest

from classic.features import DenseSIFT
from classic.features.dsift import dense_sift, flat_window_weights, grid_size, phow, root_sift, smooth
from classic.peers import vlfeat
from conftest import requires_vlfeat


def cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


@requires_vlfeat
@pytest.mark.parametrize("bin_size", [4, 6, 8, 10])
def test_dense_sift_matches_vlfeat_on_real_images(caltech_images, bin_size):
    """Same frames as vl_dsift (flat window 1.5, step 3); descriptors: mean cosine >= 0.9999, min >= 0.995.

    Measured: mean 0.99998, min 0.9994 (VLFeat approximates atan2 and sqrt)."""
    for image in caltech_images:
        smoothed = vlfeat.imsmooth(image, bin_size / 6)
        off = int(1.5 * (10 - bin_size))
        frames, ours = dense_sift(smoothed, bin_size, 3, 1.5, (off, off))
        ref_frames, ref = vlfeat.dsift(smoothed, bin_size, 3, (off, off), 1.5)
        assert frames.shape[0] == ref_frames.shape[0]
        np.testing.assert_array_equal(frames[:, :2], ref_frames[:, :2])
        # the contrast measure (descriptor mass / frame area) is VLFeat's "norm"
        np.testing.assert_allclose(frames[:, 3], ref_frames[:, 2], rtol=5e-3, atol=1e-5)  # VLFeat uses fast sqrt/atan2 approximations
        # frames of (near-)constant intensity have no defined gradient direction: compare the rest
        # (vl_phow zeroes everything below contrast 0.005 anyway; 1e-4 keeps 50x more)
        textured = ref_frames[:, 2] > 1e-4
        assert textured.mean() > 0.5
        c = cosine(ours[textured], ref[textured])
        assert c.mean() >= 0.9999 and c.min() >= 0.995, (c.mean(), c.min())


@requires_vlfeat
def test_smoothing_matches_vl_imsmooth(caltech_images):
    image = caltech_images[0]
    for sigma in (4 / 6, 10 / 6):
        assert np.abs(smooth(image, sigma) - vlfeat.imsmooth(image, sigma)).max() < 2e-3


def test_descriptor_properties_on_real_image(caltech_images):
    frames, d = phow(caltech_images[1])
    assert d.dtype == np.float32 and d.shape[1] == 128
    norms = np.linalg.norm(d, axis=1)
    nonzero = norms > 0
    np.testing.assert_allclose(norms[nonzero], 1, atol=1e-5)
    assert d.max() <= 0.2 / np.sqrt(0.2 ** 2 * 128) + 1e-6 or d.max() < 1     # clamped then renormalised
    # low-contrast frames are zeroed exactly, and only those
    assert np.all(frames[~nonzero, 3] < 0.005) and np.all(frames[nonzero, 3] >= 0.005)
    # the 4 scales' frame centres coincide (vl_phow alignment): each scale's centres start at 15, 15
    for b in (4, 6, 8, 10):
        f = frames[frames[:, 2] == b]
        assert f[:, 0].min() == 15 and f[:, 1].min() == 15


def test_grid_geometry():
    image = np.random.default_rng(0).random((50, 70), dtype=np.float32)
    frames, d = dense_sift(image, bin_size=5, step=4)
    extent = 3 * 5 + 1
    assert grid_size(70, 5, 4) == (70 - extent) // 4 + 1
    assert len(frames) == grid_size(70, 5, 4) * grid_size(50, 5, 4)
    assert frames[0, 0] == 7.5 and frames[1, 0] == 11.5
    assert dense_sift(image[:10, :10], 5, 4)[1].shape == (0, 128)


def test_orientation_binning_on_a_ramp():
    """A horizontal intensity ramp has gradient angle 0: all mass in orientation bin 0."""
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
    _, d = dense_sift(ramp, bin_size=4, step=8)
    per_orientation = d.reshape(-1, 16, 8).sum(axis=(0, 1))
    assert per_orientation[0] > 0 and np.allclose(per_orientation[1:], 0)
    # rotating the image by 90 degrees (y down) moves the mass to orientation bin 2 (angle pi/2)
    _, d = dense_sift(np.ascontiguousarray(ramp.T), bin_size=4, step=8)
    per_orientation = d.reshape(-1, 16, 8).sum(axis=(0, 1))
    assert np.argmax(per_orientation) == 2 and np.allclose(np.delete(per_orientation, 2), 0)


def test_flat_window_weights_are_symmetric_and_peak_in_the_middle():
    w = flat_window_weights(8, 1.5)
    np.testing.assert_allclose(w, w[::-1])
    assert w[1] > w[0] > 0


def test_rootsift_is_hellinger(real_descriptors):
    d = real_descriptors[0].descriptors[:500]
    r = root_sift(d)
    nonzero = d.sum(1) > 0
    np.testing.assert_allclose(np.linalg.norm(r[nonzero], axis=1), 1, atol=1e-5)
    # Euclidean inner product of RootSIFT = Hellinger kernel of L1-normalised SIFT
    p = d[nonzero] / d[nonzero].sum(1, keepdims=True)
    np.testing.assert_allclose(r[nonzero][:10] @ r[nonzero][:10].T, np.sqrt(p[:10]) @ np.sqrt(p[:10]).T, atol=1e-5)
    assert np.all(r[~nonzero] == 0) and not np.isnan(r).any()


def test_dense_sift_estimator_positions(caltech_images):
    features = DenseSIFT(bin_sizes=(4, 8), step=6).transform(caltech_images[:2])
    for f, image in zip(features, caltech_images[:2]):
        assert f.positions.min() >= 0 and f.positions.max() < 1
        assert len(f) == f.descriptors.shape[0] == f.positions.shape[0]
