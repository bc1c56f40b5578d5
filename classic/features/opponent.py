r"""Opponent-colour dense SIFT (van de Sande, Gevers & Snoek, TPAMI 2010).

The RGB image is rotated into the opponent colour space,

.. math::  O_1 = \frac{R - G}{\sqrt 2}, \qquad O_2 = \frac{R + G - 2B}{\sqrt 6}, \qquad
           O_3 = \frac{R + G + B}{\sqrt 3},

(two chromatic channels and the intensity), and dense SIFT (:func:`dsift.phow`) describes each channel
on the same frames; a frame's descriptor is the three 128-D descriptors stacked, 384 numbers
(layout: O1, O2, O3).  The chromatic descriptors see colour edges that the gray image does not
(a red object on a green background of the same brightness), which is why van de Sande et al. found
OpponentSIFT the best single colour descriptor for object categories.  Each channel's SIFT is
normalised, thresholded on contrast and (optionally) mapped to RootSIFT on its own; the channels are
scaled to [0, 1] first (O1 and O2 shifted by 1/2), so that the contrast threshold means what it
means for gray images.

References
----------
van de Sande, K. E. A., Gevers, T., Snoek, C. G. M. (2010). Evaluating color descriptors for object
and scene recognition. IEEE TPAMI 32(9). https://doi.org/10.1109/TPAMI.2009.154
"""
from __future__ import annotations

from ..backend import array_module
from .dsift import DESCRIPTOR_SIZE, phow

OPPONENT_DESCRIPTOR_SIZE = 3 * DESCRIPTOR_SIZE


def opponent_channels(image):
    """(O1, O2, O3) of an (H, W, 3) RGB image in [0, 1], each scaled into [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> grey = np.full((2, 2, 3), 0.25, dtype=np.float32)
    >>> [round(float(c[0, 0]), 3) for c in opponent_channels(grey)]     # no colour: O1 = O2 = 1/2
    [0.5, 0.5, 0.25]
    """
    xp = array_module(image)
    r, g, b = (image[..., i].astype(xp.float32) for i in range(3))
    # ranges: O1 in [-1/sqrt2, 1/sqrt2], O2 in [-2/sqrt6, 2/sqrt6], O3 in [0, sqrt3]; each mapped to [0, 1]
    o1 = (r - g) / xp.float32(2) + xp.float32(0.5)
    o2 = (r + g - 2 * b) / xp.float32(4) + xp.float32(0.5)
    o3 = (r + g + b) / xp.float32(3)
    return o1, o2, o3


def opponent_phow(image, bin_sizes=(4, 6, 8, 10), step: int = 3, magnif: float = 6.0, window_size: float = 1.5,
                  contrast_threshold: float = 0.005, rootsift: bool = False):
    """Frames (N, 4) as :func:`dsift.phow` and descriptors (N, 384) of an (H, W, 3) RGB image in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((40, 40, 3), dtype=np.float32)
    >>> frames, d = opponent_phow(image, bin_sizes=(4,), step=8)
    >>> d.shape[1], len(frames) == len(d)
    (384, True)
    """
    xp = array_module(image)
    parts = [phow(channel, bin_sizes, step, magnif, window_size, contrast_threshold, rootsift)
             for channel in opponent_channels(image)]
    return parts[0][0], xp.concatenate([d for _, d in parts], axis=1)

