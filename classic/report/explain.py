"""``classic explain IMAGE``: one image through the pipeline, as a teaching figure.

Panels: (a) the image as the pipeline sees it; (b) the dense grid and one frame per scale; (c) one
SIFT descriptor as its 4 x 4 grid of 8-bin orientation histograms; (d) the descriptors coloured by
their most likely Gaussian (or nearest k-means word); (e) the encoding's energy per Gaussian / word;
(f) the energy per pyramid region and Gaussian; (g) the top-5 classes with their SVM scores.
Panels (d)-(g) need a trained pipeline (``--run RUN``); without one they say so.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data.images import ImageError, load_image
from ..data.synsets import readable_name
from ..encoding import DiagonalGMM, FisherVectorEncoder, VLADEncoder
from ..encoding.pyramid import n_regions
from ..features import nonzero_rows
from ..features.dsift import N_ORIENTATIONS, N_SPATIAL_BINS, frame_extent, phow
from ..experiment.model import training_image
from .figures import _pyplot, save_figure

SCALE_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple", "tab:brown")


def energy_per_word(vector, encoder) -> np.ndarray:
    """(n_regions, K) squared norm of the encoding's entries that belong to each Gaussian / word."""
    v = np.asarray(vector, dtype=np.float64)
    regions, k = n_regions(encoder.pyramid), vocabulary_size(encoder.vocabulary_)
    if isinstance(encoder, FisherVectorEncoder):         # per region: [mean gradients (K x D), sigma gradients]
        return (v.reshape(regions, 2, k, -1) ** 2).sum(axis=(1, 3))
    if isinstance(encoder, VLADEncoder):
        return (v.reshape(regions, k, -1) ** 2).sum(axis=2)
    if encoder.kernel_map == "chi2":                     # [all zeroth terms, all cosines, all sines]
        return (v.reshape(-1, regions, k) ** 2).sum(axis=0)
    return v.reshape(regions, k) ** 2


def vocabulary_size(vocabulary) -> int:
    """Words (GMM components or k-means centres) of a fitted vocabulary."""
    return (vocabulary.means_ if isinstance(vocabulary, DiagonalGMM) else vocabulary.cluster_centers_).shape[0]


def draw_descriptor(ax, descriptor, centre, bin_size, colour="yellow", linewidth=1.2):
    """A SIFT descriptor as VLFeat draws it: in each of the 4 x 4 spatial bins, 8 rays whose lengths are
    the orientation histogram (the image's y axis points down, as the gradients' angles do)."""
    d = np.asarray(descriptor, dtype=np.float64).reshape(N_SPATIAL_BINS, N_SPATIAL_BINS, N_ORIENTATIONS)
    scale = 0.5 * bin_size / max(d.max(), 1e-12)
    angles = 2 * np.pi * np.arange(N_ORIENTATIONS) / N_ORIENTATIONS
    x0, y0 = centre[0] - 1.5 * bin_size, centre[1] - 1.5 * bin_size
    for i in range(N_SPATIAL_BINS):
        for j in range(N_SPATIAL_BINS):
            cx, cy = x0 + j * bin_size, y0 + i * bin_size
            for o, angle in enumerate(angles):
                length = scale * d[i, j, o]
                ax.plot([cx, cx + length * math.cos(angle)], [cy, cy + length * math.sin(angle)], color=colour,
                        linewidth=linewidth)
    _draw_frame(ax, centre, bin_size, colour, linewidth=0.6)


def _draw_frame(ax, centre, bin_size, colour, linewidth=1.0):
    """The frame's 4 x 4 spatial bins (each bin_size wide, centred on the frame's centre)."""
    half = 2 * bin_size
    for t in range(N_SPATIAL_BINS + 1):
        offset = -half + t * bin_size
        ax.plot([centre[0] - half, centre[0] + half], [centre[1] + offset] * 2, color=colour, linewidth=linewidth)
        ax.plot([centre[0] + offset] * 2, [centre[1] - half, centre[1] + half], color=colour, linewidth=linewidth)


def explain(image_path, out, pipeline=None, features=None, max_side: int = 300, dpi: int = 150) -> list[Path]:
    """Write the teaching figure of ``image_path`` to ``out``.{png,svg}.

    ``pipeline``: a :class:`classic.experiment.trained.TrainedPipeline` (its config sets the descriptors), or None
    for the descriptor panels only (``features``: a ``FeatureConfig``-like object then; default settings).
    """
    plt = _pyplot()
    if pipeline is not None:
        f, max_side = pipeline.config.features, pipeline.config.data.max_side
    else:
        from ..experiment.config import FeatureConfig
        f = features or FeatureConfig()
    image = load_image(image_path, "gray", max_side)
    h, w = image.shape
    frames, descriptors = phow(image, tuple(f.bin_sizes), f.step, f.magnif, f.window_size, f.contrast_threshold,
                               f.rootsift)
    if not len(frames):
        extent = frame_extent(max(f.bin_sizes))
        raise ImageError(f"{image_path}: nothing to explain: the decoded {w} x {h} image is smaller than one frame "
                         f"({extent} x {extent} px at bin size {max(f.bin_sizes)}), so it has no descriptor")
    if pipeline is not None and pipeline.encoder.drop_empty and not nonzero_rows(descriptors).any():
        raise ImageError(f"{image_path}: nothing to explain: all {len(frames):,} descriptors are below the contrast "
                         f"threshold {f.contrast_threshold:g} (a uniform image), so the encoder has none to use")
    sizes = sorted(set(frames[:, 2].tolist()))
    largest = frames[:, 2] == sizes[-1]
    # the frame shown: the most contrasted one at the largest scale (a textured spot, not flat sky)
    chosen = np.flatnonzero(largest)[np.argmax(frames[largest, 3])]
    centre = frames[chosen, :2]

    fig, axes = plt.subplots(2, 4, figsize=(20, 9.5))
    axes = axes.ravel()
    name = Path(image_path).name
    ax = axes[0]
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"(a) {name}: gray, {w} x {h} px (longest side <= {max_side})", fontsize=9)

    ax = axes[1]
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, alpha=0.6)
    smallest = frames[frames[:, 2] == sizes[0]]
    ax.scatter(smallest[:, 0], smallest[:, 1], s=0.5, color="tab:cyan")
    for size, colour in zip(sizes, SCALE_COLOURS):
        _draw_frame(ax, centre, size, colour)
        ax.plot([], [], color=colour, label=f"bin {size:g} px: {int((frames[:, 2] == size).sum()):,} frames")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"(b) dense grid, step {f.step} px: {len(frames):,} descriptors;\n"
                 f"one frame per scale (dots: frame centres at bin {sizes[0]:g})", fontsize=9)

    ax = axes[2]
    pad = 2.5 * sizes[-1]
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, alpha=0.5)
    draw_descriptor(ax, descriptors[chosen], centre, sizes[-1], colour="tab:red")
    ax.set_xlim(centre[0] - pad, centre[0] + pad)
    ax.set_ylim(centre[1] + pad, centre[1] - pad)
    ax.set_title(f"(c) one SIFT descriptor{' (RootSIFT)' if f.rootsift else ''}:\n4 x 4 cells x 8 orientations "
                 f"= 128 numbers", fontsize=9)
    for ax in axes[:4]:                     # image panels: pixel coordinates carry nothing
        ax.set_xticks([])
        ax.set_yticks([])

    if pipeline is None:
        for ax, letter in zip(axes[3:7], "defg"):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.5, 0.5, f"({letter}) needs a trained pipeline:\nclassic explain IMAGE --run RUN", ha="center",
                    va="center", fontsize=10, color="0.4", transform=ax.transAxes)
    else:
        _model_panels(axes, image, frames, descriptors, pipeline, training_image(pipeline.info, image_path))
    axes[7].axis("off")
    axes[7].text(0, 1, _caption(pipeline, f), va="top", fontsize=9, family="monospace", transform=axes[7].transAxes)
    fig.tight_layout()
    return save_figure(fig, out, dpi)


def _model_panels(axes, image, frames, descriptors, pipeline, trained_on: str | None):
    """Panels (d)-(g); ``trained_on``: the training image the explained image is, if any (its scores are no test)."""
    from ..features import LocalFeatures
    encoder = pipeline.encoder
    h, w = image.shape
    features = LocalFeatures(descriptors, frames[:, :2] / np.asarray([w, h], np.float32))
    keep = nonzero_rows(descriptors) if encoder.drop_empty else np.ones(len(descriptors), bool)
    projected = encoder.project(descriptors[keep])
    vocabulary = encoder.vocabulary_
    is_gmm = isinstance(vocabulary, DiagonalGMM)
    words = vocabulary.responsibilities(projected)[0].argmax(axis=1) if is_gmm else vocabulary.predict(projected)
    k = vocabulary_size(vocabulary)
    word = "Gaussian" if is_gmm else "word"

    ax = axes[3]
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, alpha=0.35)
    shown = frames[keep]
    one_scale = shown[:, 2] == shown[:, 2].min()
    ax.scatter(shown[one_scale, 0], shown[one_scale, 1], c=words[one_scale] % 20, cmap="tab20", s=4)
    used = len(np.unique(words))
    ax.set_title(f"(d) descriptors (bin {shown[:, 2].min():g}) coloured by most likely {word} "
                 f"({used} of {k} used by this image)", fontsize=9)

    vector = np.asarray(encoder.encode(features))
    energy = energy_per_word(vector, encoder)
    ax = axes[4]
    whole = energy[0]
    order = np.argsort(-whole)
    top = order[:40]
    ax.bar(range(len(top)), whole[top], color="tab:blue")
    ax.set_xticks(range(0, len(top), 5), [str(i) for i in top[::5]], fontsize=7)
    share = whole[top[:10]].sum() / max(whole.sum(), 1e-12)
    ax.set_xlabel(f"{word} (the 40 with the most energy, of {k})")
    ax.set_ylabel("energy (squared norm)")
    ax.set_title(f"(e) encoding energy per {word}, whole image: top 10 hold {100 * share:.0f}%", fontsize=9)

    ax = axes[5]
    top = order[:30]
    labels = [f"{a}x{b} #{i + 1}" for a, b in encoder.pyramid for i in range(a * b)]
    shown_energy = ax.imshow(energy[:, top], aspect="auto", cmap="magma")
    ax.figure.colorbar(shown_energy, ax=ax, fraction=0.04, pad=0.02)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xticks(range(0, len(top), 5), [str(i) for i in top[::5]], fontsize=7)
    ax.set_xlabel(f"{word} (same order as (e))")
    ax.set_title("(f) energy per pyramid region (rows) and " + word, fontsize=9)

    ax = axes[6]
    scores = pipeline.scores(vector)
    best = np.argsort(-scores, kind="stable")[:5]
    ax.barh(range(len(best)), scores[best], color=["tab:green"] + ["tab:gray"] * (len(best) - 1))
    for i, c in enumerate(best):
        ax.text(scores[c], i, f" {scores[c]:.2f} ", va="center", ha="left" if scores[c] >= 0 else "right", fontsize=8)
    ax.set_yticks(range(len(best)), [readable_name(pipeline.class_names[i]) for i in best])
    # room beyond the longest bars for their value labels, which would otherwise run into the class names
    low, high = min(0.0, float(scores[best].min())), max(0.0, float(scores[best].max()))
    margin = 0.3 * max(high - low, 1e-6)
    ax.set_xlim(low - (margin if low < 0 else 0), high + (margin if high > 0 else 0))
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("one-vs-rest SVM score (> 0: 'this class')")
    if trained_on:
        ax.set_title(f"(g) top-{len(best)} classes: a TRAINING image of this model,\nits scores are not a test",
                     fontsize=9, color="tab:red")
    else:
        ax.set_title(f"(g) top-{len(best)} classes", fontsize=9)


def _caption(pipeline, f) -> str:
    lines = ["The pipeline", "", f"dense SIFT: bins {f.bin_sizes}, step {f.step}",
             f"  smoothing sigma = bin / {f.magnif:g}", f"  contrast threshold {f.contrast_threshold:g}",
             f"  RootSIFT: {'yes' if f.rootsift else 'no'}"]
    if pipeline is not None:
        e = pipeline.config.encoder
        lines += [f"PCA to {e.pca_dims} dims" if e.pca_dims else "no PCA",
                  f"encoder: {e.kind}, K = {e.n_components}",
                  f"pyramid: {' + '.join(f'{a}x{b}' for a, b in e.pyramid)}",
                  f"  -> {pipeline.encoder.dimension:,} numbers per image",
                  f"linear SVM, C = {pipeline.config.svm.C:g}",
                  f"{len(pipeline.class_names)} classes ({pipeline.config.data.dataset})"]
    return "\n".join(lines)
