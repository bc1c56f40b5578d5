"""``classic explain IMAGE --descriptor hog|lbp``: the HOG and LBP descriptors of one image, as teaching figures.

HOG panels: (a) the gradient magnitude; (b) each 8 x 8 cell's unsigned orientation histogram drawn
as a glyph (a line per orientation bin, across the gradient: along the edge, as long as the bin);
(c) what the block normalisation does: the cells' gradient energy before and after dividing by the
energy of their 2 x 2-cell blocks (a faint edge counts as much as a strong one); (d) one cell's 31
UoCTTI numbers (18 signed and 9 unsigned orientations, 4 texture numbers).

LBP panels: (a) the image; (b) the uniform-pattern code of each pixel; (c) the patterns themselves:
each uniform pattern drawn as its 8 neighbours (filled: at least as bright as the centre), with the
share of the image's pixels that have it; (d) one cell's 59-bin histogram.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data.images import load_image
from ..features.hog import block_normalise, cell_histograms, gradient, uoctti_hog
from ..features.lbp import N_UNIFORM_CODES, lbp_codes, lbp_histograms
from .figures import _pyplot, save_figure


def _hide_ticks(axes):
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def _draw_glyphs(ax, cells, cell_size: int):
    """Each cell's unsigned histogram as lines through the cell centre, perpendicular to each bin's
    gradient orientation (the edge direction), as long as the bin relative to the image's largest."""
    n = cells.shape[2]
    scale = 0.5 * cell_size / max(float(np.percentile(cells, 99.5)), 1e-12)      # a few strong edges saturate
    for i in range(cells.shape[0]):
        for j in range(cells.shape[1]):
            cx, cy = (j + 0.5) * cell_size, (i + 0.5) * cell_size
            for k in range(n):
                edge = (k + 0.5) * math.pi / n + math.pi / 2
                length = min(scale * cells[i, j, k], 0.5 * cell_size)
                dx, dy = length * math.cos(edge), length * math.sin(edge)
                ax.plot([cx - dx, cx + dx], [cy - dy, cy + dy], color="white", linewidth=1.0)


def explain_hog(image_path, out, *, cell_size: int = 8, max_side: int = 300, dpi: int = 150) -> list[Path]:
    """Write the HOG teaching figure of ``image_path`` to ``out``.{png,svg}."""
    plt = _pyplot()
    image = load_image(image_path, "gray", max_side)
    gy, gx = gradient(image)
    magnitude = np.sqrt(gx * gx + gy * gy)
    cells = cell_histograms(image, cell_size)
    blocks = block_normalise(cells)                                   # (by, bx, 2, 2, 9)
    fig, axes = plt.subplots(1, 4, figsize=(21, 5.4))
    axes[0].imshow(magnitude, cmap="gray")
    axes[0].set_title(f"(a) {Path(image_path).name}: gradient magnitude |[-1 0 1] * I|", fontsize=9)
    axes[1].imshow(np.zeros_like(image), cmap="gray", vmin=0, vmax=1)
    _draw_glyphs(axes[1], cells, cell_size)
    axes[1].set_xlim(0, cells.shape[1] * cell_size)
    axes[1].set_ylim(cells.shape[0] * cell_size, 0)
    axes[1].set_title(f"(b) {cells.shape[0]} x {cells.shape[1]} cells of {cell_size} x {cell_size} px: "
                      f"each a 9-bin histogram\nof gradient orientation (lines along the edges)", fontsize=9)
    raw = np.sqrt((cells ** 2).sum(axis=2))
    # a cell's energy after normalisation: its mean over the (up to 4) blocks that hold it
    normalised = np.zeros_like(raw)
    counts = np.zeros_like(raw)
    for a in range(2):
        for b in range(2):
            normalised[a:a + blocks.shape[0], b:b + blocks.shape[1]] += np.sqrt((blocks[:, :, a, b] ** 2).sum(axis=2))
            counts[a:a + blocks.shape[0], b:b + blocks.shape[1]] += 1
    normalised /= np.maximum(counts, 1)
    both = np.concatenate([raw / max(float(raw.max()), 1e-12), np.full((raw.shape[0], 1), np.nan),
                           normalised / max(float(normalised.max()), 1e-12)], axis=1)
    axes[2].imshow(both, cmap="magma")
    axes[2].set_title("(c) cell energy before (left) and after (right) L2-Hys block\nnormalisation: each 2 x 2-cell "
                      "block is divided by its norm,\nso faint edges count as much as strong ones", fontsize=9)
    _hide_ticks(axes[:3])
    felzenszwalb = uoctti_hog(image, cell_size)
    energy = felzenszwalb[..., 18:27].sum(axis=2)
    i, j = np.unravel_index(int(np.argmax(energy)), energy.shape)
    values = felzenszwalb[i, j]
    colours = ["tab:blue"] * 18 + ["tab:orange"] * 9 + ["tab:green"] * 4
    axes[3].bar(range(31), values, color=colours)
    axes[3].set_xticks([0, 9, 18, 27], ["signed 0°", "signed 180°", "unsigned 0°", "texture"], fontsize=8)
    axes[3].set_title(f"(d) UoCTTI HOG of cell ({i}, {j}): 18 signed + 9 unsigned orientations\n"
                      "(each normalised by its 4 blocks, clipped at 0.2) + 4 texture numbers", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out, dpi)


def _pattern_bits(code: int, n_points: int = 8) -> np.ndarray | None:
    """The bits of a uniform code (None for the non-uniform code), bit p for the neighbour at angle 2 pi p / P."""
    if code == 0:
        return np.zeros(n_points, bool)
    if code == n_points * (n_points - 1) + 1:
        return np.ones(n_points, bool)
    if code == n_points * (n_points - 1) + 2:
        return None
    ones, rotation = divmod(code - 1, n_points)
    bits = np.zeros(n_points, bool)
    bits[:ones + 1] = True
    return np.roll(bits, rotation)


def explain_lbp(image_path, out, *, cell_size: int = 8, max_side: int = 300, dpi: int = 150) -> list[Path]:
    """Write the LBP teaching figure of ``image_path`` to ``out``.{png,svg}."""
    plt = _pyplot()
    image = load_image(image_path, "gray", max_side)
    codes = lbp_codes(image)
    share = np.bincount(codes.ravel(), minlength=N_UNIFORM_CODES) / codes.size
    fig = plt.figure(figsize=(21, 5.6))
    grid = fig.add_gridspec(1, 4)
    ax = fig.add_subplot(grid[0])
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"(a) {Path(image_path).name}", fontsize=9)
    _hide_ticks([ax])
    ax = fig.add_subplot(grid[1])
    ax.imshow(codes, cmap="nipy_spectral", vmin=0, vmax=N_UNIFORM_CODES - 1, interpolation="nearest")
    ax.set_title(f"(b) each pixel's uniform LBP code (59 codes);\n{100 * (1 - share[-1]):.0f}% of the pixels "
                 f"have a uniform pattern (at most 2 changes round the circle)", fontsize=9)
    _hide_ticks([ax])
    inner = grid[2].subgridspec(4, 4)
    examples = [0, 1, 9, 17, 25, 33, 41, 49, 57, 5, 19, 30, 45, 52, 12, 58]   # no 1s ... all 1s, rotations, the rest
    angles = 2 * np.pi * np.arange(8) / 8
    for cell, code in zip(inner, examples):
        ax = fig.add_subplot(cell)
        bits = _pattern_bits(code)
        if bits is None:            # no one pattern to draw: the words alone, no centre dot under them
            ax.text(0, 0, "all non-\nuniform\npatterns", ha="center", va="center", fontsize=7)
        else:
            ax.scatter([0], [0], s=40, color="tab:red")
            ax.scatter(np.cos(angles), np.sin(angles), s=40, c=["black" if b else "white" for b in bits],
                       edgecolors="black")
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"code {code}: {100 * share[code]:.1f}%", fontsize=7)
    fig.text(0.5 + 0.015, 0.93, "(c) patterns: 8 neighbours (black: >= centre, red)", fontsize=9, ha="left")
    cells = lbp_histograms(codes, cell_size)
    i, j = (s // 2 for s in cells.shape[:2])
    ax = fig.add_subplot(grid[3])
    ax.bar(range(N_UNIFORM_CODES), cells[i, j] ** 2, color=["tab:blue"] * 58 + ["tab:gray"])
    ax.set_xlabel("code (58 uniform patterns, then all the others)")
    ax.set_ylabel("share of the cell's votes")
    ax.set_title(f"(d) the 59-bin histogram of cell ({i}, {j}), {cell_size} x {cell_size} px\n"
                 "(a dense LBP descriptor stacks 2 x 2 such cells: 236 numbers)", fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.99, wspace=0.15)
    return save_figure(fig, out, dpi)
