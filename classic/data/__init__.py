"""Datasets, image decoding, downloads, and where data and caches live.

Data root: ``--data-root``, else ``$CLASSIC_DATA``, else ``<cache>/datasets``.
Cache root: ``$CLASSIC_CACHE``, else ``cache/`` in the current folder.
"""
from __future__ import annotations

import os
from pathlib import Path

from .datasets import (CALTECH101_FOLDER, Dataset, DatasetError, DatasetNotFound, DigitsDataset, ImageFolderDataset,
                       Split, caltech101)
from .images import ImageError, load_image
from .imagenet import ImageNetDataset


def cache_root() -> Path:
    """Where classic caches stages and downloads: ``$CLASSIC_CACHE``, else ``cache/`` in the current folder."""
    return Path(os.environ.get("CLASSIC_CACHE") or "cache")


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """Where datasets are looked for: ``explicit``, else ``$CLASSIC_DATA``, else ``<cache root>/datasets``."""
    if explicit:
        return Path(explicit)
    if os.environ.get("CLASSIC_DATA"):
        return Path(os.environ["CLASSIC_DATA"])
    return cache_root() / "datasets"


# name -> (where it is expected under the data root, or None if bundled; how to get it)
KNOWN_DATASETS = {
    "caltech101": (CALTECH101_FOLDER, "classic download caltech101"),
    "ilsvrc2012": (Path("ilsvrc2012") / "train", "from image-net.org (terms of access): train/<wnid>/, val/ (+ devkit)"),
    "ilsvrc2010": (Path("ilsvrc2010") / "train", "from image-net.org (terms of access): train/, val/, test/ + 2010 devkit"),
    "imagenette-160": (Path("imagenette2-160") / "train", "classic download imagenette-160 (also imagenette, imagenette-320)"),
    "imagewoof-160": (Path("imagewoof2-160") / "train", "classic download imagewoof-160 (also imagewoof, imagewoof-320)"),
    "digits": (None, "bundled with scikit-learn"),
    "folder": (None, "any class-per-folder tree: data.root: PATH"),
}


def _resolve(folder, base) -> Path:
    """A folder dataset's tree: a relative path is where the user stands (the current directory) if it
    is there, else under the data root ``base`` (where configs such as ``imagenette_fv.yaml`` name it)."""
    folder = Path(folder)
    if folder.is_absolute() or (Path.cwd() / folder).is_dir():
        return folder.absolute()
    if not (Path(base) / folder).is_dir():
        raise DatasetNotFound(f"class-per-folder tree {str(folder)!r} not found in the current directory "
                              f"({Path.cwd()}) nor under the data root ({base})")
    return Path(base) / folder


def open_dataset(name: str, base: Path, **options) -> Dataset:
    """Open dataset ``name`` found under the data root ``base`` with its split options."""
    if name == "caltech101":
        return caltech101(base, **options)
    if name in ("ilsvrc2012", "ilsvrc2010"):
        return ImageNetDataset(Path(base) / name, int(name[-4:]), **options)
    if name == "digits":
        options.pop("split_file", None)
        return DigitsDataset(**options)
    if name == "folder":
        folder = options.pop("root", None)
        if folder is None:
            raise ValueError("dataset 'folder' needs data.root (the class-per-folder tree)")
        folder, test_root = _resolve(folder, base), options.pop("test_root", None)
        if test_root is None and (folder / "train").is_dir() and (folder / "val").is_dir():
            folder, test_root = folder / "train", folder / "val"       # the ImageNet layout: DIR/train + DIR/val
        return ImageFolderDataset(folder, test_root=test_root and _resolve(test_root, base), **options)
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")


__all__ = ["Dataset", "DatasetError", "DatasetNotFound", "DigitsDataset", "ImageError", "ImageFolderDataset", "ImageNetDataset", "Split",
           "caltech101", "load_image", "cache_root", "data_root", "open_dataset", "KNOWN_DATASETS"]
