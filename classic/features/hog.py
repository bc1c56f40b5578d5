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

The Felzenszwalb (UoCTTI) descriptor, as VLFeat's ``vl_hog`` defines it (:func:`uoctti_hog`): 31
numbers per cell of ``cell_size`` pixels.

1. The same centred gradient (interior pixels only); each pixel's gradient direction goes to the
   nearest of 2n *signed* directions :math:`\pm(\cos k\pi/n, \sin k\pi/n)` (hard assignment) and its
   magnitude is split bilinearly between the four cells whose centres surround it (cell c's centre at
   :math:`(c + \tfrac12)\,\text{cell\_size}`); VLFeat counts :math:`\lfloor(\text{size} +
   \text{cell\_size}/2) / \text{cell\_size}\rfloor` cells per axis (scikit-image floors
   size / cell_size: the last, at least half-covered cell is VLFeat's extra one).
2. Each cell is normalised by each of the four 2 x 2-cell blocks that hold it (edge cells reuse their
   own row or column), :math:`f_i = 1 / \sqrt{E_i + 10^{-4}}` with :math:`E_i` the block's energy of
   *unsigned* histograms :math:`u_k = h_k + h_{k+n}`; every normalised value is clipped at 0.2.
3. The 31 numbers: the 2n = 18 signed bins and the n = 9 unsigned bins, each
   :math:`\tfrac12\sum_i \min(0.2, f_i h)`, and 4 texture numbers
   :math:`\tfrac{1}{\sqrt{18}} \sum_k \min(0.2, f_i u_k)`, one per block.

The Dalal–Triggs cell histograms are sums, as Dalal & Triggs accumulate them (scikit-image's are the same sums
in some versions and means over the cell in others: the block normalisation makes the two agree up
to :math:`\epsilon`).  Binning and cell sums are array operations (a one-hot product per cell
row), so the same code runs on the GPU.

References
----------
Dalal, N., Triggs, B. (2005). Histograms of oriented gradients for human detection. CVPR.
https://doi.org/10.1109/CVPR.2005.177

Felzenszwalb, P. F., Girshick, R. B., McAllester, D., Ramanan, D. (2010). Object detection with
discriminatively trained part-based models. IEEE TPAMI 32(9). https://doi.org/10.1109/TPAMI.2009.167
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


def _axis_votes(length: int, cell_size: int, n_cells: int, xp):
    """Per pixel of one axis: the cell on its left (-1 to n_cells - 1) and the float64 weights of its
    votes into that cell and the next one (bilinear interpolation between cell centres: pixel x's centre
    at x + 1/2, cell c's at (c + 1/2) cell_size; ``vl_hog``'s rule, and ``vl_lbp``'s).  Border pixels
    (no full neighbourhood) and votes outside the cells get weight 0."""
    position = (xp.arange(length, dtype=xp.float32) + xp.float32(0.5)) / xp.float32(cell_size) - xp.float32(0.5)
    left = xp.floor(position)
    right_weight = position - left
    left = left.astype(xp.int64)
    interior = (xp.arange(length) >= 1) & (xp.arange(length) < length - 1)
    weights = [xp.where(interior & (cell >= 0) & (cell < n_cells), weight, xp.float32(0)).astype(xp.float64)
               for cell, weight in ((left, 1 - right_weight), (left + 1, right_weight))]
    return xp.clip(left, -1, n_cells - 1), weights          # past the last cell: weight 0 anyway


def cell_votes(bins, values, n_bins: int, cell_size: int, n_cells: tuple[int, int]):
    """(cells_y, cells_x, n_bins) histograms: each pixel of the (H, W) images ``bins`` (int) and
    ``values`` adds its value to its bin in the four cells around it, bilinearly weighted (see
    :func:`_axis_votes`).  One ``bincount`` per corner: the same on the GPU.

    Examples
    --------
    >>> import numpy as np
    >>> bins = np.zeros((16, 16), dtype=np.int64)
    >>> h = cell_votes(bins, np.ones((16, 16), np.float32), 2, 8, (2, 2))
    >>> h.shape, float(h[..., 1].sum()), bool(h[..., 0].sum() <= 14 * 14)   # 14 x 14 interior pixels
    ((2, 2, 2), 0.0, True)
    """
    xp = array_module(bins)
    h, w = bins.shape
    cy, cx = n_cells
    rows, row_weights = _axis_votes(h, cell_size, cy, xp)
    columns, column_weights = _axis_votes(w, cell_size, cx, xp)
    # the cells with a margin of one on every side, so that every vote has a place (those outside
    # weigh 0 and are cut off after); each pixel's index is that of its top-left cell, the other three
    # corners' votes are the same bincount shifted by one cell to the right, one row down, or both
    width = cx + 2
    index = (rows + 1)[:, None] * (width * n_bins) + ((columns + 1) * n_bins)[None, :]
    index += bins
    index = index.ravel()
    size = (cy + 2) * width * n_bins
    out = xp.zeros(size, dtype=xp.float64)
    by_row, weight = xp.empty((h, w), dtype=xp.float64), xp.empty((h, w), dtype=xp.float64)   # reused: fewer page faults
    for a in (0, 1):
        xp.multiply(values, row_weights[a][:, None], out=by_row)
        for b in (0, 1):
            xp.multiply(by_row, column_weights[b][None, :], out=weight)
            shift = (a * width + b) * n_bins
            out[shift:] += xp.bincount(index, weights=weight.ravel(), minlength=size)[:size - shift]
    return out.reshape(cy + 2, width, n_bins)[1:-1, 1:-1].astype(xp.float32)


# Within this fraction of a bin width of the midpoint between two directions, atan2's rounding could
# pick the other one than VLFeat's float32 dot products: those pixels are decided by the dot products
TIE_BAND = 1e-3


def _signed_directions(minus_gy, minus_gx, magnitude, n: int):
    """The nearest of the 2n signed directions (0 to 2n, where 2n is direction 0 again) of the gradients
    (-minus_gx, -minus_gy).  atan2 of the negated gradient, plus pi, is the orientation in [0, 2 pi]
    with no wrap-around pass: rounded in units of pi / n, that is the direction, except within
    :data:`TIE_BAND` of a midpoint, where the two candidates' |u . d_k| are compared in float32 as
    VLFeat compares them (the first on a tie)."""
    xp = array_module(minus_gy)
    orientation = xp.arctan2(minus_gy, minus_gx)
    orientation *= xp.float32(n / math.pi)
    orientation += xp.float32(n)                                          # in [0, 2n]
    nearest = xp.rint(orientation)
    near = xp.nonzero(xp.abs(orientation - nearest) > xp.float32(0.5 - TIE_BAND))
    direction = nearest.astype(xp.int64)
    if near[0].size:
        angles = xp.arange(n, dtype=xp.float64) * (math.pi / n)
        cosines, sines = xp.cos(angles).astype(xp.float32), xp.sin(angles).astype(xp.float32)
        unit = xp.maximum(magnitude[near], xp.float32(1e-10))
        ux, uy = -minus_gx[near] / unit, -minus_gy[near] / unit
        below = xp.floor(orientation[near]).astype(xp.int64) % n          # the two candidates in [0, n)
        above = (below + 1) % n
        score_below = ux * cosines[below] + uy * sines[below]
        score_above = ux * cosines[above] + uy * sines[above]
        gap = xp.abs(score_above) - xp.abs(score_below)
        take_above = (gap > 0) | ((gap == 0) & (above < below))
        best = xp.where(take_above, score_above, score_below)
        direction[near] = xp.where(take_above, above, below) + n * (best < 0)
    return direction


def uoctti_hog(image, cell_size: int = 8, n_orientations: int = 9):
    """Felzenszwalb (UoCTTI) HOG of a gray (H, W) float image: (cells_y, cells_x, 3 n + 4), as VLFeat's
    ``vl_hog`` (see the module docstring); 31 numbers per cell for n = 9.

    Examples
    --------
    >>> import numpy as np
    >>> edge = np.zeros((32, 40), dtype=np.float32)
    >>> edge[:, 20:] = 1                                   # brighter to the right: direction 0
    >>> cells = uoctti_hog(edge)
    >>> cells.shape, [round(float(v), 3) for v in cells[1, 2, [0, 18, 27]]]   # signed bin 0, unsigned bin 0, texture
    ((4, 5, 31), [0.4, 0.4, 0.047])
    """
    xp = array_module(image)
    image = image.astype(xp.float32, copy=False)
    h, w = image.shape
    n = n_orientations
    cy, cx = (h + cell_size // 2) // cell_size, (w + cell_size // 2) // cell_size
    minus_gy, minus_gx = xp.zeros_like(image), xp.zeros_like(image)    # the gradient negated: see _signed_directions
    minus_gy[1:-1] = image[:-2] - image[2:]
    minus_gx[:, 1:-1] = image[:, :-2] - image[:, 2:]
    magnitude = minus_gx * minus_gx
    magnitude += minus_gy * minus_gy
    xp.sqrt(magnitude, out=magnitude)
    direction = _signed_directions(minus_gy, minus_gx, magnitude, n)
    votes = cell_votes(direction, magnitude, 2 * n + 1, cell_size, (cy, cx)).transpose(2, 0, 1)
    signed = votes[:2 * n]
    signed[0] += votes[2 * n]                                                         # 2n is direction 0
    unsigned = signed[:n] + signed[n:]
    energy = (unsigned * unsigned).sum(axis=0)
    padded = xp.pad(energy, 1, mode="edge")
    blocks = padded[:-1, :-1] + padded[:-1, 1:] + padded[1:, :-1] + padded[1:, 1:]    # (cy + 1, cx + 1)
    factors = 1 / xp.sqrt(xp.stack([blocks[:-1, :-1], blocks[:-1, 1:], blocks[1:, :-1], blocks[1:, 1:]])
                          + xp.float32(1e-4))
    clip = xp.float32(L2_HYS_CLIP)

    def clipped(histograms):           # (m, cy, cx) -> (4, m, cy, cx): each block's normalisation, clipped
        return xp.minimum(factors[:, None] * histograms[None], clip)
    unsigned_clipped = clipped(unsigned)
    texture = unsigned_clipped.sum(axis=1) * xp.float32(1 / math.sqrt(2 * n))          # (4, cy, cx)
    half = xp.float32(0.5)
    out = xp.concatenate([half * clipped(signed).sum(axis=0), half * unsigned_clipped.sum(axis=0), texture])
    return out.transpose(1, 2, 0).astype(xp.float32, copy=False)


HOG_VARIANTS = ("dalal_triggs", "uoctti")
# dimension of one local descriptor: a Dalal-Triggs 2 x 2-cell block, or 2 x 2 stacked UoCTTI cells
HOG_DESCRIPTOR_SIZES = {"dalal_triggs": 2 * 2 * 9, "uoctti": 2 * 2 * 31}


def two_by_two(cells):
    """(ny - 1, nx - 1, 4 m): the m numbers of every 2 x 2 group of neighbouring cells, stacked row by row."""
    xp = array_module(cells)
    return xp.concatenate([cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]], axis=-1)


def block_frames(n_rows: int, n_columns: int, cell_size: int, xp):
    """Frames (x, y, cell size, 0) of 2 x 2-cell groups: the centre of group (i, j) is the corner
    shared by its four cells, ((j + 1) cell_size, (i + 1) cell_size) in pixels."""
    frames = xp.zeros((n_rows * n_columns, 4), dtype=xp.float32)
    frames[:, 0] = xp.tile((xp.arange(n_columns, dtype=xp.float32) + 1) * cell_size, n_rows)
    frames[:, 1] = xp.repeat((xp.arange(n_rows, dtype=xp.float32) + 1) * cell_size, n_columns)
    frames[:, 2] = cell_size
    return frames


def dense_hog(image, cell_size: int = 8, variant: str = "uoctti"):
    """HOG as a local descriptor on a dense grid, for coding: frames (N, 4) (x, y, cell size, 0) and
    descriptors (N, D) of a gray (H, W) image, one per 2 x 2 group of neighbouring cells (stride one cell).

    ``dalal_triggs``: the L2-Hys-normalised 2 x 2-cell block of :func:`hog` (36-D).  ``uoctti``: the 31
    numbers of each of the 2 x 2 cells of :func:`uoctti_hog`, stacked (124-D: the "HOG2x2" feature of
    Xiao et al. 2010, which stacks 2 x 2 Felzenszwalb cells as one local descriptor for coding).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((40, 56), dtype=np.float32)
    >>> frames, d = dense_hog(image, cell_size=8)
    >>> d.shape, frames[0].tolist()                   # 5 x 7 cells: 4 x 6 groups of 2 x 2
    ((24, 124), [8.0, 8.0, 8.0, 0.0])
    >>> dense_hog(image, cell_size=8, variant="dalal_triggs")[1].shape
    (24, 36)

    References
    ----------
    Xiao, J., Hays, J., Ehinger, K. A., Oliva, A., Torralba, A. (2010). SUN database: large-scale scene
    recognition from abbey to zoo. CVPR. https://doi.org/10.1109/CVPR.2010.5539970
    """
    xp = array_module(image)
    if variant == "dalal_triggs":
        blocks = hog(image, cell_size)
        descriptors = blocks.reshape(blocks.shape[0], blocks.shape[1], HOG_DESCRIPTOR_SIZES[variant])
    elif variant == "uoctti":
        has_groups = min((n + cell_size // 2) // cell_size for n in image.shape) >= 2     # VLFeat's cell count
        descriptors = two_by_two(uoctti_hog(image, cell_size)) if has_groups else \
            xp.zeros((0, 0, HOG_DESCRIPTOR_SIZES[variant]), dtype=xp.float32)
    else:
        raise ValueError(f"variant={variant!r}: one of {', '.join(HOG_VARIANTS)}")
    n_rows, n_columns = descriptors.shape[:2]
    return (block_frames(n_rows, n_columns, cell_size, xp),
            descriptors.reshape(n_rows * n_columns, HOG_DESCRIPTOR_SIZES[variant]).astype(xp.float32))


def multiscale_dense_hog(image, cell_sizes=(4, 6, 8), variant: str = "uoctti"):
    """:func:`dense_hog` at every cell size, stacked (one scale per cell size, as :func:`dsift.phow` stacks bin sizes)."""
    xp = array_module(image)
    parts = [dense_hog(image, c, variant) for c in cell_sizes]
    return xp.concatenate([f for f, _ in parts]), xp.concatenate([d for _, d in parts])
