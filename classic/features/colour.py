r"""Local colour statistics (Clinchant et al. 2007; Perronnin, Sánchez & Mensink 2010).

The colour channel of the 2010-2012 Fisher-vector entries: on the same dense grid as SIFT, each frame
is cut into the same 4 x 4 cells, and each cell is described by the mean and the standard deviation
of R, G and B over its pixels,

.. math::  \mu = \frac{1}{|A|} \sum_{p \in A} I(p), \qquad
           \sigma = \sqrt{\frac{1}{|A|} \sum_{p \in A} I(p)^2 - \mu^2},

16 cells x 3 channels x 2 statistics = 96 numbers (layout: cell row, cell column, channel, statistic).
Cell (i, j) of the frame whose SIFT bin centres are at ``origin + (j, i) * bin_size`` is the
``bin_size`` x ``bin_size`` square centred on that bin centre, cut at the image border.  All sums come
from two integral images (summed-area tables: Crow 1984), so a frame costs 4 reads per cell whatever
its size; the gathers are array indexing, the same code on the GPU.
"""
from __future__ import annotations

import math

from ..backend import array_module
from .dsift import N_SPATIAL_BINS, grid_size

COLOUR_DESCRIPTOR_SIZE = N_SPATIAL_BINS * N_SPATIAL_BINS * 3 * 2


def _integral(a):
    """Summed-area table with a leading zero row and column, in float64 (sums of up to 10^5 pixels)."""
    xp = array_module(a)
    out = xp.zeros((a.shape[0] + 1, a.shape[1] + 1) + a.shape[2:], dtype=xp.float64)
    out[1:, 1:] = a.astype(xp.float64).cumsum(axis=0).cumsum(axis=1)
    return out


def _cell_bounds(length: int, bin_size: int, step: int, offset: int, count: int, xp):
    """(count, 4) first and one-past-last pixel of each cell along one axis, cut at the border."""
    centres = offset + step * xp.arange(count)[:, None] + bin_size * xp.arange(N_SPATIAL_BINS)[None, :]
    low = centres - bin_size // 2
    return xp.clip(low, 0, length), xp.clip(low + bin_size, 0, length)


def local_colour_statistics(image, bin_size: int = 8, step: int = 3, offset: tuple[int, int] = (0, 0)):
    """Frames (N, 4) as :func:`dsift.dense_sift` (x, y, bin size, 0) and descriptors (N, 96) of an (H, W, 3) image.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((32, 32, 3), 0.5, dtype=np.float32)
    >>> frames, d = local_colour_statistics(image, bin_size=4, step=8)
    >>> d.shape[1], float(d[0, 0]), float(d[0, 1])      # mean 0.5, standard deviation 0
    (96, 0.5, 0.0)
    """
    xp = array_module(image)
    h, w, _ = image.shape
    ox, oy = offset
    nx, ny = grid_size(w, bin_size, step, ox), grid_size(h, bin_size, step, oy)
    if nx * ny == 0:
        return xp.zeros((0, 4), xp.float32), xp.zeros((0, COLOUR_DESCRIPTOR_SIZE), xp.float32)
    x0, x1 = _cell_bounds(w, bin_size, step, ox, nx, xp)
    y0, y1 = _cell_bounds(h, bin_size, step, oy, ny, xp)
    # broadcast to (ny, nx, 4 cell rows, 4 cell columns)
    y0, y1 = y0[:, None, :, None], y1[:, None, :, None]
    x0, x1 = x0[None, :, None, :], x1[None, :, None, :]
    area = xp.maximum((y1 - y0) * (x1 - x0), 1)[..., None]

    def box(table):
        return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]

    mean = box(_integral(image)) / area
    second = box(_integral(image * image)) / area
    std = xp.sqrt(xp.maximum(second - mean * mean, 0))
    descriptors = xp.stack([mean, std], axis=-1).reshape(nx * ny, COLOUR_DESCRIPTOR_SIZE).astype(xp.float32)
    centre = 0.5 * bin_size * (N_SPATIAL_BINS - 1)
    frames = xp.zeros((nx * ny, 4), dtype=xp.float32)
    frames[:, 0] = xp.tile(ox + step * xp.arange(nx, dtype=xp.float32) + centre, ny)
    frames[:, 1] = xp.repeat(oy + step * xp.arange(ny, dtype=xp.float32) + centre, nx)
    frames[:, 2] = bin_size
    return frames, descriptors


def multiscale_colour_statistics(image, bin_sizes=(4, 6, 8, 10), step: int = 3):
    """All scales stacked, frame centres aligned across scales as :func:`dsift.phow` aligns them."""
    xp = array_module(image)
    largest = max(bin_sizes)
    parts = [local_colour_statistics(image, b, step, (int(math.floor(1.5 * (largest - b))),) * 2) for b in bin_sizes]
    return xp.concatenate([f for f, _ in parts]), xp.concatenate([d for _, d in parts])
