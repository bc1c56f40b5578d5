"""Classify image files with a run's model (``classic predict``): every image decoded as the run
decoded its own, scored by the model's pipeline (:mod:`classic.experiment.model`), the top classes kept.

On the CPU the images go in chunks to worker processes (each loads the model once and scores its
chunks one thread each); on the GPU (``backend="cupy"``) this process scores one chunk at a time
while threads decode the next.  A file that is not a readable image is skipped and reported with
its reason; it never stops the others.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..backend import get_backend, to_numpy
from ..data import ImageError, load_image
from ..io import save_text
from .model import load_model, read_model
from .parallel import run_chunks, run_overlapped

# the loaded models of this process (a worker scores many chunks with one model)
_LOADED: dict = {}


def image_files(inputs) -> list[Path]:
    """The files named in ``inputs``, and the files under the folders among them (recursively, hidden
    ones left out), in order; a path that does not exist raises FileNotFoundError."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(item).parts))
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return files


def _model(folder: Path, backend: str):
    key = (str(folder), backend)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_model(folder, backend)
    return _LOADED[key]


def _decode(paths, mode: str, max_side):
    images, errors = [], []
    for i, path in enumerate(paths):
        try:
            images.append((i, load_image(path, mode, max_side)))
        except ImageError as exc:
            errors.append({"file": str(path), "reason": str(exc)})
    return images, errors


def _scores(model, images, xp) -> np.ndarray:
    """Scores (images x trained classes) of decoded images; two classes give two columns too."""
    scores = to_numpy(model.decision_function([xp.asarray(image) for image in images]))
    return np.stack([-scores, scores], axis=1) if scores.ndim == 1 else scores


def _score_chunk(folder: Path, paths, backend: str, mode: str, max_side):
    images, errors = _decode(paths, mode, max_side)
    return _score_decoded(folder, paths, backend, images, errors)


def _score_decoded(folder: Path, paths, backend: str, images, errors):
    model = _model(folder, backend)
    xp = get_backend(backend)[0]
    scores = _scores(model, [image for _, image in images], xp) if images else None
    return [str(paths[i]) for i, _ in images], scores, errors


def predict_images(run, paths, *, backend: str = "numpy", n_jobs: int = -1, chunk_size: int = 16,
                   progress: bool = True) -> dict:
    """Score image files with the model of ``run`` (a run folder or its ``model/``).

    Returns {"files": the files that decoded, "scores": (those files x trained classes) float32,
    "classes": the trained class names, "errors": [{"file", "reason"}] of the files that did not}."""
    info = read_model(run)
    folder = info["folder"]
    classes = [info["class_names"][c] for c in info["trained_classes"]]
    paths = [Path(p) for p in paths]
    chunks = [paths[i:i + chunk_size] for i in range(0, len(paths), chunk_size)]
    mode, max_side = info["image_mode"], info["max_side"]
    if backend == "numpy":
        results, _ = run_chunks(_score_chunk, [(folder, c, backend, mode, max_side) for c in chunks], n_jobs=n_jobs,
                                desc="predict", progress=progress)
    else:
        get_backend(backend)            # unavailable: one clear error before any decoding
        results = run_overlapped(lambda c: _decode(c, mode, max_side),
                                 lambda c, decoded: _score_decoded(folder, c, backend, *decoded), chunks,
                                 n_threads=2, ahead=2, desc="predict", progress=progress)
    files = [f for r in results for f in r[0]]
    blocks = [r[1] for r in results if r[1] is not None]
    scores = np.concatenate(blocks).astype(np.float32) if blocks else np.zeros((0, len(classes)), np.float32)
    return {"files": files, "scores": scores, "classes": classes, "errors": [e for r in results for e in r[2]]}


def top_classes(scores: np.ndarray, classes, top: int) -> list[list[tuple[str, float]]]:
    """Per row of ``scores``: the ``top`` (class name, score) pairs, best first."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[(classes[j], float(row[j])) for j in best] for row, best in zip(scores, order)]


def predictions_csv(predicted: dict, top: int) -> str:
    """The CSV of :func:`predict_images`' result: path, class_1, score_1, ... class_k, score_k, error
    (one row per file, the unreadable ones with their reason)."""
    k = min(top, len(predicted["classes"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path"] + [f"{what}_{i}" for i in range(1, k + 1) for what in ("class", "score")] + ["error"])
    for path, best in zip(predicted["files"], top_classes(predicted["scores"], predicted["classes"], k)):
        writer.writerow([path] + [x for name, score in best for x in (name, f"{score:.6g}")] + [""])
    for e in predicted["errors"]:
        writer.writerow([e["file"]] + [""] * (2 * k) + [e["reason"]])
    return out.getvalue()


def write_predictions(path, predicted: dict, top: int) -> Path:
    """:func:`predictions_csv` written atomically to ``path``."""
    return save_text(Path(path), predictions_csv(predicted, top))
