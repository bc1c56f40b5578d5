"""Array backend: the array module ``xp`` and its n-d image module ``ndi``.

Every numerical kernel in classic is written once against ``xp`` (NumPy's API) and ``ndi``
(``scipy.ndimage``'s API).  The backend is chosen once, at the edge (config ``backend:`` or
``--device``), never inside an algorithm:

* ``numpy``  -> (numpy, scipy.ndimage)
* ``cupy``   -> (cupy, cupyx.scipy.ndimage), for an NVIDIA GPU.

Kernels accept arrays of either kind and use :func:`array_module` to find the module that owns
their input, so the CPU tests run exactly the code that runs on the GPU.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np
import scipy.ndimage

BACKENDS = ("numpy", "cupy")


class BackendUnavailable(RuntimeError):
    """Raised when a backend is asked for but cannot be imported or has no device."""


def get_backend(name: str = "numpy") -> tuple[ModuleType, ModuleType]:
    """Return ``(xp, ndi)`` for the backend ``name`` ("numpy" or "cupy")."""
    if name == "numpy":
        return np, scipy.ndimage
    if name == "cupy":
        try:
            import cupy
            import cupyx.scipy.ndimage
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise BackendUnavailable(
                "backend 'cupy' needs CuPy: pip install 'classic[gpu]' on a machine with CUDA") from exc
        try:
            cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # pragma: no cover - depends on the machine
            raise BackendUnavailable(f"backend 'cupy': no CUDA device available ({exc})") from exc
        return cupy, cupyx.scipy.ndimage
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def array_module(*arrays) -> ModuleType:
    """The array module owning ``arrays`` (CuPy if any of them is a CuPy array, else NumPy)."""
    for a in arrays:
        module = type(a).__module__
        if module.startswith("cupy"):
            import cupy
            return cupy
    return np


def ndimage_module(xp: ModuleType) -> ModuleType:
    """The ``scipy.ndimage``-compatible module that works on ``xp`` arrays."""
    if xp is np:
        return scipy.ndimage
    import cupyx.scipy.ndimage
    return cupyx.scipy.ndimage


def to_numpy(a) -> np.ndarray:
    """A NumPy copy (or view) of an ``xp`` array, for I/O and reporting."""
    if isinstance(a, np.ndarray):
        return a
    get = getattr(a, "get", None)
    return get() if get is not None else np.asarray(a)


def scatter_max(out, index, values) -> None:
    """``out[index[i]] = max(out[index[i]], values[i])`` for every i, repeated indices included
    (``numpy.maximum.at``; ``cupyx.scatter_max`` on the GPU, where ufuncs have no ``at``)."""
    if isinstance(out, np.ndarray):
        np.maximum.at(out, index, values)
        return
    import cupyx
    cupyx.scatter_max(out, index, values)
