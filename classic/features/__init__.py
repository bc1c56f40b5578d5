"""Local descriptors on a dense grid, as estimators over lists of images."""
from __future__ import annotations

from dataclasses import dataclass

from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module
from ..validation import check_image
from .colour import COLOUR_DESCRIPTOR_SIZE, local_colour_statistics, multiscale_colour_statistics
from .dsift import DESCRIPTOR_SIZE, dense_sift, phow, root_sift
from .hog import HOG_DESCRIPTOR_SIZES, HOG_VARIANTS, dense_hog, hog, multiscale_dense_hog, uoctti_hog
from .lbp import LBP_DESCRIPTOR_SIZE, dense_lbp, lbp_codes, lbp_histograms, multiscale_dense_lbp
from .opponent import OPPONENT_DESCRIPTOR_SIZE, opponent_channels, opponent_phow


@dataclass
class LocalFeatures:
    """One image's local descriptors (N, D) and their positions (N, 2): (x, y) / image size, in [0, 1).

    ``empty_dropped``: known to hold no all-zero descriptor (the result of :meth:`without_empty`).
    """
    descriptors: object
    positions: object
    empty_dropped: bool = False

    def __len__(self) -> int:
        return self.descriptors.shape[0]

    def without_empty(self) -> "LocalFeatures":
        """The same features less the all-zero descriptors (zeroed low-contrast frames carry no information)."""
        if self.empty_dropped:      # several encoders of one image look for them once
            return self
        keep = nonzero_rows(self.descriptors)
        return LocalFeatures(self.descriptors[keep], self.positions[keep], empty_dropped=True)


def nonzero_rows(descriptors):
    """Mask of descriptors that are not all zero."""
    xp = array_module(descriptors)
    return xp.any(descriptors != 0, axis=1)


def _local_features(frames, descriptors, shape) -> LocalFeatures:
    xp = array_module(frames)
    h, w = shape[:2]
    return LocalFeatures(descriptors, frames[:, :2] / xp.asarray([w, h], dtype=frames.dtype))


class _Stateless(TransformerMixin, BaseEstimator):
    """A transformer with nothing to learn: ``fit`` returns it, and it tells scikit-learn it is fitted."""

    def fit(self, X=None, y=None):
        """Nothing to learn: returns the transformer."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


class _DenseExtractor(_Stateless):
    """What the dense extractors share: stateless, ``extract`` one image, ``transform`` a list of
    images into a list of :class:`LocalFeatures`."""

    image_mode = "gray"                  # what the experiment layer decodes images to for this extractor
    descriptor_size = 0                  # dimension of the descriptors

    def extract(self, image) -> LocalFeatures:
        """The :class:`LocalFeatures` of one image: uint8, or floating point in [0, 1]."""
        image = check_image(image, self.image_mode, type(self).__name__)
        frames, descriptors = self._extract(image)
        return _local_features(frames, descriptors, image.shape)

    def transform(self, X):
        """A list of :class:`LocalFeatures`, one per image of the list ``X``."""
        if hasattr(X, "ndim") and X.ndim == (2 if self.image_mode == "gray" else 3):
            raise ValueError(f"{type(self).__name__}.transform takes a list of images; for one image use extract")
        return [self.extract(image) for image in X]


# ITU-R BT.601 luma, as the image decoder's gray conversion (classic.data.images)
LUMA = (0.299, 0.587, 0.114)


class ImageMode(_Stateless):
    """Images brought to ``mode`` ("gray" or "rgb"), so that one list of images feeds descriptor
    channels that read different modes; stateless.

    An RGB image becomes gray by BT.601 luma rounded to 8 bits, as the image decoder's conversion
    (an 8-bit image decoded in RGB and converted here is the decoder's gray image, up to JPEG's own
    gray decoding and the order of conversion and resizing); a gray image becomes RGB by repeating
    it; an image already in ``mode`` is passed through as it is.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.zeros((2, 2, 3), np.uint8); rgb[..., 1] = 255
    >>> round(float(ImageMode("gray").transform([rgb])[0][0, 0]) * 255)     # pure green: luma 0.587 -> 150
    150
    """

    def __init__(self, mode: str = "gray"):
        self.mode = mode

    def convert(self, image):
        """One image in ``mode``, float32 in [0, 1]."""
        if self.mode not in ("gray", "rgb"):
            raise ValueError(f"ImageMode: mode must be 'gray' or 'rgb', not {self.mode!r}")
        xp = array_module(image)
        colour = getattr(image, "ndim", 0) == 3 and image.shape[2] == 3
        if self.mode == "gray" and colour:
            image = check_image(image, "rgb", "ImageMode")
            luma = image @ xp.asarray(LUMA, dtype=xp.float32)
            return xp.round(luma * 255) * xp.float32(1 / 255)
        if self.mode == "rgb" and not colour:
            image = check_image(image, "gray", "ImageMode")
            return xp.repeat(image[..., None], 3, axis=2)
        return check_image(image, self.mode, "ImageMode")

    def transform(self, X):
        """The list of images ``X``, each in ``mode``."""
        return [self.convert(image) for image in X]


class DenseSIFT(_DenseExtractor):
    """Multi-scale dense SIFT (``vl_phow`` semantics) of gray images; stateless.

    Parameters
    ----------
    bin_sizes : sequence of int, default=(4, 6, 8, 10)
        Spatial bin sizes in pixels, one scale each (a frame is 4 x 4 bins).
    step : int, default=3
        Grid step in pixels.
    magnif : float, default=6.0
        The image is smoothed with sigma = bin size / magnif before each scale.
    window_size : float, default=1.5
        Gaussian window, in bins.
    contrast_threshold : float, default=0.005
        Descriptors of frames below this contrast are zeroed.
    rootsift : bool, default=False
        Map descriptors to RootSIFT.

    Notes
    -----
    ``transform(images)`` takes a list of (H, W) images (uint8, or float in [0, 1]) and returns a list
    of :class:`LocalFeatures` (128-D descriptors).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((64, 80), dtype=np.float32)
    >>> features = DenseSIFT(bin_sizes=(4, 8), step=4).extract(image)
    >>> features.descriptors.shape[1], bool((features.positions < 1).all())
    (128, True)
    """

    descriptor_size = DESCRIPTOR_SIZE

    def __init__(self, bin_sizes=(4, 6, 8, 10), *, step: int = 3, magnif: float = 6.0,
                 window_size: float = 1.5, contrast_threshold: float = 0.005, rootsift: bool = False):
        self.bin_sizes = bin_sizes
        self.step = step
        self.magnif = magnif
        self.window_size = window_size
        self.contrast_threshold = contrast_threshold
        self.rootsift = rootsift

    def _extract(self, image):
        return phow(image, tuple(self.bin_sizes), self.step, self.magnif, self.window_size,
                    self.contrast_threshold, self.rootsift)


class OpponentSIFT(DenseSIFT):
    """Multi-scale dense SIFT of the three opponent colour channels of RGB images, stacked (384-D;
    :mod:`features.opponent`); the parameters are :class:`DenseSIFT`'s, applied to each channel.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    >>> OpponentSIFT(bin_sizes=(4,), step=8).extract(image).descriptors.shape
    (25, 384)
    """

    image_mode = "rgb"
    descriptor_size = OPPONENT_DESCRIPTOR_SIZE

    def _extract(self, image):
        return opponent_phow(image, tuple(self.bin_sizes), self.step, self.magnif, self.window_size,
                             self.contrast_threshold, self.rootsift)


class LocalColourStatistics(_DenseExtractor):
    """Multi-scale local colour statistics (96-D) of RGB images on the dense SIFT grid; stateless.

    Parameters
    ----------
    bin_sizes : sequence of int, default=(4, 6, 8, 10)
    step : int, default=3
        As :class:`DenseSIFT`'s: the frames are the same.

    Notes
    -----
    ``transform(images)`` takes (H, W, 3) images (uint8, or float in [0, 1]) and returns :class:`LocalFeatures`.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    >>> LocalColourStatistics(bin_sizes=(4,), step=8).extract(image).descriptors.shape
    (25, 96)
    """

    image_mode = "rgb"
    descriptor_size = COLOUR_DESCRIPTOR_SIZE

    def __init__(self, bin_sizes=(4, 6, 8, 10), *, step: int = 3):
        self.bin_sizes = bin_sizes
        self.step = step

    def _extract(self, image):
        return multiscale_colour_statistics(image, tuple(self.bin_sizes), self.step)


class DenseHOG(_DenseExtractor):
    """Multi-scale dense HOG of gray images, as local descriptors for coding (:func:`hog.dense_hog`); stateless.

    Parameters
    ----------
    cell_sizes : sequence of int, default=(4, 6, 8, 10)
        Cell sizes in pixels, one scale each; a descriptor covers 2 x 2 cells, one per cell position.
    variant : {"uoctti", "dalal_triggs"}, default="uoctti"
        2 x 2 stacked Felzenszwalb cells (124-D, "HOG2x2") or a Dalal-Triggs L2-Hys block (36-D).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((48, 64), dtype=np.float32)
    >>> DenseHOG(cell_sizes=(8,)).extract(image).descriptors.shape
    (35, 124)
    """

    def __init__(self, cell_sizes=(4, 6, 8, 10), *, variant: str = "uoctti"):
        self.cell_sizes = cell_sizes
        self.variant = variant

    @property
    def descriptor_size(self) -> int:
        """124 (UoCTTI) or 36 (Dalal-Triggs)."""
        return HOG_DESCRIPTOR_SIZES[self.variant]

    def _extract(self, image):
        return multiscale_dense_hog(image, tuple(self.cell_sizes), self.variant)


class DenseLBP(_DenseExtractor):
    """Multi-scale dense uniform-LBP cell histograms of gray images (:func:`lbp.dense_lbp`, 236-D); stateless.

    Parameters
    ----------
    cell_sizes : sequence of int, default=(4, 6, 8, 10)
        Cell sizes in pixels, one scale each; a descriptor is the 59-bin histograms of 2 x 2 cells.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8)
    >>> DenseLBP(cell_sizes=(8,)).extract(image).descriptors.shape
    (35, 236)
    """

    descriptor_size = LBP_DESCRIPTOR_SIZE

    def __init__(self, cell_sizes=(4, 6, 8, 10)):
        self.cell_sizes = cell_sizes

    def _extract(self, image):
        return multiscale_dense_lbp(image, tuple(self.cell_sizes))


__all__ = ["COLOUR_DESCRIPTOR_SIZE", "DESCRIPTOR_SIZE", "HOG_DESCRIPTOR_SIZES", "HOG_VARIANTS", "LBP_DESCRIPTOR_SIZE",
           "OPPONENT_DESCRIPTOR_SIZE", "DenseHOG", "DenseLBP", "DenseSIFT", "ImageMode", "LocalColourStatistics", "LocalFeatures",
           "OpponentSIFT", "dense_hog", "dense_lbp", "opponent_channels", "opponent_phow",
           "dense_sift", "hog", "lbp_codes", "lbp_histograms", "local_colour_statistics", "multiscale_colour_statistics",
           "multiscale_dense_hog", "multiscale_dense_lbp", "nonzero_rows", "phow", "root_sift", "uoctti_hog"]
