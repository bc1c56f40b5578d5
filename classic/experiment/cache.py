"""The stage cache: content-addressed folders, written atomically, shared safely between processes.

A stage's key is the SHA-256 of (stage name, stage version, the stage's configuration, the keys of
the stages it reads).  Its outputs live in ``<cache>/<stage>/<key>/``; a stage counts as done when
that folder's ``done.json`` exists, which is the last file written, by rename.  Every file is
written under a temporary name and renamed into place, so a killed run leaves no half file that
looks complete, and the next run resumes from what was finished.

Several runs may share one cache at once (two terminals, a sweep beside a run, cluster jobs on a
shared disk): a process computes a stage only while it holds the stage folder's lock
(:class:`StageLock`, an ``flock`` that the operating system releases when the holder dies, even by
SIGKILL); another process that needs the same stage waits for it and then finds it done.  Temporary
names carry their writer's process id and host, so that the files a killed writer left behind are
recognised and removed (:func:`remove_stale_temporaries`) while a live writer's are left alone.

Before a large array is written the free space is checked (:class:`InsufficientSpace`, in human
units), and a disk that fills during a write raises the same error, naming the file; the partial
temporary file is removed.
"""
from __future__ import annotations

import errno
import hashlib
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

try:
    import fcntl
except ImportError:         # not a POSIX system: no locking between processes (one run per cache)
    fcntl = None


_UMASK = os.umask(0)
os.umask(_UMASK)
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


def stable_hash(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


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
    os.chmod(tmp, 0o666 & ~_UMASK)         # mkstemp's 0600 would make every output private to its writer
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


def save_npy(path, array) -> Path:
    array = np.asarray(array)
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False), array.nbytes)


def save_npz(path, **arrays) -> Path:
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    return atomic_write(path, lambda f: np.savez(f, **arrays), sum(a.nbytes for a in arrays.values()))


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:         # another user's process
        return True
    return True


def remove_stale_temporaries(root) -> list[Path]:
    """Remove, under ``root``, the temporary files and extraction folders whose writer is dead: this
    host's by process id, another host's (or ones named before the owner was part of the name) once a
    day old.  A live writer's are left alone.  Returns what was removed."""
    removed, now = [], time.time()
    for folder, dirs, files in os.walk(root):
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


class StageLock:
    """An exclusive claim on one stage folder between processes (``flock`` on ``<folder>/.lock``).

    The operating system releases it when its holder exits or is killed, so a crashed run never leaves
    a stage locked; the holder's ``pid@host`` is written in the file for whoever waits.  (On a system
    without ``fcntl`` it claims nothing.)
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / ".lock"
        self._fd = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock (waiting for it if ``blocking``); False if it is held and not ``blocking``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner_tag().encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> str:
        """Who holds (or last held) the lock: ``pid@host``, or "" if unknown."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)          # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class Cache:
    """``<root>/<stage>/<key>/`` folders; ``done(stage, key)`` after ``finish``; ``lock(stage, key)``
    while computing."""

    def __init__(self, root):
        self.root = Path(root)

    def folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def lock(self, stage: str, key: str) -> StageLock:
        return StageLock(self.folder(stage, key))

    def done(self, stage: str, key: str) -> bool:
        return (self.folder(stage, key) / "done.json").exists()

    def finish(self, stage: str, key: str, info: dict | None = None) -> None:
        save_json(self.folder(stage, key) / "done.json", info or {})

    def info(self, stage: str, key: str) -> dict:
        return load_json(self.folder(stage, key) / "done.json")
