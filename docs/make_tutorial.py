"""Regenerate docs/tutorial.md and every figure in docs/figures/ from runs of this repository.

    .venv/bin/python docs/make_tutorial.py --data-root ../shared/datasets

Runs experiments/caltech101_quick.yaml into runs/caltech101_quick if that run is missing (about
4 minutes on 2 cores from an empty cache), then draws the figures and fills docs/tutorial.template.md
with the measured numbers.  Tables of the longer runs (runs/caltech101_fv, the encodings comparison
runs/caltech101_encodings, the quick sweep runs/caltech101_quick_sweep) are made from those run
folders when they exist; when one does not, its block of the current docs/tutorial.md (between
``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``) is kept as it is, so that regenerating on a
machine without the long runs never deletes a section; a block never generated says which command
makes it.  Every path written is relative to the repository (the script works from its root).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classic.data import cache_root, data_root, load_image  # noqa: E402
from classic.io import save_text  # noqa: E402
from classic.experiment import Runner, load_config  # noqa: E402
from classic.experiment.build import build_dataset  # noqa: E402
from classic.experiment.predict import predict_images, top_classes  # noqa: E402
from classic.features.lbp import lbp_codes  # noqa: E402
from classic.report.compare import write_comparison  # noqa: E402
from classic.report.explain import explain  # noqa: E402
from classic.report.explain_descriptors import explain_hog, explain_lbp  # noqa: E402
from classic.experiment.run_folder import load_run  # noqa: E402
from classic.experiment.trained import TrainedPipeline  # noqa: E402
from classic.report.figures import _pyplot, save_figure  # noqa: E402
from classic.report.render import render_run  # noqa: E402

# relative to the repository, where main() works: the paths in the tables are the reader's
FIGURES = Path("docs") / "figures"
DPI = 90                 # the committed PNGs stay small; the SVGs next to them (git-ignored) are exact
QUICK = Path("runs") / "caltech101_quick"
TUTORIAL = Path("docs") / "tutorial.md"
BLOCK = re.compile(r"<!-- generated: (\w+) -->\n(.*?)\n<!-- end: \1 -->", re.S)


def quick_run(root: Path) -> TrainedPipeline:
    try:
        return TrainedPipeline(QUICK)
    except FileNotFoundError:
        config = load_config(REPO / "experiments" / "caltech101_quick.yaml")
        Runner(config, root, cache_root(), QUICK).run()
        render_run(QUICK)
        return TrainedPipeline(QUICK)


def dataset_figure(pipeline, root) -> None:
    """One training image of 12 classes, as the pipeline sees them (gray, longest side 300)."""
    plt = _pyplot()
    dataset = build_dataset(pipeline.config, root)
    split = dataset.splits()[0]
    classes = np.linspace(0, len(dataset.class_names) - 1, 12).astype(int)
    fig, axes = plt.subplots(2, 6, figsize=(15, 5.2))
    for ax, c in zip(axes.ravel(), classes):
        ref = split.train[int(np.flatnonzero(split.train_labels == c)[0])]
        ax.imshow(dataset.load(ref, "gray", 300), cmap="gray", vmin=0, vmax=1)
        ax.set_title(dataset.class_names[c], fontsize=9)
        ax.axis("off")
    save_figure(fig, FIGURES / "dataset", DPI)


def descriptor_figures(pipeline, root) -> dict:
    """PCA spectrum of the dense SIFT descriptors, and the GMM seen in the first two PCA dimensions."""
    plt = _pyplot()
    dataset = build_dataset(pipeline.config, root)
    split = dataset.splits()[0]
    refs = split.train[::15][:60]
    features = [pipeline.extractor.extract(dataset.load(r, "gray", pipeline.config.data.max_side)).without_empty()
                for r in refs]
    X = np.concatenate([f.descriptors for f in features])
    X = X[np.random.default_rng(0).choice(len(X), min(len(X), 50_000), replace=False)]
    centred = X - X.mean(axis=0)
    variances = np.linalg.svd(centred, compute_uv=False) ** 2
    explained = np.cumsum(variances) / variances.sum()
    dims = pipeline.config.encoder.pca_dims
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(np.arange(1, len(explained) + 1), 100 * explained)
    ax.axvline(dims, color="tab:red", linestyle="--", label=f"PCA to {dims} dims: {100 * explained[dims - 1]:.1f}% of the variance")
    ax.set_xlabel("principal components kept")
    ax.set_ylabel("variance explained (%)")
    ax.set_title("Dense SIFT descriptors: PCA spectrum")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save_figure(fig, FIGURES / "pca", DPI)

    gmm = pipeline.encoder.vocabulary_
    projected = pipeline.encoder.project(X[:20_000])
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(projected[:, 0], projected[:, 1], s=1, color="0.6", alpha=0.3, label="descriptors (PCA dims 1, 2)")
    t = np.linspace(0, 2 * np.pi, 60)
    heaviest = np.argsort(-gmm.weights_)[:24]
    for k in heaviest:
        sx, sy = np.sqrt(gmm.variances_[k, :2])
        ax.plot(gmm.means_[k, 0] + 2 * sx * np.cos(t), gmm.means_[k, 1] + 2 * sy * np.sin(t), linewidth=1)
    ax.set_title(f"GMM vocabulary: the {len(heaviest)} heaviest of {len(gmm.weights_)} Gaussians (2 sigma)")
    ax.set_xlabel("PCA dimension 1")
    ax.set_ylabel("PCA dimension 2")
    save_figure(fig, FIGURES / "gmm", DPI)
    return {"pca_variance": f"{100 * explained[dims - 1]:.1f}", "pca_dims": str(dims),
            "descriptors_per_image": f"{int(np.mean([len(f) for f in features])):,}"}


def pyramid_text(pyramid) -> str:
    """The regions of a pyramid (levels as columns x rows) in words: "the whole image (1x1) and its 4 quadrants (2x2)"."""
    def level(columns, rows):
        if (columns, rows) == (1, 1):
            return "the whole image (1x1)"
        if columns == rows == 2:
            return "its 4 quadrants (2x2)"
        if columns == 1:
            return f"its {rows} horizontal bands (1x{rows})"
        if rows == 1:
            return f"its {columns} vertical bands ({columns}x1)"
        return f"a grid of {columns * rows} cells ({columns}x{rows})"
    parts = [level(*map(int, p)) for p in pyramid]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def outside_image() -> Path:
    """A photo that is not in Caltech-101: scikit-image's bundled coffee cup (Caltech-101 has a `cup` class)."""
    from PIL import Image
    from skimage import data
    path = FIGURES / "coffee.jpg"
    Image.fromarray(data.coffee()).save(path, quality=90)
    return path


def table_from(folder: Path, name: str) -> str | None:
    """The table of a sweep's ``name`` (its figure lines left out), or None when that run is not here."""
    path = folder / name
    if path.is_file():
        text = path.read_text()
        return re.sub(r"\n!\[[^\]]*\]\([^)]*\)\n?", "\n", text).strip()
    return None


def fill(template: str, values: dict, previous: str, commands: dict) -> str:
    """The template with its ``{{name}}`` filled: a number in place, a multi-line block between
    markers; a block whose value is None (its run is not here) keeps its text from ``previous`` (the
    current tutorial), or says which command makes it."""
    kept = dict(BLOCK.findall(previous))

    def value(match):
        name = match.group(1)
        text = values.get(name)
        if name not in commands:
            return text
        if text is None:
            text = kept.get(name, f"*(not run here yet: `{commands[name]}` makes this)*")
        return f"<!-- generated: {name} -->\n{text}\n<!-- end: {name} -->"
    return re.sub(r"\{\{(\w+)\}\}", value, template)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="folder holding caltech101/ (default: $CLASSIC_DATA or cache/datasets)")
    args = parser.parse_args(argv)
    root = data_root(args.data_root).absolute()
    os.chdir(REPO)
    FIGURES.mkdir(parents=True, exist_ok=True)
    pipeline = quick_run(root)
    quick = load_run(QUICK)
    values = {"quick_accuracy": f"{100 * quick['metrics']['mean_class_accuracy']:.2f}",
              "quick_top5": f"{100 * quick['metrics']['top5_error']:.2f}",
              "quick_pyramid": pyramid_text(pipeline.config.encoder.pyramid),
              "quick_time": f"{(quick['metrics'].get('compute_seconds') or quick['metrics']['wall_seconds']) / 60:.1f}"}
    dataset_figure(pipeline, root)
    values.update(descriptor_figures(pipeline, root))
    caltech_image = root / "caltech101" / "101_ObjectCategories" / "cup" / "image_0001.jpg"
    explain(caltech_image, FIGURES / "explain_cup", pipeline, dpi=DPI)
    coffee = outside_image()
    explain(coffee, FIGURES / "explain_coffee", pipeline, dpi=DPI)
    predicted = predict_images(QUICK, [coffee], n_jobs=1, progress=False)
    values["coffee_top"] = ", ".join(f"`{name}` ({score:.2f})"
                                     for name, score in top_classes(predicted["scores"], predicted["classes"], 5)[0])
    explain_hog(caltech_image, FIGURES / "explain_hog_cup", dpi=DPI)
    explain_lbp(caltech_image, FIGURES / "explain_lbp_cup", dpi=DPI)
    codes = lbp_codes(load_image(caltech_image, "gray", 300))
    values["lbp_uniform_share"] = f"{100 * np.mean(codes < 58):.0f}"
    for name in ("confusion", "per_class"):
        shutil.copyfile(QUICK / f"{name}.png", FIGURES / f"quick_{name}.png")
    sweep = Path("runs") / "caltech101_quick_sweep"
    if (sweep / "sweep.png").is_file():
        shutil.copyfile(sweep / "sweep.png", FIGURES / "quick_sweep.png")
    full = Path("runs") / "caltech101_fv"
    report = Path("runs") / "tutorial_report"
    commands = {"encodings_table": "classic sweep experiments/caltech101_encodings.yaml --out runs/caltech101_encodings",
                "sweep_table": "classic sweep experiments/caltech101_quick.yaml --grid encoder.n_components=16,32,64,128,256 "
                               "--grid data.n_train=5,10,15 --out runs/caltech101_quick_sweep",
                "sweep_figure": "the sweep above", "report_table": "classic run experiments/caltech101_fv.yaml",
                "latex": "classic run experiments/caltech101_fv.yaml"}
    values.update(encodings_table=table_from(Path("runs") / "caltech101_encodings", "sweep.md"),
                  sweep_table=table_from(sweep, "sweep.md"),
                  sweep_figure="![Accuracy against K and the number of training images](figures/quick_sweep.png)"
                  if (sweep / "sweep.png").is_file() else None)
    # the comparison beside the published rows: with the full run only (the quick run alone is not the protocol)
    if (full / "metrics.json").is_file():
        markdown, _ = write_comparison([full, QUICK], report, formats=("md", "tex"))
        shutil.copyfile(report / "trajectory.png", FIGURES / "trajectory.png")
        values.update(report_table=markdown.replace("](trajectory.png)", "](figures/trajectory.png)"),
                      latex="```latex\n" + (report / "comparison.tex").read_text().strip() + "\n```")
    previous = TUTORIAL.read_text() if TUTORIAL.is_file() else ""
    template = Path("docs", "tutorial.template.md").read_text()
    save_text(TUTORIAL, fill(template, values, previous, commands))
    print(f"wrote docs/tutorial.md and {len(list(FIGURES.glob('*.png')))} figures in docs/figures/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
