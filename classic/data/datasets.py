"""Datasets: image references, integer labels and class names, split into training and test sets.

* :class:`ImageFolderDataset` - one folder per class.  Either one root split per class at random
  (``n_train`` images for training, up to ``n_test`` of the rest for testing, one split per seed),
  or separate training and test roots with the same class folders (ImageNet style), or an explicit
  split file with lines ``train|test <class>/<file> <class>``.
* :func:`caltech101` - Caltech-101 with its standard protocol (Fei-Fei et al. 2004): 102 classes
  (``BACKGROUND_Google`` included unless excluded), 30 training and up to 50 test images per class,
  mean per-class accuracy averaged over several random splits.
* :class:`DigitsDataset` - scikit-learn's bundled 8 x 8 handwritten digits, upsampled; needs no files.

Class index = position in the sorted class-folder names.  Listing never stops at an odd entry: files
whose extension is not an image format, broken or looping symbolic links, folders inside a class
folder, entries that cannot be read, and class folders that cannot be listed or hold no image are
left out and recorded in ``skipped`` with the reason (names starting with a dot, such as
``.DS_Store``, are ignored).  Files that fail to decode are skipped (and recorded) by the experiment
layer when it reads them.
"""
from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .images import load_image

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


class DatasetNotFound(FileNotFoundError):
    """A dataset's files are missing; the message names where we looked and how to fix it."""


class DatasetError(ValueError):
    """A dataset's files are there but cannot be used as they are (a malformed split file); the
    message names the file, the line and what was expected."""


@dataclass(frozen=True)
class Split:
    """One training/test split: references (dataset-relative) and integer labels."""
    name: str
    train: tuple[str, ...]
    train_labels: np.ndarray
    test: tuple[str, ...]
    test_labels: np.ndarray

    def __post_init__(self):
        if len(self.train) != len(self.train_labels) or len(self.test) != len(self.test_labels):
            raise ValueError("references and labels differ in length")

    def digest(self) -> str:
        """A digest of which images are trained on and which are tested (order aside): two splits
        with the same digest hold the same images (what a "same split" comparison needs).

        >>> a = Split("a", ("c/1.jpg", "c/2.jpg"), np.zeros(2, int), ("c/3.jpg",), np.zeros(1, int))
        >>> b = Split("b", ("c/2.jpg", "c/1.jpg"), np.zeros(2, int), ("c/3.jpg",), np.zeros(1, int))
        >>> a.digest() == b.digest(), len(a.digest())
        (True, 16)
        """
        text = "\n".join(["train", *sorted(self.train), "test", *sorted(self.test)])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Dataset:
    """Base: ``name``, ``class_names``, ``skipped`` (files left out, with reasons), ``splits()``, ``load()``,
    and for datasets of files ``path(ref)``."""
    name: str
    class_names: list[str]
    skipped: list[dict] = field(default_factory=list)
    _stats: dict = field(default_factory=dict, init=False, repr=False)     # ref -> "size:mtime" (fingerprint)

    def splits(self) -> list[Split]:
        """The dataset's train/test splits (:class:`Split`), listed once."""
        raise NotImplementedError

    def load(self, ref: str, mode: str = "gray", max_side: int | None = 300) -> np.ndarray:
        """Image ``ref`` decoded as float32 in [0, 1] (``mode`` gray or rgb), longest side at most ``max_side``."""
        raise NotImplementedError

    def path(self, ref: str) -> Path | None:
        """The file behind ``ref`` (None for bundled data, which has no files)."""
        return None

    def fingerprint(self, refs) -> str:
        """A digest of ``refs`` and of each one's file size and modification time: a stage key that
        includes it changes when a file is replaced, so what was computed from the old file is not
        reused.  (A file rewritten with the same size and time keeps its digest: hashing every byte
        of ImageNet would cost more than decoding it.)  Each file is looked at once per dataset."""
        digest = hashlib.sha256()
        for ref in refs:
            if ref not in self._stats:
                path = self.path(ref)
                try:
                    st = os.stat(path) if path is not None else None
                    self._stats[ref] = "" if st is None else f"{st.st_size}:{st.st_mtime_ns}"
                except OSError:
                    self._stats[ref] = "missing"
            digest.update(f"{ref}\0{self._stats[ref]}\n".encode())
        return digest.hexdigest()[:20]


def per_class_random_split(labels: np.ndarray, n_train: int, n_test: int | None, seed: int):
    """Indices (train, test): per class, ``n_train`` at random, then up to ``n_test`` of the rest."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        train.extend(members[:n_train])
        rest = members[n_train:]
        test.extend(rest if n_test is None else rest[:n_test])
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(test, dtype=np.int64))


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def _listing(folder: Path) -> tuple[list[os.DirEntry], str | None]:
    """(the visible entries of ``folder`` by name, None) or ([], why it cannot be listed)."""
    try:
        with os.scandir(folder) as entries:
            return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name), None
    except OSError as exc:
        return [], _reason(exc)


def listing(folder: Path) -> list[os.DirEntry]:
    """The visible entries of a dataset folder that must be readable (:class:`DatasetNotFound` if not)."""
    entries, problem = _listing(folder)
    if problem is not None:
        raise DatasetNotFound(f"{folder}: the dataset folder cannot be listed ({problem})")
    return entries


def _kind(entry: os.DirEntry) -> str:
    """"file" or "folder" (links followed), else why the entry is neither."""
    try:
        if entry.is_dir():
            return "folder"
        if entry.is_file():
            return "file"
        if entry.is_symlink():
            return "broken symbolic link (its target does not exist)"
        return "not a regular file (device, socket or pipe)"
    except OSError as exc:
        return _reason(exc)


def image_files(entries: list[os.DirEntry], prefix: str = "") -> tuple[list[str], list[dict]]:
    """(names of the image files among a folder's ``entries``, the others as skipped records
    ``{"file": prefix + name, "reason"}``)."""
    names, skipped = [], []
    for entry in entries:
        kind = _kind(entry)
        if kind == "file" and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            names.append(entry.name)
            continue
        reason = {"file": "not an image file (extension)", "folder": "a folder (sub-folders are not searched)"}.get(kind, kind)
        skipped.append({"file": prefix + entry.name, "reason": reason})
    return names, skipped


def list_class_folders(root: Path, classes=None, exclude=()) -> tuple[list[str], list[str], np.ndarray, list[dict]]:
    """(class_names, refs "<class>/<file>", labels, skipped) for a class-per-folder tree.

    Without ``classes``, every readable class folder that holds an image is a class; with it (a test
    tree that must have the training tree's classes), exactly those, even if one holds no image.
    """
    entries = listing(root)
    skipped, folders = [], []
    for entry in entries:
        kind = _kind(entry)
        if kind == "folder":
            folders.append(entry.name)
        else:
            skipped.append({"file": entry.name, "reason": "not a class folder: " + ("a file" if kind == "file" else kind)})
    if classes is not None:
        missing = sorted(set(classes) - set(folders))
        if missing:
            raise DatasetNotFound(f"{root}: class folders not found: {', '.join(missing[:5])}")
        names = sorted(classes)
    else:
        names = folders
    names = [n for n in names if n not in set(exclude)]
    kept, refs, labels = [], [], []
    left_out = "" if classes is not None else ": class left out"
    for name in names:
        entries, problem = _listing(root / name)
        if problem is not None:
            skipped.append({"file": f"{name}/", "reason": f"class folder cannot be listed ({problem}){left_out}"})
            files = []
        else:
            files, problems = image_files(entries, f"{name}/")
            skipped.extend(problems)
            if not files:
                skipped.append({"file": f"{name}/", "reason": f"no image file in the class folder{left_out}"})
        if not files and classes is None:
            continue
        refs.extend(f"{name}/{f}" for f in files)
        labels.extend([len(kept)] * len(files))
        kept.append(name)
    return kept, refs, np.asarray(labels, dtype=np.int64), skipped


def read_split_file(path: Path, class_names: list[str]) -> Split:
    """A split from lines ``train|test <class>/<file> <class>``."""
    index = {n: i for i, n in enumerate(class_names)}
    parts = {"train": ([], []), "test": ([], [])}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"split file {path}: cannot be read ({exc})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3 or fields[0] not in parts:
            raise DatasetError(f"{path}:{number}: expected 'train|test <class>/<file> <class>', got {line!r}")
        if fields[2] not in index:
            raise DatasetError(f"{path}:{number}: class {fields[2]!r} is not a class folder of the dataset")
        parts[fields[0]][0].append(fields[1])
        parts[fields[0]][1].append(index[fields[2]])
    (train, train_labels), (test, test_labels) = parts["train"], parts["test"]
    return Split(Path(path).stem, tuple(train), np.asarray(train_labels, np.int64),
                 tuple(test), np.asarray(test_labels, np.int64))


class ImageFolderDataset(Dataset):
    """Class-per-folder images; see the module docstring for the three ways to split them."""

    def __init__(self, root, *, name: str = "folder", test_root=None, n_train: int = 30,
                 n_test: int | None = 50, n_splits: int = 1, seed: int = 0, split_file=None,
                 classes=None, exclude=()):
        self.root = Path(root)
        self.test_root = Path(test_root) if test_root else None
        for folder in (self.root, self.test_root):
            if folder is not None and not folder.is_dir():
                raise DatasetNotFound(f"dataset {name!r} not found at {folder}")
        names, refs, labels, skipped = list_class_folders(self.root, classes, exclude)
        super().__init__(name, names, skipped)
        self.refs, self.labels = refs, labels
        self.n_train, self.n_test, self.n_splits, self.seed = n_train, n_test, n_splits, seed
        self.split_file = Path(split_file) if split_file else None

    def splits(self) -> list[Split]:
        """The split file's split, or ``n_splits`` random per-class splits (a separate test tree: one split)."""
        if self.test_root is not None:
            _, test_refs, test_labels, skipped = list_class_folders(self.test_root, self.class_names)
            self.skipped.extend({"file": f"test:{s['file']}", "reason": s["reason"]} for s in skipped)
            keep, _ = per_class_random_split(self.labels, self.n_train, 0, self.seed)
            return [Split("train-test", tuple(self.refs[i] for i in keep), self.labels[keep],
                          tuple(f"test:{r}" for r in test_refs), test_labels)]
        result = []
        if self.split_file is not None:
            result.append(read_split_file(self.split_file, self.class_names))
        labels = self.labels
        seed = self.seed + len(result)
        while len(result) < self.n_splits:
            train, test = per_class_random_split(labels, self.n_train, self.n_test, seed)
            result.append(Split(f"seed{seed}", tuple(self.refs[i] for i in train), labels[train],
                                tuple(self.refs[i] for i in test), labels[test]))
            seed += 1
        return result

    def path(self, ref: str) -> Path:
        """The file of image ``ref`` (``class/file``; ``test:class/file`` in the test tree)."""
        if ref.startswith("test:"):
            return self.test_root / ref[5:]
        return self.root / ref

    def load(self, ref: str, mode: str = "gray", max_side: int | None = 300) -> np.ndarray:
        """Image ``ref`` decoded as float32 in [0, 1] (``mode`` gray or rgb), longest side at most ``max_side``."""
        return load_image(self.path(ref), mode, max_side)


CALTECH101_FOLDER = Path("caltech101") / "101_ObjectCategories"
CALTECH101_BACKGROUND = "BACKGROUND_Google"


def caltech101(data_root, *, include_background: bool = True, **kwargs) -> ImageFolderDataset:
    """Caltech-101 under ``data_root/caltech101/101_ObjectCategories`` (as the archive extracts)."""
    root = Path(data_root) / CALTECH101_FOLDER
    if not root.is_dir():
        raise DatasetNotFound(
            f"dataset 'caltech101' not found at {root}: run `classic download caltech101` "
            f"or pass --data-root DIR (or set CLASSIC_DATA) where DIR/{CALTECH101_FOLDER} exists")
    split_file = kwargs.pop("split_file", None)
    if split_file is not None and not Path(split_file).is_absolute():
        candidate = Path(data_root) / split_file
        split_file = candidate if candidate.exists() else Path(split_file)
        if not split_file.exists():
            raise DatasetNotFound(f"data.split_file {str(split_file)!r} not found under the data root ({candidate}) "
                                  f"nor from the current folder")
    exclude = () if include_background else (CALTECH101_BACKGROUND,)
    return ImageFolderDataset(root, name="caltech101", exclude=exclude, split_file=split_file, **kwargs)


class DigitsDataset(Dataset):
    """scikit-learn's 1,797 8 x 8 digits (values 0-16), bilinearly upsampled to ``size`` pixels."""

    def __init__(self, *, n_train: int = 100, n_test: int | None = None, n_splits: int = 1,
                 seed: int = 0, size: int = 32):
        from sklearn.datasets import load_digits
        digits = load_digits()
        super().__init__("digits", [str(d) for d in range(10)])
        self.images = digits.images.astype(np.float32) / 16
        self.labels = digits.target.astype(np.int64)
        self.n_train, self.n_test, self.n_splits, self.seed, self.size = n_train, n_test, n_splits, seed, size

    def splits(self) -> list[Split]:
        """``n_splits`` random per-class splits of the 1,797 digits."""
        result = []
        for seed in range(self.seed, self.seed + self.n_splits):
            train, test = per_class_random_split(self.labels, self.n_train, self.n_test, seed)
            result.append(Split(f"seed{seed}", tuple(f"digits/{i}" for i in train), self.labels[train],
                                tuple(f"digits/{i}" for i in test), self.labels[test]))
        return result

    def load(self, ref: str, mode: str = "gray", max_side: int | None = 300) -> np.ndarray:
        """Digit ``ref`` upsampled to ``size`` x ``size``, float32 in [0, 1] (gray, or gray repeated as RGB)."""
        from scipy.ndimage import zoom
        image = zoom(self.images[int(ref.split("/")[1])], self.size / 8, order=1, mode="nearest")
        image = np.clip(image, 0, 1).astype(np.float32)
        return np.repeat(image[..., None], 3, axis=2) if mode == "rgb" else image
