"""Reading and writing files: atomic writes, temporary names that say who writes them, free-space
checks, and the formats classic uses (``.npy``/``.npz`` without pickles, strict JSON, text).

Every file classic writes (stage outputs, run folders, downloads) goes through :func:`atomic_write`:
written under a temporary name beside its destination, then renamed into place, so that a reader
sees the old file or the whole new one, never part of it.  The temporary name carries its writer's
process id and host (``.<name>.<pid>@<host>.<random>.tmp``), so that what a killed writer left behind
is recognised and removed (:func:`remove_stale_temporaries`) while a live writer's files are left
alone.  A write of a known large size is checked against the free space first, and a disk that
fills during a write raises :class:`InsufficientSpace`, naming the file, in human units.

Nothing classic writes or reads runs pickle: arrays are ``.npy``/``.npz`` loaded with
``allow_pickle=False``, everything else JSON, YAML or text.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

UMASK = os.umask(0)
os.umask(UMASK)
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
# .<name>.<pid>@<host>.<random>.tmp (atomic_write) and .extract-<pid>@<host>-<random> (downloads)
_TEMPORARY = re.compile(r"^\..+\.(\d+)@([A-Za-z0-9-]+)\.[A-Za-z0-9_]+\.tmp$|^\.extract-(\d+)@([A-Za-z0-9-]+)-[A-Za-z0-9_]+$")
_LEGACY_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")      # written before the owner was in the name
_FOREIGN_AGE = 24 * 3600          # seconds: a temporary of another host (or of old) older than this is stale


def owner_tag() -> str:
    """``<pid>@<host>``, the owner part of this process's temporary names."""
    return f"{os.getpid()}@{_HOST}"


class InsufficientSpace(OSError):
    """Not enough free disk space for a write; the message names the file, the sizes and what to do."""

    def __str__(self) -> str:
        return self.strerror


def format_bytes(n: float) -> str:
    """``n`` bytes in human units: 512 B, 3.4 KiB, 12.0 MiB, 1.25 GiB (never "0.0 GiB")."""
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:,.{2 if unit in ('GiB', 'TiB') else 1}f} {unit}"
    return f"{int(n)} B"


def check_space(folder: Path, need: int, what: str, advice: str = "free some space or set CLASSIC_CACHE") -> None:
    """Refuse (:class:`InsufficientSpace`) a write of ``need`` bytes that the disk under ``folder`` would
    not hold, with a margin of 1% of the disk or 64 MiB, whichever is smaller."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(folder)
    margin = min(64 << 20, usage.total // 100)
    if need + margin > usage.free:
        raise InsufficientSpace(errno.ENOSPC, f"{what} needs {format_bytes(need)} but only {format_bytes(usage.free)} "
                                              f"are free under {folder}: {advice}")


_LARGE = 1 << 20          # bytes: writes at least this large are checked against the free space first


def atomic_write(path: Path, write, size: int = 0) -> Path:
    """``write(file)`` to a temporary file beside ``path``, then renamed to ``path``: readers see the old
    file or the whole new one, never part of it.  ``size``: the bytes about to be written, checked
    against the free space first when large."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if size >= _LARGE:
        check_space(path.parent, size, str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~UMASK)         # mkstemp's 0600 would make every output private to its writer
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) and not isinstance(exc, InsufficientSpace):
            free = shutil.disk_usage(path.parent).free
            raise InsufficientSpace(exc.errno, f"the disk filled while writing {path} ({format_bytes(free)} free "
                                               f"now): free some space or set CLASSIC_CACHE") from None
        raise
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:         # another user's process
        return True
    return True


def remove_stale_temporaries(root, recursive: bool = True) -> list[Path]:
    """Remove, under ``root`` (or, not ``recursive``, directly in it), the temporary files and extraction
    folders whose writer is dead: this host's by process id, another host's (or ones named before the
    owner was part of the name) once a day old.  A live writer's are left alone.  Returns what was
    removed."""
    removed, now = [], time.time()
    for folder, dirs, files in os.walk(root) if recursive else [next(os.walk(root), (root, [], []))]:
        for name in files + dirs:
            match = _TEMPORARY.match(name)
            if match is None and not _LEGACY_TEMPORARY.match(name):
                continue
            path = Path(folder) / name
            pid, host = (match.group(1) or match.group(3), match.group(2) or match.group(4)) if match else (None, None)
            try:
                if host == _HOST:
                    stale = not _alive(int(pid))
                else:
                    stale = now - path.lstat().st_mtime > _FOREIGN_AGE
                if stale:
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                    removed.append(path)
            except FileNotFoundError:       # its writer finished (renamed it) or another process removed it
                pass
        dirs[:] = [d for d in dirs if not (_TEMPORARY.match(d) or _LEGACY_TEMPORARY.match(d))]
    return removed


# -- the formats -------------------------------------------------------------------------------------

def save_npy(path, array) -> Path:
    """An array to ``path`` (``.npy``, no pickle), atomically; returns the path."""
    array = np.asarray(array)
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False), array.nbytes)


def save_npz(path, **arrays) -> Path:
    """Named arrays to ``path`` (``.npz``, no pickle), atomically; returns the path."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    return atomic_write(path, lambda f: np.savez(f, **arrays), sum(a.nbytes for a in arrays.values()))


def json_text(obj) -> str:
    """``obj`` as strict JSON (RFC 8259): numpy scalars and arrays as numbers and lists, paths as
    strings, and NaN or infinity, which JSON cannot hold (Python would write a bare ``NaN``), as null."""
    return json.dumps(_plain(obj), indent=2, allow_nan=False)


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
    """``obj`` to ``path`` as strict JSON (:func:`json_text`), atomically; returns the path."""
    return atomic_write(path, lambda f: f.write(json_text(obj).encode()))


def save_text(path, text: str) -> Path:
    """``text`` to ``path`` (UTF-8), atomically; returns the path."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def load_npy(path) -> np.ndarray:
    """A ``.npy`` file as an array.  Object arrays are refused (``ValueError``): loading them runs pickle,
    which can execute code, and no file classic writes holds one."""
    return np.load(path, allow_pickle=False)


def load_npz(path) -> dict:
    """The arrays of a ``.npz`` file as a dict (no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_json(path):
    """A JSON file's content."""
    return json.loads(Path(path).read_text())


def read_at(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes of ``fd`` at ``offset`` (``os.pread`` where the system has it: POSIX)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def write_at(fd: int, data: bytes, offset: int) -> None:
    """``data`` into ``fd`` at ``offset`` (``os.pwrite`` where the system has it: POSIX)."""
    if hasattr(os, "pwrite"):
        os.pwrite(fd, data, offset)
    else:
        os.lseek(fd, offset, os.SEEK_SET)
        os.write(fd, data)
