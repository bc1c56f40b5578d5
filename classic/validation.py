"""Checks of what estimators and kernels are given, on either array backend.

scikit-learn's ``validate_data`` checks NumPy input (type, dimensions, finiteness, the number of
features seen in ``fit``); CuPy arrays, which it would copy to the host, get the same checks here
on the device.  Images are checked separately (:func:`check_image`): a gray or RGB array, ``uint8``
(scaled to [0, 1]) or floating point in [0, 1].
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from .backend import array_module

FLOATS = (np.float32, np.float64)


def check_array(estimator, X, *, reset: bool, dtype=FLOATS, min_samples: int = 1, y="no_validation"):
    """``X`` (and ``y``) checked for ``estimator``: a 2-D array of finite numbers with at least
    ``min_samples`` rows, of one of the ``dtype`` types (else converted to the first); on ``reset``
    (``fit``) its number of columns is recorded as ``n_features_in_``, otherwise it must match.  With
    ``y`` (a supervised fit), returns ``(X, y)``; ``y=None`` there is refused.

    NumPy input (or anything array-like) goes through scikit-learn's ``validate_data``; a CuPy array
    stays on its device and gets the same checks there.
    """
    xp = array_module(X)
    if xp is np:
        kwargs = dict(dtype=list(dtype), ensure_min_samples=min_samples)
        return validate_data(estimator, X, y, reset=reset, **kwargs)
    name = type(estimator).__name__
    if X.ndim != 2:
        raise ValueError(f"{name} expects a 2-D array (samples x features), got {X.ndim} dimension(s)")
    if X.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} sample(s), got {X.shape[0]}")
    if X.dtype not in [np.dtype(d) for d in dtype]:
        X = X.astype(dtype[0])
    if not bool(xp.isfinite(X).all()):
        raise ValueError(f"{name}: input contains NaN or infinity")
    check_feature_count(estimator, X.shape[1], reset)
    return check_target(estimator, X, y)


def check_feature_count(estimator, n_features: int, reset: bool) -> None:
    """Record (``reset``) or check the number of features, as scikit-learn's ``n_features_in_``."""
    if reset:
        estimator.n_features_in_ = int(n_features)
    elif n_features != estimator.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input")


def check_target(estimator, X, y):
    """``X``, or ``(X, y)`` for a supervised fit (y given as "no_validation" when there is none); a
    missing y is refused in scikit-learn's words."""
    if isinstance(y, str) and y == "no_validation":
        return X
    if y is None:
        raise ValueError(f"This {type(estimator).__name__} estimator requires y to be passed, but the target y is None.")
    return X, y


def check_image(image, mode: str, name: str):
    """An image as float32 in [0, 1] on its backend: (H, W) for ``mode="gray"``, (H, W, 3) for ``"rgb"``.

    ``uint8`` images are scaled by 1/255; floating-point images must already lie in [0, 1] (a
    0-255 float image would otherwise be taken as 255 times brighter); a wrong number of channels is
    refused with the conversion to make.
    """
    xp = array_module(image)
    if not hasattr(image, "ndim"):
        image = np.asarray(image)
    wanted = 2 if mode == "gray" else 3
    shape = " x ".join(map(str, image.shape))
    if image.ndim != wanted or (mode == "rgb" and image.shape[2] != 3):
        if mode == "gray":
            raise ValueError(f"{name} takes gray (H, W) images, got {shape}: convert colour images to gray first "
                             f"(classic.data.load_image(path, 'gray'), or average the channels)")
        raise ValueError(f"{name} takes RGB (H, W, 3) images, got {shape}")
    if image.dtype == np.uint8:
        return image.astype(xp.float32) / xp.float32(255)
    if image.dtype.kind != "f":
        raise ValueError(f"{name} takes uint8 or floating-point images in [0, 1], got {image.dtype}")
    image = image.astype(xp.float32, copy=False)
    if image.size:
        low, high = float(image.min()), float(image.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"{name}: the image contains NaN or infinity")
        if low < 0 or high > 1:
            raise ValueError(f"{name} takes floating-point images in [0, 1], got values from {low:g} to {high:g}: "
                             f"divide 0-255 images by 255 (or pass them as uint8)")
    return image


__all__ = ["check_array", "check_feature_count", "check_image", "check_is_fitted", "check_target"]
