r"""Dense SIFT: SIFT descriptors on a regular grid, with VLFeat ``vl_dsift`` / ``vl_phow`` semantics.

A SIFT descriptor (Lowe 2004) of one frame is a 4 x 4 grid of spatial bins, each an 8-bin histogram
of gradient orientations, 128 numbers in all.  Dense SIFT (Vedaldi & Fulkerson 2010, ``vl_dsift``)
computes it for every frame of a grid with a fixed step, all frames at once:

1. Gradient by central differences (one-sided at the border):
   :math:`m = \|\nabla I\|`, :math:`\theta = \operatorname{atan2}(\partial_y I, \partial_x I)`.
2. Orientation binning with linear interpolation: with :math:`t = 8\theta / 2\pi`, the magnitude is
   split between bins :math:`\lfloor t \rfloor` and :math:`\lfloor t \rfloor + 1 \pmod 8` with
   weights :math:`1 - (t - \lfloor t\rfloor)` and :math:`t - \lfloor t\rfloor`.  This gives 8
   orientation maps.
3. Spatial binning with bilinear interpolation: each map is filtered with the separable triangular
   kernel :math:`k(u) = \max(0, 1 - |u| / b)` (``b`` = bin size); the value of spatial bin
   (i, j) of the frame at (x, y) is the filtered map read at the bin centre (x + j b, y + i b).
   Only the centres that some frame reads are computed, as products with banded matrices
   (:func:`sampling_filter`), one per band of 32 centres: fewer operations than filtering every
   pixel, at BLAS speed.
4. "Flat window": instead of weighting every pixel by a Gaussian centred on the frame (sigma =
   ``window_size`` x b), each spatial bin is weighted by the Gaussian's mean over that bin's
   support, which keeps step 3 a plain separable filter (VLFeat's fast mode, used by ``vl_phow``).
5. Normalisation: L2-normalise, clamp at 0.2, L2-normalise again (Lowe 2004).  The frame's
   "contrast" is the unnormalised descriptor mass divided by the frame area, in VLFeat's units
   (image values in [0, 1]); descriptors below ``contrast_threshold`` are set to zero (``vl_phow``).

:func:`phow` runs this at several bin sizes (multi-scale dense SIFT, Bosch et al. 2007, VLFeat's
``vl_phow``): the image is smoothed with sigma = bin size / ``magnif`` before each scale, and the
grids are offset so that the frame centres of all scales coincide.

Descriptor layout is VLFeat's on a row-major image: index = 32 * row_bin + 8 * col_bin + orientation.
Optional RootSIFT (Arandjelović & Zisserman 2012): L1-normalise, then square root, so that the
Euclidean distance of the mapped descriptors is the Hellinger kernel of the originals.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..backend import array_module, ndimage_module
from ..normalise import FLOAT32_EPS, l2_normalise

N_ORIENTATIONS = 8
N_SPATIAL_BINS = 4
DESCRIPTOR_SIZE = N_ORIENTATIONS * N_SPATIAL_BINS * N_SPATIAL_BINS
# rows of a sampling filter per band product on the CPU: 32 beat 64 and the whole matrices (about 1.6x
# and 2.8x faster; benchmarks/README.md, "Design measurements")
_BAND_ROWS = 32


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of radius ceil(4 sigma), as VLFeat's ``vl_imsmooth`` uses."""
    radius = max(1, int(math.ceil(4.0 * sigma)))
    u = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (u / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def smooth(image, sigma: float):
    """Gaussian smoothing with edge replication (``vl_imsmooth`` semantics); no-op for sigma <= 0."""
    if sigma <= 0:
        return image
    xp = array_module(image)
    ndi = ndimage_module(xp)
    k = xp.asarray(gaussian_kernel(sigma))
    out = ndi.correlate1d(image, k, axis=0, mode="nearest")
    return ndi.correlate1d(out, k, axis=1, mode="nearest")


def gradient(image):
    """(d/dy, d/dx): central differences inside, one-sided at the border (``numpy.gradient``'s rule,
    without its generality: 5x faster here)."""
    xp = array_module(image)
    gy, gx = xp.empty_like(image), xp.empty_like(image)
    xp.subtract(image[2:], image[:-2], out=gy[1:-1])
    gy[1:-1] *= xp.float32(0.5)
    gy[0], gy[-1] = image[1] - image[0], image[-1] - image[-2]
    xp.subtract(image[:, 2:], image[:, :-2], out=gx[:, 1:-1])
    gx[:, 1:-1] *= xp.float32(0.5)
    gx[:, 0], gx[:, -1] = image[:, 1] - image[:, 0], image[:, -1] - image[:, -2]
    return gy, gx


def orientation_maps(image, n_orientations: int = N_ORIENTATIONS):
    """Gradient magnitude split into ``n_orientations`` maps by linear angular interpolation: (n, H, W)."""
    xp = array_module(image)
    gy, gx = gradient(image)
    magnitude = xp.sqrt(gx * gx + gy * gy)
    t = xp.arctan2(gy, gx) * xp.float32(n_orientations / (2 * math.pi))
    t = xp.where(t < 0, t + xp.float32(n_orientations), t)     # [0, n]; cheaper than a float modulo
    lower = xp.floor(t)
    frac = t - lower
    # bin floor(t) mod n: floor(t) is n only where t rounded up to n; compared, not divided (an
    # integer modulo cost as much as all the rest)
    lower = xp.where(lower >= n_orientations, 0, lower).astype(xp.int64).ravel()
    upper = xp.where(lower == n_orientations - 1, 0, lower + 1)
    size = image.size
    pixel = xp.arange(size)
    maps = xp.zeros(n_orientations * size, dtype=xp.float32)
    maps[lower * size + pixel] = (magnitude * (1 - frac)).ravel()
    maps[upper * size + pixel] = (magnitude * frac).ravel()
    return maps.reshape(n_orientations, *image.shape)


@lru_cache(maxsize=512)
def sampling_filter(length: int, bin_size: int, step: int, offset: int, count: int):
    """The triangular filter (item 3 of the module docstring) at the bin centres a grid reads, along one axis.

    Bin centres are offset + i * bin_size + k * step (i < 4, k < count): for each i an arithmetic
    progression, all on the lattice offset + j * g, g = gcd(bin_size, step).  Returns
    ``(matrix, bins, bands)``: ``matrix`` (m, length) holds, for each of the m lattice points from the first
    centre to the last, the weights :math:`1 - |u| / b` of the pixels within b - 1 of it (indices past the
    border clamped, i.e. edges replicated, as ``vl_imconvcoltri``); ``bins[i]`` is the slice of
    ``matrix``'s rows that spatial bin i reads for frames 0, 1, ..., count - 1, so that reading a bin
    for all frames is a strided view, not a gather; ``bands``: (r0, r1, c0, c1), rows r0:r1 of
    ``matrix`` are zero outside columns c0:c1.  (Lattice points no centre reads, a few at the start,
    are computed and never read.)
    """
    lattice = math.gcd(bin_size, step)
    last = offset + bin_size * (N_SPATIAL_BINS - 1) + step * (count - 1)
    points = np.arange(offset, last + 1, lattice)
    u = np.arange(-bin_size + 1, bin_size)
    matrix = np.zeros((len(points), length), dtype=np.float64)
    rows = np.repeat(np.arange(len(points)), len(u))
    columns = np.clip((points[:, None] + u[None, :]).ravel(), 0, length - 1)
    np.add.at(matrix, (rows, columns), np.tile(1 - np.abs(u) / bin_size, len(points)))
    stride = step // lattice
    bins = tuple(slice(i * bin_size // lattice, i * bin_size // lattice + stride * (count - 1) + 1, stride)
                 for i in range(N_SPATIAL_BINS))
    # the band: rows r0:r1 read only the pixels within b - 1 of their points
    bands = tuple((r0, min(r0 + _BAND_ROWS, len(points)), max(0, points[r0] - bin_size + 1),
                   min(length, points[min(r0 + _BAND_ROWS, len(points)) - 1] + bin_size))
                  for r0 in range(0, len(points), _BAND_ROWS))
    return matrix.astype(np.float32), bins, bands


def filter_rows(matrix, bands, maps):
    """``matrix @ maps`` (maps: (n, length, W) -> (n, m, W)) with a banded ``matrix`` (see
    :func:`sampling_filter`): on the CPU one product per band (3-4x less work and time than the whole
    matrix, which is ~95% zeros); on a GPU one product for all."""
    xp = array_module(maps)
    if xp is not np:
        return xp.matmul(xp.asarray(matrix), maps)
    out = np.empty((maps.shape[0], matrix.shape[0], maps.shape[2]), dtype=np.float32)
    for r0, r1, c0, c1 in bands:
        np.matmul(matrix[r0:r1, c0:c1], maps[:, c0:c1, :], out=out[:, r0:r1, :])
    return out


def filter_columns(matrix, bands, maps):
    """``maps @ matrix.T`` (maps: (n, H, length) -> (n, H, m)), banded as :func:`filter_rows`."""
    xp = array_module(maps)
    if xp is not np:
        return xp.matmul(maps, xp.asarray(matrix).T)
    out = np.empty((maps.shape[0], maps.shape[1], matrix.shape[0]), dtype=np.float32)
    for r0, r1, c0, c1 in bands:
        np.matmul(maps[:, :, c0:c1], matrix[r0:r1, c0:c1].T, out=out[:, :, r0:r1])
    return out


def flat_window_weights(bin_size: int, window_size: float, n_bins: int = N_SPATIAL_BINS) -> np.ndarray:
    """Mean of the frame's Gaussian window over each spatial bin's support (VLFeat's flat window)."""
    sigma = bin_size * window_size
    u = np.arange(-bin_size + 1, bin_size, dtype=np.float64)
    weights = []
    for i in range(n_bins):
        delta = bin_size * (i - 0.5 * (n_bins - 1))
        weights.append(np.mean(np.exp(-0.5 * ((u + delta) / sigma) ** 2)))
    return np.asarray(weights, dtype=np.float32)


def frame_extent(bin_size: int) -> int:
    """Pixels a frame spans along each axis: its 4 bin centres are ``bin_size`` apart (an image smaller
    than this has no frame of that bin size)."""
    return bin_size * (N_SPATIAL_BINS - 1) + 1


def grid_size(length: int, bin_size: int, step: int, offset: int = 0) -> int:
    """Number of frames along one axis: frame origins offset, offset + step, ... with the frame inside."""
    span = length - offset - frame_extent(bin_size)
    return span // step + 1 if span >= 0 else 0


def dense_sift(image, bin_size: int = 8, step: int = 3, window_size: float = 1.5,
               offset: tuple[int, int] = (0, 0), contrast_threshold: float = 0.0, out=None,
               renormalise: bool = True):
    """Dense SIFT of one gray image (float32 in [0, 1], already smoothed as wanted).

    Frame origins are ``offset + k * step`` (x, y), as ``vl_dsift`` with bounds starting at ``offset``.
    Returns ``(frames, descriptors)``: frames ``(N, 4)`` = x, y of the centre, bin size, contrast;
    descriptors ``(N, 128)`` float32, row-major over the grid (y outer, x inner).  ``out``, if
    given, is the (N, 128) float32 array the descriptors are written into.  ``renormalise=False``
    skips the final L2 normalisation (for a caller that normalises again, as RootSIFT does: it would
    only rescale each row).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((40, 50), dtype=np.float32)
    >>> frames, descriptors = dense_sift(image, bin_size=4, step=5)
    >>> frames.shape[1], descriptors.shape[1], bool(np.allclose(np.linalg.norm(descriptors, axis=1)[frames[:, 3] > 0.005], 1, atol=1e-5))
    (4, 128, True)
    """
    xp = array_module(image)
    image = xp.asarray(image, dtype=xp.float32)
    h, w = image.shape
    ox, oy = offset
    nx, ny = grid_size(w, bin_size, step, ox), grid_size(h, bin_size, step, oy)
    n = nx * ny
    descriptors = xp.empty((n, DESCRIPTOR_SIZE), xp.float32) if out is None else out
    if n == 0:
        return xp.zeros((0, 4), xp.float32), descriptors

    # spatial binning: the triangular filter, evaluated only at the bin centres that frames read,
    # as banded matrix products (rows, then columns); edge replication is folded into the matrices
    row_filter, row_bins, row_bands = sampling_filter(h, bin_size, step, oy, ny)
    column_filter, column_bins, column_bands = sampling_filter(w, bin_size, step, ox, nx)
    maps = filter_rows(row_filter, row_bands, orientation_maps(image))      # (8, rows read, W)
    maps = filter_columns(column_filter, column_bands, maps)                # (8, rows read, columns read)
    # orientation last, so that a frame's 8 values of one spatial bin are contiguous
    maps = xp.ascontiguousarray(maps.transpose(1, 2, 0))

    # read each spatial bin for all frames at once (a strided view), straight into the output layout:
    # (ny, nx, 4 row bins, 4 column bins, 8 orientations) -> index 32 * row_bin + 8 * col_bin + orientation
    weights = flat_window_weights(bin_size, window_size)
    grid = descriptors.reshape(ny, nx, N_SPATIAL_BINS, N_SPATIAL_BINS, N_ORIENTATIONS)
    for row_bin in range(N_SPATIAL_BINS):
        rows = maps[row_bins[row_bin]]                                         # (ny, columns read, 8)
        for col_bin in range(N_SPATIAL_BINS):
            xp.multiply(rows[:, column_bins[col_bin]], xp.float32(weights[row_bin] * weights[col_bin]),
                        out=grid[:, :, row_bin, col_bin, :])

    contrast = row_sums(descriptors) / xp.float32(frame_extent(bin_size) ** 2)
    normalise_clamp_normalise(descriptors, renormalise=renormalise)
    if contrast_threshold > 0:
        descriptors[contrast < contrast_threshold] = 0

    centre = 0.5 * bin_size * (N_SPATIAL_BINS - 1)
    xs = ox + step * xp.arange(nx, dtype=xp.float32) + centre
    ys = oy + step * xp.arange(ny, dtype=xp.float32) + centre
    frames = xp.empty((n, 4), dtype=xp.float32)
    frames[:, 0] = xp.tile(xs, ny)
    frames[:, 1] = xp.repeat(ys, nx)
    frames[:, 2] = bin_size
    frames[:, 3] = contrast
    return frames, descriptors


def row_sums(d):
    """Sum of each row, as a matrix-vector product (far faster than a reduction over 128-long rows)."""
    xp = array_module(d)
    return d @ xp.ones(d.shape[1], dtype=d.dtype)


def _divide_rows(d, divisor):
    xp = array_module(d)
    d /= (divisor + xp.float32(FLOAT32_EPS))[:, None]


def normalise_clamp_normalise(d, clamp: float = 0.2, renormalise: bool = True):
    """In place: L2-normalise the rows, clamp at ``clamp``, L2-normalise again (zero rows stay zero;
    ``renormalise=False``: not again)."""
    xp = array_module(d)
    l2_normalise(d, out=d)
    xp.minimum(d, xp.float32(clamp), out=d)
    if renormalise:
        l2_normalise(d, out=d)
    return d


def root_sift(descriptors, inplace: bool = False):
    """RootSIFT: L1-normalise then square root (zero descriptors stay zero).

    Examples
    --------
    >>> import numpy as np
    >>> d = root_sift(np.array([[1.0, 3.0], [0.0, 0.0]], dtype=np.float32))
    >>> (d ** 2).sum(axis=1).round(6).tolist()          # unit L2 norm (zero rows stay zero)
    [1.0, 0.0]
    """
    xp = array_module(descriptors)
    d = descriptors if inplace else descriptors.copy()
    _divide_rows(d, row_sums(d))
    return xp.sqrt(d, out=d)


def phow(image, bin_sizes=(4, 6, 8, 10), step: int = 3, magnif: float = 6.0,
         window_size: float = 1.5, contrast_threshold: float = 0.005, rootsift: bool = False):
    """Multi-scale dense SIFT as VLFeat's ``vl_phow`` (gray variant): all scales stacked.

    Before each scale the image is smoothed with sigma = bin size / ``magnif``; scale s's grid starts
    at floor(1.5 (max bin size - s)) so that frame centres line up across scales.
    Returns ``(frames, descriptors)`` as :func:`dense_sift`.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((60, 60), dtype=np.float32)
    >>> frames, descriptors = phow(image, bin_sizes=(4, 8), step=4)
    >>> sorted(set(frames[:, 2].tolist())), descriptors.shape[1]
    ([4.0, 8.0], 128)
    """
    xp = array_module(image)
    largest = max(bin_sizes)
    h, w = image.shape
    offsets = [int(math.floor(1.5 * (largest - b))) for b in bin_sizes]
    counts = [grid_size(w, b, step, o) * grid_size(h, b, step, o) for b, o in zip(bin_sizes, offsets)]
    descriptors = xp.empty((sum(counts), DESCRIPTOR_SIZE), dtype=xp.float32)
    all_frames, start = [], 0
    for bin_size, off, count in zip(bin_sizes, offsets, counts):
        frames, _ = dense_sift(smooth(image, bin_size / magnif), bin_size, step, window_size, (off, off),
                               contrast_threshold, out=descriptors[start:start + count], renormalise=not rootsift)
        all_frames.append(frames)
        start += count
    if rootsift:
        root_sift(descriptors, inplace=True)
    return xp.concatenate(all_frames), descriptors
