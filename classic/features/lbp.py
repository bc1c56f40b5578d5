r"""Local binary patterns (Ojala, Pietikäinen & Mäenpää, TPAMI 2002), on the array backend.

Each pixel is compared with P neighbours on a circle of radius R around it, neighbour p at
:math:`(r - R \sin(2\pi p / P),\; c + R \cos(2\pi p / P))` (offsets rounded to 5 decimals, values
read by bilinear interpolation, 0 outside the image); bit p is 1 when the neighbour is at least the
centre.  A pattern is *uniform* when its bits change at most twice along the circle; the P(P - 1) + 2
uniform patterns keep their own code and all others share one: with P = 8, 59 codes ("nri_uniform":
not rotation invariant, as scikit-image numbers them):

* 0 for no 1s, :math:`P(P - 1) + 1` for all 1s, :math:`P(P - 1) + 2` for a non-uniform pattern;
* otherwise :math:`1 + (n_1 - 1) P + \rho`, with :math:`n_1` the number of 1s and :math:`\rho` the
  circular right shift that takes the pattern of :math:`n_1` consecutive 1s starting at bit 0 to it.

The comparisons are float64, as scikit-image makes them, so the codes are equal to its codes.

As a local descriptor (:func:`dense_lbp`), the codes are pooled into cell histograms as VLFeat's
``vl_lbp`` pools its own (:func:`lbp_histograms`): every interior pixel votes for its code in the four
cells around it with bilinear weights (as HOG's cells, :func:`hog.cell_votes`), there are
:math:`\lfloor \text{size} / \text{cell\_size} \rfloor` cells per axis, and each histogram h is
mapped to :math:`\sqrt{h} / \sqrt{\textstyle\sum_k h_k}` (Hellinger, unit L2 norm).  VLFeat's
histograms have 58 bins where these have 59, because its codes differ: it compares strictly
(neighbour > centre, so a flat patch is "no 1s" there and "all 1s" here), it puts the two constant
patterns in one bin, and its diagonal neighbours are the corners of the 3 x 3 square (at distance
:math:`\sqrt 2`) where these are on the circle of radius 1 (interpolated).  The pooling itself is
the same: fed VLFeat's codes, :func:`lbp_histograms` gives ``vl_lbp``'s histograms.

References
----------
Ojala, T., Pietikäinen, M., Mäenpää, T. (2002). Multiresolution gray-scale and rotation invariant
texture classification with local binary patterns. IEEE TPAMI 24(7). https://doi.org/10.1109/TPAMI.2002.1017623
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from .hog import block_frames, cell_votes, two_by_two

N_UNIFORM_CODES = 8 * 7 + 3                 # codes of 8-neighbour uniform LBP: 58 uniform + 1 for the rest
LBP_DESCRIPTOR_SIZE = 2 * 2 * N_UNIFORM_CODES


def _bilinear(padded, pad: int, h: int, w: int, dr: float, dc: float):
    """The (h, w) image inside ``padded`` (``pad`` zeros around it) read at (r + dr, c + dc) for every
    pixel, bilinearly, 0 outside (scikit-image's rule).

    The weights are the fractional parts of each pixel's own coordinates r + dr and c + dc, as
    scikit-image computes them: their last bits depend on r and c, and the codes compare exactly."""
    xp = array_module(padded)
    r0, c0 = math.floor(dr), math.floor(dc)
    r1, c1 = math.ceil(dr), math.ceil(dc)
    if r0 == r1 and c0 == c1:           # a neighbour on the pixel grid: the weights are 1 and 0, the value itself
        return padded[pad + r0:pad + r0 + h, pad + c0:pad + c0 + w]
    rows = xp.arange(h, dtype=xp.float64) + dr
    columns = xp.arange(w, dtype=xp.float64) + dc
    fr = (rows - xp.floor(rows))[:, None]
    fc = (columns - xp.floor(columns))[None, :]

    def at(r, c):
        return padded[pad + r:pad + r + h, pad + c:pad + c + w]
    top = (1 - fc) * at(r0, c0) + fc * at(r0, c1)
    bottom = (1 - fc) * at(r1, c0) + fc * at(r1, c1)
    return (1 - fr) * top + fr * bottom


def lbp_codes(image, n_points: int = 8, radius: float = 1.0):
    """The uniform (nri) LBP code of every pixel of a gray (H, W) image: int (H, W) in
    ``range(n_points * (n_points - 1) + 3)``, equal to
    ``skimage.feature.local_binary_pattern(image, n_points, radius, method="nri_uniform")``.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((5, 5))
    >>> image[2, 2] = 1                               # a bright dot: every neighbour is darker
    >>> int(lbp_codes(image)[2, 2]), int(lbp_codes(image)[0, 0])     # no 1s; a flat corner: all 1s
    (0, 57)
    """
    xp = array_module(image)
    image = xp.asarray(image, dtype=xp.float64)
    P = n_points
    angles = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    rows, columns = np.round(-radius * np.sin(angles), 5), np.round(radius * np.cos(angles), 5)
    h, w = image.shape
    pad = math.ceil(radius) + 1                 # zeros around the image reach every neighbour's 4 pixels
    padded = xp.zeros((h + 2 * pad, w + 2 * pad), dtype=xp.float64)          # made once for the P neighbours
    padded[pad:-pad, pad:-pad] = image
    bits = [_bilinear(padded, pad, h, w, float(dr), float(dc)) - image >= 0 for dr, dc in zip(rows, columns)]
    # per pixel: the number of 1s, of changes between consecutive bits, the first 1 and the first 0
    # (a pass per bit over contiguous images: reductions across the bits would stride)
    n_ones = sum(b.astype(xp.int16) for b in bits)
    changes = sum((bits[p] != bits[p + 1]).astype(xp.int16) for p in range(P - 1))
    first_one = xp.zeros((h, w), dtype=xp.int16)            # 0 when there is none: not used then
    first_zero = xp.zeros((h, w), dtype=xp.int16)
    for p in range(P - 1, -1, -1):
        first_one = xp.where(bits[p], xp.int16(p), first_one)
        first_zero = xp.where(bits[p], first_zero, xp.int16(p))
    n_ones, first_one, first_zero = (a.astype(xp.int64) for a in (n_ones, first_one, first_zero))
    rotation = xp.where(first_one == 0, n_ones - first_zero, P - first_one)
    codes = 1 + (n_ones - 1) * P + rotation
    codes = xp.where(n_ones == 0, 0, xp.where(n_ones == P, P * (P - 1) + 1, codes))
    return xp.where(changes <= 2, codes, P * (P - 1) + 2)


def lbp_histograms(codes, cell_size: int, n_codes: int = N_UNIFORM_CODES):
    """Cell histograms (H // cell_size, W // cell_size, n_codes) of an (H, W) int code image, pooled and
    normalised as ``vl_lbp`` (see the module docstring); the border pixels (no full neighbourhood) do not vote.

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.full((16, 16), 57)                # every pixel "all 1s" (a flat patch)
    >>> h = lbp_histograms(codes, cell_size=8)
    >>> h.shape, float(h[0, 0, 57]), float(h[0, 0].sum())
    ((2, 2, 59), 1.0, 1.0)
    """
    xp = array_module(codes)
    h, w = codes.shape
    counts = cell_votes(codes, xp.ones(codes.shape, dtype=xp.float32), n_codes, cell_size,
                        (h // cell_size, w // cell_size))
    return xp.sqrt(counts) / (xp.sqrt(counts.sum(axis=2, keepdims=True)) + xp.float32(1e-10))


def _grouped_histograms(codes, cell_size: int):
    """Frames and stacked 2 x 2-cell histograms of a code image (none when it holds fewer than 2 x 2 cells)."""
    xp = array_module(codes)
    if min(codes.shape) < 2 * cell_size:
        return xp.zeros((0, 4), dtype=xp.float32), xp.zeros((0, LBP_DESCRIPTOR_SIZE), dtype=xp.float32)
    groups = two_by_two(lbp_histograms(codes, cell_size))
    n_rows, n_columns = groups.shape[:2]
    return block_frames(n_rows, n_columns, cell_size, xp), groups.reshape(n_rows * n_columns, -1).astype(xp.float32)


def dense_lbp(image, cell_size: int = 8):
    """LBP as a local descriptor on a dense grid, for coding: frames (N, 4) (x, y, cell size, 0) and
    descriptors (N, 236) of a gray (H, W) image: the 59-bin histograms (:func:`lbp_histograms` of the
    uniform codes) of every 2 x 2 group of neighbouring cells, stacked (stride one cell).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((40, 56))
    >>> frames, d = dense_lbp(image, cell_size=8)
    >>> d.shape, frames[0].tolist()                   # 5 x 7 cells: 4 x 6 groups of 2 x 2
    ((24, 236), [8.0, 8.0, 8.0, 0.0])
    """
    return _grouped_histograms(lbp_codes(image), cell_size)


def multiscale_dense_lbp(image, cell_sizes=(4, 6, 8, 10)):
    """:func:`dense_lbp` at every cell size, stacked; the codes are computed once."""
    xp = array_module(image)
    codes = lbp_codes(image)
    parts = [_grouped_histograms(codes, c) for c in cell_sizes]
    return xp.concatenate([f for f, _ in parts]), xp.concatenate([d for _, d in parts])
