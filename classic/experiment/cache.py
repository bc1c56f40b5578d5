"""The stage cache: content-addressed folders, written atomically, shared safely between processes.

A stage's key is the SHA-256 of (stage name, stage version, the stage's configuration, the keys of
the stages it reads).  Its outputs live in ``<cache>/<stage>/<key>/``; a stage counts as done when
that folder's ``done.json`` exists, which is the last file written, by rename.  Every file is
written under a temporary name and renamed into place, so a killed run leaves no half file that
looks complete, and the next run resumes from what was finished.

Several runs may share one cache at once (two terminals, a sweep beside a run, cluster jobs on a
shared disk): a process computes a stage only while it holds the stage folder's lock
(:class:`StageLock`, an ``flock`` that the operating system releases when the holder dies, even by
SIGKILL); another process that needs the same stage waits for it and then finds it done.

Files are written with :mod:`classic.io` (atomic, free space checked).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..io import UMASK, load_json, owner_tag, save_json, write_at

try:
    import fcntl
except ImportError:         # not a POSIX system: no locking between processes (one run per cache)
    fcntl = None


def stable_hash(*parts) -> str:
    """A 20-hex-digit SHA-256 of ``parts`` as canonical JSON (sorted keys): the same inputs give the same key on every machine."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~UMASK)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
        os.ftruncate(fd, 0)
        write_at(fd, owner_tag().encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> str:
        """Who holds (or last held) the lock: ``pid@host``, or "" if unknown."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def release(self) -> None:
        """Give the lock up (closing the file releases the flock)."""
        if self._fd is not None:
            os.close(self._fd)          # closing the descriptor releases the flock
            self._fd = None


class Cache:
    """``<root>/<stage>/<key>/`` folders; ``done(stage, key)`` after ``finish``; ``lock(stage, key)``
    while computing."""

    def __init__(self, root):
        self.root = Path(root)

    def folder(self, stage: str, key: str) -> Path:
        """The folder of stage ``stage`` with key ``key``."""
        return self.root / stage / key

    def lock(self, stage: str, key: str) -> StageLock:
        """The lock of that folder (:class:`StageLock`)."""
        return StageLock(self.folder(stage, key))

    def done(self, stage: str, key: str) -> bool:
        """Whether the stage is finished (its ``done.json`` exists)."""
        return (self.folder(stage, key) / "done.json").exists()

    def finish(self, stage: str, key: str, info: dict | None = None) -> None:
        """Mark the stage finished: ``done.json`` (with ``info``), written last."""
        save_json(self.folder(stage, key) / "done.json", info or {})

    def info(self, stage: str, key: str) -> dict:
        """What ``done.json`` of a finished stage records (time, workers' peak memory)."""
        return load_json(self.folder(stage, key) / "done.json")
