"""Running image chunks over worker processes (joblib) or a Dask cluster, with a progress bar and
memory accounting.

The same task functions run either way: locally through joblib, or on a Dask distributed cluster
(``run.cluster: "local:N"`` starts a LocalCluster of N single-threaded worker processes,
``"tcp://host:8786"`` joins a running scheduler).  Tasks are pure functions of their arguments whose
outputs (shards) are written atomically under names fixed in advance, so when Dask loses a worker and
recomputes its chunks, the result is the same file; a local and a cluster run give identical results.

With the GPU backend the per-image work runs in this process instead (one device, one owner):
:func:`run_overlapped` has CPU threads decode the next chunks while the main thread computes on
the current one.

Each worker runs with its BLAS thread pool capped at one thread when there are several workers, so
that workers x threads never exceeds the cores.  Peak resident memory is measured per stage: the
kernel's high-water mark is reset before the stage (Linux ``/proc/self/clear_refs``) and read from
``/proc/self/status`` after; workers report their own high-water mark for each chunk.

Every process of a run keeps the memory it frees for its next arrays (:func:`keep_freed_memory`).
"""
from __future__ import annotations

import ctypes
import os
import sys
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from itertools import islice

from joblib import Parallel, delayed, effective_n_jobs
from threadpoolctl import threadpool_limits
from tqdm import tqdm


# glibc malloc's defaults hand large blocks back to the system on free (mmap above ~128 KiB-32 MiB,
# heap trimmed above twice that); the next array of that size then faults in every page afresh, which
# costs more than using it (a fresh 100 MB array fills ~13x slower than a reused one).  Per-image
# arrays (descriptors, posteriors) below 64 MiB stay in the heap, and up to 512 MiB of freed heap is
# kept: 3.5x fewer page faults and system time for Caltech images described and encoded (measurements
# in benchmarks/README.md, "Design measurements").  Larger arrays (a Gram matrix) still go back on free.
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 64 << 20, 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3       # mallopt's parameter numbers (malloc.h)
_memory_kept = False
# loky replaces a worker whose resident memory grew by 300 MB since its first task, taking that for a
# leak, and warns.  Workers keep freed memory on purpose, so when a stage with larger arrays follows one
# with smaller (sample, then encode), each worker is replaced once, which costs a second or two: expected,
# not a fault to report.  (A real leak would show in the worker peak each stage reports.)
warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given to the executor",
                        category=UserWarning)


def keep_freed_memory() -> None:
    """Have this process's malloc reuse freed memory instead of returning it (glibc; elsewhere a no-op)."""
    global _memory_kept
    if _memory_kept:
        return
    _memory_kept = True
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    except (OSError, AttributeError, TypeError):       # not glibc (Windows: CDLL(None) is a TypeError): its allocator's own policy stands
        pass


def reset_peak_memory() -> None:
    """Start a new peak-memory measurement for this process (Linux: clear_refs; elsewhere a no-op)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb() -> float:
    """High-water mark of this process's resident memory since the last reset, in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource             # Unix only; Linux answered above, macOS here
    except ImportError:             # Windows: no peak to read without extra packages
        return 0.0
    # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _call(function, args, single_thread: bool):
    keep_freed_memory()
    reset_peak_memory()
    with threadpool_limits(1) if single_thread else nullcontext():
        result = function(*args)
    return result, peak_memory_mb()


def run_chunks(function, tasks, n_jobs: int = -1, desc: str = "", progress: bool = True, client=None):
    """``[function(*task) for task in tasks]`` over worker processes (or the Dask ``client``'s cluster);
    returns (results, worker peak MiB)."""
    tasks = list(tasks)
    n_jobs = min(effective_n_jobs(n_jobs), max(1, len(tasks)))
    results, peak = [None] * len(tasks), 0.0
    bar = tqdm(total=len(tasks), desc=desc, unit="chunk", disable=not progress, leave=False)
    if client is not None:
        from distributed import as_completed
        futures = [client.submit(_indexed, i, function, task, pure=False) for i, task in enumerate(tasks)]
        outputs = (future.result() for future in as_completed(futures))
    elif n_jobs == 1:
        outputs = ((i, _call(function, task, False)) for i, task in enumerate(tasks))
    else:
        outputs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_indexed)(i, function, task) for i, task in enumerate(tasks))
    for i, (result, worker_peak) in outputs:
        results[i] = result
        peak = max(peak, worker_peak)
        bar.update(1)
    bar.close()
    return results, peak


def run_overlapped(prepare, compute, tasks, n_threads: int = 2, ahead: int = 2, desc: str = "",
                   progress: bool = True):
    """``[compute(task, prepare(task)) for task in tasks]``, with ``prepare`` (decoding: CPU-bound C code
    that releases the GIL) running on ``n_threads`` threads up to ``ahead`` tasks in advance, so that
    ``compute`` (encoding on the GPU, in this thread) never waits for images once the pipe is full.

    Returns (results, peak MiB of this process); ``compute`` runs in task order.
    """
    tasks = list(tasks)
    results = []
    bar = tqdm(total=len(tasks), desc=desc, unit="chunk", disable=not progress, leave=False)
    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        upcoming = iter(tasks)
        pending = deque((task, pool.submit(prepare, task)) for task in islice(upcoming, ahead + 1))
        while pending:
            task, future = pending.popleft()
            pending.extend((following, pool.submit(prepare, following)) for following in islice(upcoming, 1))
            results.append(compute(task, future.result()))
            bar.update(1)
    bar.close()
    return results, peak_memory_mb()


def _indexed(i, function, task):
    return i, _call(function, task, True)


def cpu_count() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def dask_client(cluster: str):
    """A Dask client for ``"local:N"`` (a LocalCluster of N single-threaded processes) or a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise RuntimeError("run.cluster needs Dask: pip install 'classic[dist]'") from exc
    if cluster.startswith("local:"):
        workers = int(cluster.split(":", 1)[1])
        return Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
    return Client(cluster)
