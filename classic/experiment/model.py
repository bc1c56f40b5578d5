"""A run's trained pipeline as files, and back: the run folder's ``model/``.

``model/`` holds everything that turns an image into class scores, without the cache, the training
images or their feature store: ``model.json`` (the resolved configuration, the class names, how
images are decoded, each channel's descriptor, encoder and dimension), one ``<channel>.npz`` per
descriptor channel (its PCA and vocabulary arrays and its block of the SVMs' weights, float16),
``svm.npz`` (the biases and the trained classes) and ``train_images.json`` (the training images'
files and sizes, to recognise one given as a new image).  Nothing is pickled: ``np.load`` with
``allow_pickle=False`` and JSON read it.  The SVMs are those of the run's first split (the weights
of the ``model`` stage, :mod:`classic.experiment.stages.model`); scoring that split's test images
with the model gives the run's own test scores (``scores_<split>.npy``).

:func:`load_model` makes it a fitted scikit-learn :class:`~sklearn.pipeline.Pipeline`, images in,
scores out::

    image mode -> descriptors -> encoder (PCA, vocabulary) -> linear SVMs

with a :class:`~sklearn.pipeline.FeatureUnion` of the channels when there are several (each brings
the images to its own mode, and the union concatenates their vectors; the channel weights of the
fusion are in the SVMs' weights).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from sklearn.pipeline import FeatureUnion, Pipeline

from .. import __version__
from ..backend import get_backend
from ..features import ImageMode
from ..io import load_json, load_npz, save_json, save_npz
from ..learn import LinearSVM
from .build import fitted_encoder, make_extractor, vocabulary_stage
from .config import build_config, channel_configs
from .run_folder import RunNotFound

MODEL_FORMAT = "classic-model/1"


def write_model(folder: Path, config, class_names: list[str], split: str, channels: list[dict], weights: dict,
                train_files=()) -> dict:
    """Write ``folder`` (a run folder's ``model/``) and return its ``model.json``.

    ``channels``: per channel, {"name", "config" (single-channel), "pca", "vocabulary"} (their stages'
    arrays); ``weights``: the model stage's arrays (``coef_<i>``, ``intercept``, ``classes``);
    ``train_files``: the training images' files, listed with their sizes in ``train_images.json``
    (so that an image the model was trained on is recognised: its scores are not a test)."""
    folder = Path(folder)
    if folder.is_dir():         # an earlier run's model in this run folder may have other channels
        shutil.rmtree(folder)
    entries, size = [], 0
    for i, c in enumerate(channels):
        name = c["name"] or c["config"].features.kind
        file = f"{name}.npz"
        path = save_npz(folder / file, coef=weights[f"coef_{i}"], **{f"pca_{k}": v for k, v in c["pca"].items()},
                        **{f"vocabulary_{k}": v for k, v in c["vocabulary"].items()})
        size += path.stat().st_size
        entries.append({"name": name, "file": file, "image_mode": make_extractor(c["config"]).image_mode,
                        "descriptor": c["config"].features.kind, "encoder": c["config"].encoder.kind,
                        "dimension": int(weights[f"coef_{i}"].shape[1])})
    size += save_npz(folder / "svm.npz", intercept=weights["intercept"], classes=weights["classes"]).stat().st_size
    listed = [{"path": str(Path(p).resolve()), "bytes": Path(p).stat().st_size} for p in train_files
              if p is not None and Path(p).is_file()]
    size += save_json(folder / "train_images.json", listed).stat().st_size
    modes = {e["image_mode"] for e in entries}
    info = {"format": MODEL_FORMAT, "classic_version": __version__, "name": config.name, "split": split,
            "class_names": list(class_names), "trained_classes": [int(c) for c in weights["classes"]],
            "image_mode": modes.pop() if len(modes) == 1 else "rgb", "max_side": config.data.max_side,
            "weights_dtype": str(weights["coef_0"].dtype), "channels": entries, "bytes": size,
            "config": config.to_dict()}
    save_json(folder / "model.json", info)
    return info


def training_image(info: dict, path) -> str | None:
    """The training image of the model ``info`` that the file ``path`` is: the same file, or one of
    the same name and size (a copy); None when it is none of them."""
    path = Path(path)
    listed = load_json(info["folder"] / "train_images.json") if (info["folder"] / "train_images.json").is_file() else []
    size = path.stat().st_size
    for entry in listed:
        if entry["path"] == str(path.resolve()):
            return entry["path"]
    for entry in listed:
        if entry["bytes"] == size and Path(entry["path"]).name == path.name:
            return entry["path"]
    return None


def model_folder(path) -> Path:
    """The ``model/`` folder of a run folder (or the model folder itself), or RunNotFound saying why not."""
    path = Path(path)
    folder = path if (path / "model.json").is_file() else path / "model"
    if not (folder / "model.json").is_file():
        if not path.is_dir():
            raise RunNotFound(f"{path} does not exist (give a run folder, e.g. runs/caltech101_quick)")
        raise RunNotFound(f"{path} holds no trained model (model/model.json; written by runs since classic 0.1): "
                          f"re-run `classic run {path / 'config.yaml'} --out {path}` (cached stages make it quick)")
    return folder


def read_model(path) -> dict:
    """``model.json`` of a run folder's model (or of a model folder), with its ``folder``."""
    folder = model_folder(path)
    info = load_json(folder / "model.json")
    if info.get("format") != MODEL_FORMAT:
        raise RunNotFound(f"{folder}: model format {info.get('format')!r}, this classic {__version__} reads "
                          f"{MODEL_FORMAT!r}")
    return {**info, "folder": folder}


def model_parts(info: dict, backend: str = "numpy") -> tuple[list[tuple[str, object, object]], LinearSVM]:
    """([(channel name, extractor, fitted encoder)], the fitted linear SVMs) of a model's ``info``, on ``backend``."""
    xp = get_backend(backend)[0]
    config = build_config(info["config"])
    singles = [single for _, single in channel_configs(config)] or [config]
    channels, coefs = [], []
    for entry, single in zip(info["channels"], singles):
        arrays = load_npz(info["folder"] / entry["file"])
        pick = {prefix: {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
                for prefix in ("pca_", "vocabulary_")}
        encoder = fitted_encoder(single, pick["pca_"], pick["vocabulary_"], xp)
        channels.append((entry["name"], make_extractor(single), encoder))
        coefs.append(arrays["coef"].astype(np.float32))
    svm_arrays = load_npz(info["folder"] / "svm.npz")
    names = np.asarray(info["class_names"])[svm_arrays["classes"]]
    svm = LinearSVM().set_fitted(xp.asarray(np.concatenate(coefs, axis=1)), xp.asarray(svm_arrays["intercept"]), names)
    return channels, svm


def load_model(path, backend: str = "numpy") -> Pipeline:
    """The trained pipeline of a run folder (or of its ``model/`` folder) as a fitted scikit-learn
    :class:`~sklearn.pipeline.Pipeline`: a list of images in (decoded as ``model.json`` says:
    ``classic.data.load_image(path, info["image_mode"], info["max_side"])`` with ``info`` =
    :func:`read_model`), ``decision_function`` (images x trained classes) and ``predict`` (class
    names) out; ``classes_`` are the class names.  ``backend="cupy"`` keeps its arrays on the GPU
    (give it CuPy images).  Its use, end to end: README.md, "Classify new images with a trained run";
    that it reproduces the run's own test scores: ``tests/test_model.py``.
    """
    info = read_model(path)
    channels, svm = model_parts(info, backend)
    modes = [entry["image_mode"] for entry in info["channels"]]
    branches = [(name, Pipeline([("image", ImageMode(mode)), ("descriptors", extractor), ("encoder", encoder)]))
                for (name, extractor, encoder), mode in zip(channels, modes)]
    if len(branches) == 1:
        return Pipeline(branches[0][1].steps + [("svm", svm)])
    return Pipeline([("channels", FeatureUnion(branches)), ("svm", svm)])


def channel_stage_arrays(pca: Path, vocabulary: Path, config) -> dict:
    """{"pca", "vocabulary"}: the arrays of a channel's ``pca`` and vocabulary stage folders (no
    PCA: an empty ``pca.npz``)."""
    return {"pca": load_npz(pca / "pca.npz"), "vocabulary": load_npz(vocabulary / f"{vocabulary_stage(config)}.npz")}
