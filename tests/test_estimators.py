"""scikit-learn's estimator contract: every estimator that takes arrays passes ``check_estimator``.

Each check is one test case (``parametrize_with_checks``); a check scikit-learn skips says why in
pytest's summary (here: pandas is not installed, and the array-API checks need SCIPY_ARRAY_API).
The instances are small versions of the defaults, as scikit-learn's own tests use: the checks fit
tiny data sets (a few dozen points, 2 to 10 features).
"""
import pickle

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from classic.encoding import PCA, DiagonalGMM, KMeans, ProductQuantizer
from classic.learn import ASGDLinearSVM, DualCoordinateSVM, LinearSVM, SGDLinearSVM

ESTIMATORS = [
    PCA(n_components=2),
    DiagonalGMM(n_components=2),
    KMeans(n_clusters=3),
    ProductQuantizer(1, bits=2),                    # one dimension per sub-vector: any feature count splits
    LinearSVM(n_jobs=1),
    SGDLinearSVM(),
    ASGDLinearSVM(),
    # lambda = 1e-2: the checks' 2-D blobs are far from the high-dimensional encodings the default
    # (1e-4) is for; at C = 1 / (lambda n) = 37 dual coordinate descent needs hundreds of passes there
    DualCoordinateSVM(lam=1e-2),
]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_contract(estimator, check):
    check(estimator)


def test_fitted_streaming_solvers_hold_arrays_only_and_pickle(tmp_path):
    from classic.experiment.store import RowFile
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    y = np.repeat(np.arange(3), 20)
    X[np.arange(60), y] += 3
    dual = RowFile(tmp_path / "dual.f32", (60, 3))
    for svm in (SGDLinearSVM(lam=1e-3, batch_size=16), ASGDLinearSVM(lam=1e-3), DualCoordinateSVM(lam=1e-2, batch_size=16)):
        fitted = svm.fit(X, y, dual=dual) if isinstance(svm, DualCoordinateSVM) else svm.fit(X, y)
        again = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
        assert all(isinstance(v, (np.ndarray, int, float, str, list, np.integer)) for k, v in vars(fitted).items()
                   if k.endswith("_")), vars(fitted).keys()
    dual.close()
