"""The array backend: numpy, and a clear error where CuPy is missing."""
import importlib.util

import numpy as np
import pytest

from classic.backend import BackendUnavailable, array_module, get_backend, to_numpy


def test_numpy_backend_and_missing_cupy():
    xp, ndi = get_backend("numpy")
    a = xp.ones(3)
    assert array_module(a) is np and to_numpy(a) is a
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("torch")
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(BackendUnavailable, match="CuPy"):
            get_backend("cupy")
