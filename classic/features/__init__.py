"""Local descriptors on a dense grid, as estimators over lists of images."""
from __future__ import annotations

from dataclasses import dataclass

from sklearn.base import BaseEstimator, TransformerMixin

from ..backend import array_module
from .colour import COLOUR_DESCRIPTOR_SIZE, local_colour_statistics, multiscale_colour_statistics
from .dsift import DESCRIPTOR_SIZE, dense_sift, phow, root_sift


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


class DenseSIFT(TransformerMixin, BaseEstimator):
    """Multi-scale dense SIFT (``vl_phow`` semantics) of gray images; stateless.

    ``transform(images)`` takes a list of (H, W) float32 arrays in [0, 1] and returns a list of
    :class:`LocalFeatures` (128-D descriptors, RootSIFT-mapped if ``rootsift``).
    """

    def __init__(self, bin_sizes=(4, 6, 8, 10), step: int = 3, magnif: float = 6.0,
                 window_size: float = 1.5, contrast_threshold: float = 0.005, rootsift: bool = False):
        self.bin_sizes = bin_sizes
        self.step = step
        self.magnif = magnif
        self.window_size = window_size
        self.contrast_threshold = contrast_threshold
        self.rootsift = rootsift

    def fit(self, X=None, y=None):
        return self

    image_mode = "gray"                  # what the experiment layer decodes images to for this extractor

    def extract(self, image) -> LocalFeatures:
        frames, descriptors = phow(image, tuple(self.bin_sizes), self.step, self.magnif,
                                   self.window_size, self.contrast_threshold, self.rootsift)
        return _local_features(frames, descriptors, image.shape)

    def transform(self, X):
        return [self.extract(image) for image in X]


class LocalColourStatistics(TransformerMixin, BaseEstimator):
    """Multi-scale local colour statistics (96-D) of RGB images on the dense SIFT grid; stateless.

    ``transform(images)`` takes (H, W, 3) float32 arrays in [0, 1] and returns :class:`LocalFeatures`.
    """

    image_mode = "rgb"

    def __init__(self, bin_sizes=(4, 6, 8, 10), step: int = 3):
        self.bin_sizes = bin_sizes
        self.step = step

    def fit(self, X=None, y=None):
        return self

    def extract(self, image) -> LocalFeatures:
        frames, descriptors = multiscale_colour_statistics(image, tuple(self.bin_sizes), self.step)
        return _local_features(frames, descriptors, image.shape)

    def transform(self, X):
        return [self.extract(image) for image in X]


__all__ = ["COLOUR_DESCRIPTOR_SIZE", "DESCRIPTOR_SIZE", "DenseSIFT", "LocalColourStatistics", "LocalFeatures",
           "dense_sift", "local_colour_statistics", "multiscale_colour_statistics", "nonzero_rows", "phow", "root_sift"]
