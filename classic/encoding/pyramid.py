"""Spatial pyramid: pooling an image's local features over regions of a grid (Lazebnik et al. 2006).

A level ``(nx, ny)`` cuts the image into ``nx`` columns and ``ny`` rows; ``(1, 1)`` is the whole
image, ``(2, 2)`` its quadrants and ``(1, 3)`` three horizontal bands (the "3 x 1" level of
Perronnin et al. 2010).  Regions are numbered level by level, row-major within a level.

Pooling statistics region by region would visit each feature once per level.  Instead the features
are grouped into the cells of the levels' common refinement (each cell = one region at every
level), statistics are computed once per cell, and each region's statistic is a sum of cells: the
encoder's cost does not grow with the number of levels.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module

Level = tuple[int, int]


def n_regions(levels) -> int:
    return sum(nx * ny for nx, ny in levels)


def region_indices(positions, levels):
    """(N, n_levels) index of each feature's region at each level (global region numbering).

    ``positions`` are (x, y) relative to the image size, in [0, 1).
    """
    xp = array_module(positions)
    columns, offset = [], 0
    for nx, ny in levels:
        cx = xp.clip(xp.floor(positions[:, 0] * nx), 0, nx - 1).astype(xp.int64)
        cy = xp.clip(xp.floor(positions[:, 1] * ny), 0, ny - 1).astype(xp.int64)
        columns.append(offset + cy * nx + cx)
        offset += nx * ny
    return xp.stack(columns, axis=1)


def common_cells(positions, levels):
    """Group features into the levels' common refinement.

    Returns ``(order, bounds, membership)``: ``order`` sorts the features by cell; cell ``c`` holds
    ``order[bounds[c]:bounds[c + 1]]``; ``membership`` is the (n_regions, n_cells) 0/1 matrix
    saying which cells make up each region.
    """
    xp = array_module(positions)
    regions = region_indices(positions, levels)
    total = n_regions(levels)
    # one integer code per feature: the tuple of its regions, in mixed radix
    code = xp.zeros(regions.shape[0], dtype=xp.int64)
    for j in range(regions.shape[1]):
        code = code * total + regions[:, j]
    order = xp.argsort(code, kind="stable")
    sorted_code = code[order]
    cell_codes, starts = np.unique(np.asarray(sorted_code.get() if hasattr(sorted_code, "get") else sorted_code),
                                   return_index=True)
    bounds = np.append(starts, regions.shape[0])
    membership = np.zeros((total, len(cell_codes)), dtype=np.float32)
    for c, value in enumerate(cell_codes):
        for j in reversed(range(regions.shape[1])):
            membership[value % total, c] = 1
            value //= total
    return order, bounds, xp.asarray(membership)
