"""ImageNet classification data (ILSVRC 2012 and 2010) with every label convention in circulation.

Layout under the data root (``ilsvrc2012/`` or ``ilsvrc2010/``)::

    train/<wnid>/*.JPEG                        training images, one folder per synset
    val/<wnid>/*.JPEG                          validation, already sorted into synset folders, or
    val/*.JPEG + the devkit                    flat, labelled by the devkit's ground-truth file, or
    val/*.JPEG + LOC_val_solution.csv          flat, labelled by Kaggle's CSV (+ LOC_synset_mapping.txt)
    test/*.JPEG + the 2010 devkit              ILSVRC-2010 only: its test labels are public

**Class index = position in the sorted WNID list** (the convention of torchvision, Caffe and the
Kaggle files).  The devkit's ground-truth files hold ILSVRC IDs (1..1000), which are *not* sorted-WNID
indices: they are mapped ID -> WNID through the devkit's ``meta.mat`` (``synsets`` struct array,
fields ``ILSVRC2012_ID`` / ``ILSVRC2010_ID``, ``WNID``, ``words``, ``num_children``) and then to our
index.  Line i of a ground-truth file labels the image whose file name carries the number i
(``ILSVRC2012_val_00000001.JPEG`` is line 1).  Human-readable names come from ``meta.mat`` or
``LOC_synset_mapping.txt``; without either, the WNIDs are the names.

Subsets for runs shorter than a week: the first or ``n_classes`` random classes, at most ``n_train``
training and ``n_test`` test images per class (random, by ``seed``); the choice is part of the run's
config and the class list is saved with the run.  The data's traps (a PNG named ``.JPEG``, CMYK
JPEGs, grayscale images) are handled by :func:`images.load_image`, which reads the content, not the
extension.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from .datasets import Dataset, DatasetNotFound, Split, image_files, list_class_folders, listing, per_class_random_split
from .images import load_image

WNID = re.compile(r"^n\d{8}$")
_NUMBER = re.compile(r"_(\d{8})\.[A-Za-z]+$")


def read_meta_mat(path, year: int) -> dict[int, tuple[str, str]]:
    """ILSVRC ID -> (WNID, words) of the devkit's leaf synsets (the 1,000 classes)."""
    from scipy.io import loadmat
    synsets = loadmat(path, squeeze_me=True)["synsets"]
    ids = np.atleast_1d(synsets[f"ILSVRC{year}_ID"])
    wnids, words = np.atleast_1d(synsets["WNID"]), np.atleast_1d(synsets["words"])
    children = np.atleast_1d(synsets["num_children"])
    return {int(i): (str(w), str(t)) for i, w, t, c in zip(ids, wnids, words, children) if int(c) == 0}


def read_ground_truth(path) -> list[int]:
    """The ILSVRC IDs of a devkit ground-truth file, line i = image number i."""
    return [int(line) for line in Path(path).read_text().split()]


def image_number(name: str) -> int:
    """The number in an ILSVRC file name (``ILSVRC2012_val_00000042.JPEG`` -> 42); ValueError for other names."""
    match = _NUMBER.search(name)
    if not match:
        raise ValueError(f"{name}: expected an ILSVRC file name ending in _<8 digits>.<ext>")
    return int(match.group(1))


def _find(root: Path, pattern: str) -> Path | None:
    found = sorted(root.rglob(pattern))
    return found[0] if found else None


class ImageNetDataset(Dataset):
    """ILSVRC ``year`` (2012 or 2010) under ``root``; the test set is ``"val"`` or (2010) ``"test"``."""

    def __init__(self, root, year: int = 2012, *, test_set: str = "val", n_classes: int | None = None,
                 class_subset: str = "first", n_train: int | None = None, n_test: int | None = None,
                 seed: int = 0):
        self.root, self.year, self.test_set = Path(root), year, test_set
        if year not in (2010, 2012):
            raise ValueError(f"ILSVRC year {year} is not supported; use 2012 or 2010")
        if test_set not in ("val", "test") or (test_set == "test" and year != 2010):
            raise ValueError(f"test_set {test_set!r}: use 'val' (or 'test' for ILSVRC-2010, whose test labels are public)")
        train_root = self.root / "train"
        if not train_root.is_dir():
            raise DatasetNotFound(f"dataset 'ilsvrc{year}' not found: no training folder {train_root} "
                                  f"(expected train/<wnid>/*.JPEG under --data-root DIR/ilsvrc{year})")
        wnids, refs, labels, skipped = list_class_folders(train_root)
        wnids, refs, labels = self._subset(wnids, refs, labels, n_classes, class_subset, seed)
        self.wnids = wnids
        self.meta = self._synset_table()
        super().__init__(f"ilsvrc{year}", [self.meta.get(w, w) for w in wnids],
                         [{"file": f"train/{s['file']}", "reason": s["reason"]} for s in skipped])
        self.train_refs, self.train_labels = [f"train/{r}" for r in refs], labels
        self.test_refs, self.test_labels = self._test_set()
        self.n_train, self.n_test, self.seed = n_train, n_test, seed

    @staticmethod
    def _subset(wnids, refs, labels, n_classes, class_subset, seed):
        if n_classes is None or n_classes >= len(wnids):
            return wnids, refs, labels
        if class_subset == "first":
            chosen = np.arange(n_classes)
        elif class_subset == "random":
            chosen = np.sort(np.random.default_rng(seed).choice(len(wnids), n_classes, replace=False))
        else:
            raise ValueError(f"class_subset must be 'first' or 'random', got {class_subset!r}")
        new_index = np.full(len(wnids), -1)
        new_index[chosen] = np.arange(len(chosen))
        keep = new_index[labels] >= 0
        return ([wnids[i] for i in chosen], [r for r, k in zip(refs, keep) if k], new_index[labels[keep]])

    def _synset_table(self) -> dict[str, str]:
        """WNID -> human-readable name, from meta.mat or LOC_synset_mapping.txt if present."""
        meta = _find(self.root, "meta.mat")
        if meta is not None:
            return {wnid: words for wnid, words in read_meta_mat(meta, self.year).values()}
        mapping = self.root / "LOC_synset_mapping.txt"
        if mapping.is_file():
            return dict(line.split(" ", 1) for line in mapping.read_text().splitlines() if line.strip())
        return {}

    def _test_set(self) -> tuple[list[str], np.ndarray]:
        folder = self.root / self.test_set
        if not folder.is_dir():
            raise DatasetNotFound(f"ilsvrc{self.year}: no {self.test_set} folder at {folder}")
        index = {w: i for i, w in enumerate(self.wnids)}
        entries = listing(folder)
        if any(WNID.match(e.name) for e in entries):             # already sorted into synset folders
            wnids = [w for w in self.wnids if (folder / w).is_dir()]
            _, refs, labels, skipped = list_class_folders(folder, classes=wnids)
            pairs = [(f"{self.test_set}/{ref}", wnids[label]) for ref, label in zip(refs, labels)]
        else:
            files, skipped = image_files(entries)
            pairs = self._flat_labels(files)
        self.skipped.extend({"file": f"{self.test_set}/{s['file']}", "reason": s["reason"]} for s in skipped)
        kept = [(ref, index[w]) for ref, w in pairs if w in index]  # class subsets drop the other classes
        return [r for r, _ in kept], np.asarray([label for _, label in kept], dtype=np.int64)

    def _flat_labels(self, files: list[str]) -> list[tuple[str, str]]:
        folder = self.root / self.test_set
        ground_truth = _find(self.root, f"ILSVRC{self.year}_{'validation' if self.test_set == 'val' else 'test'}"
                                        f"_ground_truth.txt")
        meta = _find(self.root, "meta.mat")
        if ground_truth is not None and meta is not None:
            ids, synsets = read_ground_truth(ground_truth), read_meta_mat(meta, self.year)
            pairs = []
            for name in files:
                number = image_number(name)
                if not 1 <= number <= len(ids):
                    raise ValueError(f"{ground_truth} has {len(ids)} lines; no label for {name}")
                pairs.append((f"{self.test_set}/{name}", synsets[ids[number - 1]][0]))
            return pairs
        solution = self.root / "LOC_val_solution.csv"
        if self.test_set == "val" and solution.is_file():
            with open(solution, newline="") as f:
                labels = {row["ImageId"]: row["PredictionString"].split()[0] for row in csv.DictReader(f)}
            return [(f"val/{name}", labels[Path(name).stem]) for name in files if Path(name).stem in labels]
        raise DatasetNotFound(
            f"ilsvrc{self.year}: {folder} is flat and no labels were found: put the devkit (its "
            f"ILSVRC{self.year}_*_ground_truth.txt and meta.mat) or Kaggle's LOC_val_solution.csv under {self.root}, "
            f"or sort the images into <wnid>/ folders")

    def splits(self) -> list[Split]:
        """One split: the training images (at most ``n_train`` per class) and the val or test images."""
        train = np.arange(len(self.train_refs))
        if self.n_train is not None:
            train, _ = per_class_random_split(self.train_labels, self.n_train, 0, self.seed)
        test = np.arange(len(self.test_refs))
        if self.n_test is not None:
            test, _ = per_class_random_split(self.test_labels, self.n_test, 0, self.seed + 1)
        return [Split(f"{self.name}-{self.test_set}", tuple(self.train_refs[i] for i in train), self.train_labels[train],
                      tuple(self.test_refs[i] for i in test), self.test_labels[test])]

    def path(self, ref: str) -> Path:
        """The file of image ``ref``."""
        return self.root / ref

    def load(self, ref: str, mode: str = "gray", max_side: int | None = 300) -> np.ndarray:
        """Image ``ref`` decoded as float32 in [0, 1] (``mode`` gray or rgb), longest side at most ``max_side``."""
        return load_image(self.path(ref), mode, max_side)
