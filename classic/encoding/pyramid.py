"""Spatial pyramid: pooling an image's local features over regions of a grid (Lazebnik et al. 2006).

A level ``(nx, ny)`` cuts the image into ``nx`` columns and ``ny`` rows; ``(1, 1)`` is the whole
image, ``(2, 2)`` its quadrants and ``(1, 3)`` three horizontal bands (the "3 x 1" level of
Perronnin et al. 2010).  Regions are numbered level by level, row-major within a level.

Pooling statistics region by region would visit each feature once per level.  Instead the features
are assigned to the cells of the levels' common refinement (the grid cut at every level's cuts;
each cell lies in exactly one region of every level), statistics are computed once per cell, and
each region's statistic is a sum of cells (``membership @ cell_statistics``): the encoder's cost does
not grow with the number of levels.  1x1 + 2x2 + 3x1 refines to 2 columns x 4 bands = 8 cells.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..backend import array_module

Level = tuple[int, int]


def n_regions(levels) -> int:
    return sum(nx * ny for nx, ny in levels)


def _cuts(divisions) -> list[tuple[int, int]]:
    """Interior cuts i / n of all the levels along one axis, deduplicated, in increasing order, as (i, n)."""
    cuts = {Fraction(i, n): (i, n) for n in divisions for i in range(1, n)}
    return [cuts[f] for f in sorted(cuts)]


def refinement(levels) -> tuple[int, int, np.ndarray]:
    """(columns, rows, membership): the common refinement and its (n_regions, n_cells) 0/1 matrix."""
    x_cuts, y_cuts = _cuts([nx for nx, _ in levels]), _cuts([ny for _, ny in levels])
    x_edges = [Fraction(0)] + [Fraction(i, n) for i, n in x_cuts] + [Fraction(1)]
    y_edges = [Fraction(0)] + [Fraction(i, n) for i, n in y_cuts] + [Fraction(1)]
    columns, rows = len(x_edges) - 1, len(y_edges) - 1
    membership = np.zeros((n_regions(levels), columns * rows), dtype=np.float32)
    region = 0
    for nx, ny in levels:
        for ry in range(ny):
            for rx in range(nx):
                for cy in range(rows):
                    for cx in range(columns):
                        inside_x = Fraction(rx, nx) <= x_edges[cx] and x_edges[cx + 1] <= Fraction(rx + 1, nx)
                        inside_y = Fraction(ry, ny) <= y_edges[cy] and y_edges[cy + 1] <= Fraction(ry + 1, ny)
                        membership[region, cy * columns + cx] = inside_x and inside_y
                region += 1
    return columns, rows, membership


def _level_index(coordinate, n: int):
    xp = array_module(coordinate)
    return xp.clip(xp.floor(coordinate * n), 0, n - 1).astype(xp.int64)


def cell_indices(positions, levels):
    """Each feature's cell of the common refinement (row-major), from (x, y) relative positions in [0, 1).

    A feature is past cut i / n exactly when its region index at a level with n divisions is >= i,
    so cells and regions always agree, whatever the rounding of the positions.
    """
    xp = array_module(positions)
    columns = len(_cuts([nx for nx, _ in levels])) + 1
    cx = xp.zeros(positions.shape[0], dtype=xp.int64)
    for i, n in _cuts([nx for nx, _ in levels]):
        cx += _level_index(positions[:, 0], n) >= i
    cy = xp.zeros(positions.shape[0], dtype=xp.int64)
    for i, n in _cuts([ny for _, ny in levels]):
        cy += _level_index(positions[:, 1], n) >= i
    return cy * columns + cx


def region_indices(positions, levels):
    """(N, n_levels) index of each feature's region at each level (global region numbering)."""
    xp = array_module(positions)
    columns, offset = [], 0
    for nx, ny in levels:
        columns.append(offset + _level_index(positions[:, 1], ny) * nx + _level_index(positions[:, 0], nx))
        offset += nx * ny
    return xp.stack(columns, axis=1)
