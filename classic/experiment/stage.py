"""The stage contract: every stage is a cached, keyed, timed step that writes one cache folder.

A stage has a name and a version (``STAGE_VERSIONS``; bump it when the stage's output changes for
the same inputs).  Its **key** hashes its name, version, the configuration it depends on and the
keys of the stages it reads (:meth:`Stages.key`): changing ``svm.C`` changes only the svm key, and
every stage below a changed one gets a new key.  Stages that read images also hash each image's
size and modification time (:meth:`classic.data.Dataset.fingerprint`), so a replaced image reruns
what read it.

:meth:`Stages.run` is cache-or-compute: the stage's folder is returned as it is when done; otherwise
``compute(folder)`` fills it under the folder's lock (another process computing the same stage is
waited for) and ``done.json`` is written last.  Either way a record (seconds, peak memory, cached or
not, the cost of computing it from scratch) goes into the run's manifest.  A pass shared by several
splits claims the later splits' stages with :meth:`Stages.claim_pending`.
"""
from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from .cache import Cache, stable_hash
from .parallel import peak_memory_mb, reset_peak_memory

STAGE_VERSIONS = {"sample": 1, "pca": 1, "gmm": 2, "kmeans": 1, "pq": 1, "encode": 2, "kernel": 1, "svm": 3, "fusion": 2, "model": 1}


@dataclass(frozen=True)
class StageOutput:
    """A finished stage: its name, key and cache folder (what the stages that read it need)."""
    name: str
    key: str
    folder: Path


class Stages:
    """The stages of one run: keys, cache-or-compute under lock, and the records of what each cost."""

    def __init__(self, cache: Cache, log=None, records: list | None = None):
        self.cache = cache
        self.log = log or logging.getLogger(__name__).info
        self.records: list[dict] = [] if records is None else records       # appended to, one per stage

    @staticmethod
    def key(name: str, *parts) -> str:
        """The key of stage ``name`` with these inputs (configuration values, keys of stages read)."""
        return stable_hash(name, STAGE_VERSIONS[name], *parts)

    def run(self, name: str, key: str, split: str, compute) -> StageOutput:
        """The stage's output, computed by ``compute(folder)`` (which may return its workers' peak
        memory in MiB) unless done.  Computed only under the stage's lock: a process that finds another
        computing it waits, then finds it done."""
        start = time.perf_counter()
        reset_peak_memory()
        worker_peak = 0.0
        cached = self.cache.done(name, key)
        if not cached:
            lock = self.cache.lock(name, key)
            if not lock.acquire(blocking=False):
                self.log(f"  {name:<7} being computed by another process ({lock.holder() or 'unknown'}): waiting")
                lock.acquire()
            try:
                cached = self.cache.done(name, key)          # the other process may have finished it
                if not cached:
                    begin = time.perf_counter()
                    worker_peak = compute(self.cache.folder(name, key)) or 0.0
                    self.cache.finish(name, key, {"worker_peak_mb": worker_peak,
                                                  "seconds": time.perf_counter() - begin})
            finally:
                lock.release()
        seconds = time.perf_counter() - start
        # what the stage cost when it was computed (this run or an earlier one): a cached run still
        # reports the price of reproducing it from scratch
        computed = seconds if not cached else self.cache.info(name, key).get("seconds")
        record = {"stage": name, "split": split, "key": key, "cached": cached, "seconds": round(seconds, 3),
                  "compute_seconds": None if computed is None else round(computed, 3),
                  "peak_mb": round(peak_memory_mb(), 1), "worker_peak_mb": round(worker_peak, 1)}
        self.records.append(record)
        self.log(f"  {name:<7} {'cached' if cached else 'done  '} {seconds:8.1f} s   peak "
                 f"{record['peak_mb']:.0f} MiB (workers {worker_peak:.0f} MiB)")
        return StageOutput(name, key, self.cache.folder(name, key))

    def claim_pending(self, name: str, candidates: list, key_of, held: ExitStack) -> list:
        """Of the later splits' stages that a shared pass could compute with this one, those not done
        and not being computed by another process; their locks are held (in ``held``) until the pass
        is over.  One held elsewhere is left to its holder (waiting could deadlock two passes)."""
        claimed = []
        for candidate in candidates:
            key = key_of(candidate)
            if self.cache.done(name, key):
                continue
            lock = self.cache.lock(name, key)
            if lock.acquire(blocking=False):
                held.callback(lock.release)
                if not self.cache.done(name, key):
                    claimed.append(candidate)
        return claimed

    def finish_shared(self, name: str, key: str, computed_with: str, worker_peak: float) -> None:
        """Mark a later split's stage done by a shared pass (its time is counted in the first split's)."""
        self.cache.finish(name, key, {"seconds": 0.0, "computed_with": computed_with, "worker_peak_mb": worker_peak})
