"""What a run records about where and how it ran: the machine, the library versions, every stage's
key, time and memory, and the files it left out (``manifest.json``)."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np

from .parallel import cpu_count


def hardware(backend: str) -> dict:
    """The machine, as a paper's table names it: CPU model and count, memory, GPU if one was used."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2 ** 30, 1)
    gpu = None
    if backend == "cupy":
        import cupy
        gpu = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
    return {"cpu": cpu, "cpu_count": cpu_count(), "memory_gib": memory, "gpu": gpu}


def manifest(config, stages, skipped, data_root, cache_root, without_descriptors=None, fingerprints=None) -> dict:
    """The run's ``manifest.json``: versions, machine, data and cache roots, the stage records, the
    files skipped and the images without descriptors (each with its reason)."""
    import joblib
    import PIL
    import scipy
    import sklearn
    import yaml

    from .. import __version__
    return {
        "classic": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                     "pillow": PIL.__version__, "joblib": joblib.__version__, "pyyaml": yaml.__version__},
        "data_root": str(data_root), "cache_root": str(cache_root), "backend": config.backend,
        "hardware": hardware(config.backend),
        "data_fingerprints": fingerprints or {},
        "stages": stages,
        "skipped_files": [{"file": f, "reason": r} for f, r in sorted(skipped.items())],
        "images_without_descriptors": [{"file": f, "reason": r} for f, r in sorted((without_descriptors or {}).items())],
    }
