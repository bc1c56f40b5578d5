r"""Histograms of oriented gradients (Dalal & Triggs, CVPR 2005), on the array backend.

The Dalal–Triggs descriptor, as scikit-image's ``hog`` defines it:

1. Gradient by the centred [-1, 0, 1] kernel, zero on the image border:
   :math:`g_x = I(x+1, y) - I(x-1, y)`, :math:`g_y = I(x, y+1) - I(x, y-1)`; magnitude
   :math:`m = \sqrt{g_x^2 + g_y^2}`, *unsigned* orientation :math:`\theta = \operatorname{atan2}(g_y, g_x)
   \bmod \pi`.
2. Cells of ``cell_size`` x ``cell_size`` pixels (the image's last rows and columns that do not fill a
   cell are left out): each pixel adds its magnitude to the bin :math:`\lfloor n\theta / \pi \rfloor`
   of its cell's n-bin histogram (hard binning, no spatial interpolation).
3. Blocks of ``block_size`` x ``block_size`` cells, every block position (stride one cell): each
   block's histograms, stacked, are normalised by L2-Hys (Lowe's rule): :math:`v / \sqrt{\lVert v
   \rVert^2 + \epsilon^2}`, clipped at 0.2, normalised again; :math:`\epsilon = 10^{-5}`.

The cell histograms are sums, as Dalal & Triggs accumulate them (scikit-image's are the same sums
in some versions and means over the cell in others: the block normalisation makes the two agree up
to :math:`\epsilon`).  Binning and cell sums are array operations (a one-hot product per cell
row), so the same code runs on the GPU.

References
----------
Dalal, N., Triggs, B. (2005). Histograms of oriented gradients for human detection. CVPR.
https://doi.org/10.1109/CVPR.2005.177
"""
from __future__ import annotations

import math

from ..backend import array_module

L2_HYS_CLIP = 0.2
EPSILON = 1e-5


def gradient(image):
    """(g_y, g_x): centred differences [-1, 0, 1] (not halved), zero on the border rows and columns."""
    xp = array_module(image)
    gy, gx = xp.zeros_like(image), xp.zeros_like(image)
    gy[1:-1] = image[2:] - image[:-2]
    gx[:, 1:-1] = image[:, 2:] - image[:, :-2]
    return gy, gx


def cell_histograms(image, cell_size: int = 8, n_orientations: int = 9):
    """Unsigned orientation histograms (n_cells_y, n_cells_x, n_orientations) of a gray (H, W) image.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.tile(np.arange(32, dtype=np.float32), (16, 1))      # brighter to the right
    >>> h = cell_histograms(ramp, cell_size=8)
    >>> h.shape, int(h[0, 1].argmax())             # horizontal gradient: orientation 0, the first bin
    ((2, 4, 9), 0)
    """
    xp = array_module(image)
    gy, gx = gradient(image)
    ny, nx = image.shape[0] // cell_size, image.shape[1] // cell_size
    gy, gx = gy[:ny * cell_size, :nx * cell_size], gx[:ny * cell_size, :nx * cell_size]
    magnitude = xp.sqrt(gx * gx + gy * gy)
    angle = xp.arctan2(gy, gx)
    angle = xp.where(angle < 0, angle + xp.float32(math.pi), angle)        # [0, pi]: mod pi
    bins = xp.floor(angle * xp.float32(n_orientations / math.pi)).astype(xp.int64)
    bins = xp.where(bins >= n_orientations, bins - n_orientations, bins)   # pi itself is orientation 0
    # each pixel's (cell, bin) index; the histograms are one bincount over the image
    cell_y = xp.arange(ny * cell_size) // cell_size
    cell_x = xp.arange(nx * cell_size) // cell_size
    index = ((cell_y[:, None] * nx + cell_x[None, :]) * n_orientations + bins).ravel()
    histograms = xp.bincount(index, weights=magnitude.ravel(), minlength=ny * nx * n_orientations)
    return histograms.reshape(ny, nx, n_orientations).astype(image.dtype)


def block_normalise(cells, block_size: int = 2, clip: float = L2_HYS_CLIP, eps: float = EPSILON):
    """L2-Hys blocks (n_blocks_y, n_blocks_x, block_size, block_size, n_orientations) of cell histograms,
    scikit-image's ``hog(..., feature_vector=False)`` layout.

    Examples
    --------
    >>> import numpy as np
    >>> blocks = block_normalise(np.ones((3, 4, 9), dtype=np.float32))
    >>> blocks.shape, round(float(np.linalg.norm(blocks[0, 0])), 4)
    ((2, 3, 2, 2, 9), 1.0)
    """
    xp = array_module(cells)
    ny, nx, n = cells.shape
    by, bx = ny - block_size + 1, nx - block_size + 1
    if by <= 0 or bx <= 0:
        return xp.zeros((max(by, 0), max(bx, 0), block_size, block_size, n), dtype=cells.dtype)
    # every block position as a strided view, copied once: (by, bx, block, block, n)
    blocks = xp.stack([xp.stack([cells[i:i + by, j:j + bx] for j in range(block_size)], axis=2)
                       for i in range(block_size)], axis=2)
    flat = blocks.reshape(by * bx, -1).astype(xp.float64)
    eps2 = eps * eps
    flat = flat / xp.sqrt((flat * flat).sum(axis=1, keepdims=True) + eps2)
    flat = xp.minimum(flat, clip)
    flat = flat / xp.sqrt((flat * flat).sum(axis=1, keepdims=True) + eps2)
    return flat.reshape(by, bx, block_size, block_size, n).astype(cells.dtype)


def hog(image, cell_size: int = 8, block_size: int = 2, n_orientations: int = 9):
    """Dalal–Triggs HOG of a gray (H, W) float image: L2-Hys blocks (n_blocks_y, n_blocks_x,
    block_size, block_size, n_orientations), as ``skimage.feature.hog(image, orientations,
    (cell_size, cell_size), (block_size, block_size), feature_vector=False)``.

    Examples
    --------
    >>> import numpy as np
    >>> hog(np.random.default_rng(0).random((64, 48), dtype=np.float32)).shape
    (7, 5, 2, 2, 9)
    """
    return block_normalise(cell_histograms(image, cell_size, n_orientations), block_size)
