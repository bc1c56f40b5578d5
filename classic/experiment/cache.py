"""The stage cache: content-addressed folders, written atomically.

A stage's key is the SHA-256 of (stage name, stage version, the stage's configuration, the keys of
the stages it reads).  Its outputs live in ``<cache>/<stage>/<key>/``; a stage counts as done when
that folder's ``done.json`` exists, which is the last file written, by rename.  Every file is
written under a temporary name and renamed into place, so a killed run leaves no half file that
looks complete, and the next run resumes from what was finished.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


_UMASK = os.umask(0)
os.umask(_UMASK)


def stable_hash(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def atomic_write(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)         # mkstemp's 0600 would make every output private to its writer
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_npy(path, array) -> Path:
    return atomic_write(path, lambda f: np.save(f, np.asarray(array), allow_pickle=False))


def save_npz(path, **arrays) -> Path:
    return atomic_write(path, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))


def json_text(obj, indent: int | None = 2) -> str:
    """``obj`` as strict JSON (RFC 8259): numpy scalars and arrays as numbers and lists, paths as
    strings, and NaN or infinity, which JSON cannot hold (Python would write a bare ``NaN``), as null."""
    return json.dumps(_plain(obj), indent=indent, allow_nan=False)


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_json(path, obj) -> Path:
    return atomic_write(path, lambda f: f.write(json_text(obj).encode()))


def save_text(path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def load_npz(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_json(path):
    return json.loads(Path(path).read_text())


class Cache:
    """``<root>/<stage>/<key>/`` folders; ``done(stage, key)`` after ``finish``."""

    def __init__(self, root):
        self.root = Path(root)

    def folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def done(self, stage: str, key: str) -> bool:
        return (self.folder(stage, key) / "done.json").exists()

    def finish(self, stage: str, key: str, info: dict | None = None) -> None:
        save_json(self.folder(stage, key) / "done.json", info or {})

    def info(self, stage: str, key: str) -> dict:
        return load_json(self.folder(stage, key) / "done.json")
