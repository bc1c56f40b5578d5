"""ctypes binding to VLFeat (Debian ``libvlfeat1``: ``libvl.so.1``, version 0.9.21).

Only what the parity tests and benchmarks call: ``vl_dsift``, ``vl_imsmooth``, ``vl_gmm``,
``vl_fisher``, ``vl_hog``, ``vl_lbp``.  ``vl_dsift``'s setters are inline functions in the header, so the filter struct is
mirrored here and its fields set directly before ``_vl_dsift_update_buffers``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

import numpy as np

VL_TYPE_FLOAT = 1
VL_FISHER_FLAG_IMPROVED = 0x1 | 0x2
VL_GMM_KMEANS, VL_GMM_RAND, VL_GMM_CUSTOM = 0, 1, 2
VL_HOG_VARIANT_DALAL_TRIGGS, VL_HOG_VARIANT_UOCTTI = 0, 1


class VLFeatUnavailable(RuntimeError):
    """Debian's ``libvlfeat1`` cannot be loaded (not installed, or a different build)."""
    pass


class _Keypoint(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("s", ctypes.c_double),
                ("norm", ctypes.c_double)]


class _Geometry(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in
                ("numBinT", "numBinX", "numBinY", "binSizeX", "binSizeY")]


class _DsiftFilter(ctypes.Structure):
    _fields_ = ([(name, ctypes.c_int) for name in
                 ("imWidth", "imHeight", "stepX", "stepY",
                  "boundMinX", "boundMinY", "boundMaxX", "boundMaxY")]
                + [("geom", _Geometry), ("useFlatWindow", ctypes.c_int), ("windowSize", ctypes.c_double),
                   ("numFrames", ctypes.c_int), ("descrSize", ctypes.c_int),
                   ("frames", ctypes.POINTER(_Keypoint)), ("descrs", ctypes.POINTER(ctypes.c_float)),
                   ("numBinAlloc", ctypes.c_int), ("numFrameAlloc", ctypes.c_int),
                   ("numGradAlloc", ctypes.c_int),
                   ("grads", ctypes.POINTER(ctypes.POINTER(ctypes.c_float))),
                   ("convTmp1", ctypes.POINTER(ctypes.c_float)), ("convTmp2", ctypes.POINTER(ctypes.c_float))])


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """Load ``libvl.so.1`` or raise :class:`VLFeatUnavailable` naming the install command."""
    for name in ("libvl.so.1", ctypes.util.find_library("vl")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        raise VLFeatUnavailable("VLFeat not found: apt-get install -y libvlfeat1")
    P, S, D = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_double
    lib.vl_dsift_new_basic.restype = ctypes.POINTER(_DsiftFilter)
    lib.vl_dsift_new_basic.argtypes = [ctypes.c_int] * 4
    lib.vl_dsift_process.argtypes = [ctypes.POINTER(_DsiftFilter), P]
    lib.vl_dsift_delete.argtypes = [ctypes.POINTER(_DsiftFilter)]
    lib._vl_dsift_update_buffers.argtypes = [ctypes.POINTER(_DsiftFilter)]
    lib.vl_imsmooth_f.argtypes = [P, S, P, S, S, S, D, D]
    lib.vl_gmm_new.restype = P
    lib.vl_gmm_new.argtypes = [ctypes.c_int, S, S]
    lib.vl_gmm_delete.argtypes = [P]
    lib.vl_gmm_cluster.restype = D
    lib.vl_gmm_cluster.argtypes = [P, P, S]
    lib.vl_gmm_set_max_num_iterations.argtypes = [P, S]
    lib.vl_gmm_set_num_repetitions.argtypes = [P, S]
    lib.vl_gmm_set_initialization.argtypes = [P, ctypes.c_int]
    lib.vl_gmm_set_verbosity.argtypes = [P, ctypes.c_int]
    lib.vl_gmm_set_covariance_lower_bound.argtypes = [P, D]
    for getter in ("vl_gmm_get_means", "vl_gmm_get_covariances", "vl_gmm_get_priors"):
        getattr(lib, getter).restype = P
        getattr(lib, getter).argtypes = [P]
    lib.vl_fisher_encode.restype = S
    lib.vl_fisher_encode.argtypes = [P, ctypes.c_int, P, S, S, P, P, P, S, ctypes.c_int]
    lib.vl_set_num_threads.argtypes = [S]
    lib.vl_hog_new.restype = P
    lib.vl_hog_new.argtypes = [ctypes.c_int, S, ctypes.c_int]
    lib.vl_hog_delete.argtypes = [P]
    lib.vl_hog_put_image.argtypes = [P, P, S, S, S, S]
    lib.vl_hog_extract.argtypes = [P, P]
    for getter in ("vl_hog_get_width", "vl_hog_get_height", "vl_hog_get_dimension"):
        getattr(lib, getter).restype = S
        getattr(lib, getter).argtypes = [P]
    lib.vl_lbp_new.restype = P
    lib.vl_lbp_new.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.vl_lbp_delete.argtypes = [P]
    lib.vl_lbp_get_dimension.restype = S
    lib.vl_lbp_get_dimension.argtypes = [P]
    lib.vl_lbp_process.argtypes = [P, P, P, S, S, S]
    return lib


def available() -> bool:
    """Whether VLFeat's shared library can be loaded here."""
    try:
        library()
        return True
    except VLFeatUnavailable:
        return False


def set_num_threads(n: int) -> None:
    """Threads VLFeat's own parallel loops use (the benchmarks set one on both sides)."""
    library().vl_set_num_threads(n)


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def imsmooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """``vl_imsmooth_f`` on a row-major float32 image."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape
    out = np.empty_like(image)
    library().vl_imsmooth_f(_ptr(out), w, _ptr(image), w, h, w, sigma, sigma)
    return out


def dsift(image: np.ndarray, bin_size: int, step: int, offset: tuple[int, int] = (0, 0),
          window_size: float = 1.5, flat_window: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``vl_dsift_process`` on a row-major float32 image: frames (x, y, norm) and descriptors."""
    lib = library()
    image = np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape
    handle = lib.vl_dsift_new_basic(w, h, step, bin_size)
    try:
        f = handle.contents
        f.boundMinX, f.boundMinY = offset
        f.boundMaxX, f.boundMaxY = w - 1, h - 1
        f.useFlatWindow = int(flat_window)
        f.windowSize = window_size
        lib._vl_dsift_update_buffers(handle)
        lib.vl_dsift_process(handle, _ptr(image))
        n, size = f.numFrames, f.descrSize
        descriptors = np.ctypeslib.as_array(f.descrs, shape=(n * size,)).reshape(n, size).copy()
        keypoints = np.ctypeslib.as_array(
            ctypes.cast(f.frames, ctypes.POINTER(ctypes.c_double)), shape=(n * 4,)).reshape(n, 4)
        frames = keypoints[:, [0, 1, 3]].astype(np.float32)
    finally:
        lib.vl_dsift_delete(handle)
    return frames, descriptors


def gmm(data: np.ndarray, n_components: int, max_iter: int, init_means=None, init_covariances=None,
        init_priors=None, covariance_lower_bound: float | None = None):
    """``vl_gmm_cluster``: returns (means, covariances, priors, log-likelihood)."""
    lib = library()
    data = np.ascontiguousarray(data, dtype=np.float32)
    n, d = data.shape
    handle = lib.vl_gmm_new(VL_TYPE_FLOAT, d, n_components)
    try:
        lib.vl_gmm_set_max_num_iterations(handle, max_iter)
        lib.vl_gmm_set_num_repetitions(handle, 1)
        lib.vl_gmm_set_verbosity(handle, 0)
        if covariance_lower_bound is not None:
            lib.vl_gmm_set_covariance_lower_bound(handle, covariance_lower_bound)
        if init_means is not None:
            keep = [np.ascontiguousarray(a, dtype=np.float32) for a in (init_means, init_covariances, init_priors)]
            for setter, a in zip(("vl_gmm_set_means", "vl_gmm_set_covariances", "vl_gmm_set_priors"), keep):
                getattr(lib, setter).argtypes = [ctypes.c_void_p, ctypes.c_void_p]
                getattr(lib, setter)(handle, _ptr(a))
            lib.vl_gmm_set_initialization(handle, VL_GMM_CUSTOM)
        loglik = lib.vl_gmm_cluster(handle, _ptr(data), n)
        out = []
        for getter, shape in (("vl_gmm_get_means", (n_components, d)),
                              ("vl_gmm_get_covariances", (n_components, d)),
                              ("vl_gmm_get_priors", (n_components,))):
            address = getattr(lib, getter)(handle)
            buf = (ctypes.c_float * int(np.prod(shape))).from_address(address)
            out.append(np.frombuffer(buf, dtype=np.float32).reshape(shape).copy())
    finally:
        lib.vl_gmm_delete(handle)
    return out[0], out[1], out[2], loglik


def fisher(data: np.ndarray, means: np.ndarray, covariances: np.ndarray, priors: np.ndarray,
           improved: bool = True) -> np.ndarray:
    """``vl_fisher_encode``: the 2 K D Fisher vector (means block, then variances block)."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    means = np.ascontiguousarray(means, dtype=np.float32)
    covariances = np.ascontiguousarray(covariances, dtype=np.float32)
    priors = np.ascontiguousarray(priors, dtype=np.float32)
    k, d = means.shape
    out = np.zeros(2 * k * d, dtype=np.float32)
    library().vl_fisher_encode(_ptr(out), VL_TYPE_FLOAT, _ptr(means), d, k, _ptr(covariances),
                               _ptr(priors), _ptr(data), data.shape[0],
                               VL_FISHER_FLAG_IMPROVED if improved else 0)
    return out


def hog(image: np.ndarray, cell_size: int, variant: int = VL_HOG_VARIANT_UOCTTI,
        n_orientations: int = 9) -> np.ndarray:
    """``vl_hog`` of a row-major (H, W) float32 image: (cells_y, cells_x, dimension), cells as VLFeat
    counts them, ``(size + cell_size // 2) // cell_size``."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape
    lib = library()
    hog = lib.vl_hog_new(variant, n_orientations, 0)
    try:
        lib.vl_hog_put_image(hog, _ptr(image), w, h, 1, cell_size)
        width, height, dimension = lib.vl_hog_get_width(hog), lib.vl_hog_get_height(hog), lib.vl_hog_get_dimension(hog)
        out = np.empty((dimension, height, width), dtype=np.float32)
        lib.vl_hog_extract(hog, _ptr(out))
    finally:
        lib.vl_hog_delete(hog)
    return out.transpose(1, 2, 0)


def lbp(image: np.ndarray, cell_size: int) -> np.ndarray:
    """``vl_lbp`` (uniform patterns) of a row-major (H, W) float32 image: (H // cell_size, W // cell_size,
    dimension) cell histograms."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape
    lib = library()
    handle = lib.vl_lbp_new(0, 0)                      # VlLbpUniform, not transposed
    try:
        dimension = lib.vl_lbp_get_dimension(handle)
        out = np.zeros((dimension, h // cell_size, w // cell_size), dtype=np.float32)
        lib.vl_lbp_process(handle, _ptr(out), _ptr(image), w, h, cell_size)
    finally:
        lib.vl_lbp_delete(handle)
    return out.transpose(1, 2, 0)
