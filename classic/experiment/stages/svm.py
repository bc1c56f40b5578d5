"""Stage ``svm``: the one-vs-rest linear SVMs of a split and their scores on its test images.

* ``svm.solver: kernel`` — LIBLINEAR on the Gram matrix (:class:`classic.learn.LinearSVM`), C fixed or
  chosen by cross-validation on the training images (:func:`classic.learn.choose_C`); the model is
  kept in kernel form (dual coefficients over the training rows);
* ``sgd`` / ``asgd`` / ``dcd`` — streaming solvers reading the training rows from the store batch by
  batch (``svm.lam: null`` is :math:`1 / (C n)`, LIBLINEAR's problem for ``svm.C``); the model is the
  weight vectors (float16) and biases.  DCD's dual variables live in a file beside the
  model during the fit, so memory does not grow with the number of training images.

Every solver writes ``scores.npy`` (test images x classes, -inf for a class unseen in training),
``test_labels.npy``, ``index.npz`` and ``svm.json`` (the solver, C, what chose it).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ...backend import to_numpy
from ...io import load_npy, load_npz, save_json, save_npy, save_npz
from ...learn import ASGDLinearSVM, DualCoordinateSVM, LinearSVM, SGDLinearSVM, choose_C, scores_for_classes
from ..context import RunContext
from ..stage import StageOutput
from ..store import ConcatenatedStore, FeatureStore, RowFile


# the keys of the svm section that only some solvers read, and those solvers (the other keys are read
# by every solver, or by the kernel solver, whose keys predate the others'): a setting of another
# solver leaves a key unchanged
SOLVER_KEYS = {"asgd_eta0": ("asgd",), "asgd_average_start": ("asgd",), "asgd_centre": ("asgd",),
               "asgd_implicit": ("asgd",),
               "asgd_warmup": ("asgd",), "balance": ("sgd", "asgd", "dcd")}

# options added after runs were cached, left out of the identity at their neutral value so that those
# runs keep their keys
NEUTRAL = {"asgd_warmup": 0.0, "asgd_implicit": False}


def solver_identity(s) -> dict:
    """What the svm stage's results depend on in the ``svm`` section ``s``."""
    return {k: v for k, v in asdict(s).items()
            if s.solver in SOLVER_KEYS.get(k, (s.solver,)) and not (k in NEUTRAL and v == NEUTRAL[k])}


def regularisation(s, n_train: int) -> float:
    """The streaming solvers' lambda: ``svm.lam``, or 1 / (C n) (LIBLINEAR's C) where it is null."""
    return s.lam if s.lam is not None else 1.0 / (s.C * n_train)


def kernel_form(ctx: RunContext, kernel: StageOutput, split, n_classes: int) -> StageOutput:
    """LIBLINEAR on the split's Gram matrix."""
    cfg, s = ctx.config, ctx.config.svm
    key = ctx.stages.key("svm", solver_identity(s), kernel.key, split.train_labels.tolist(), split.test_labels.tolist())

    def compute(folder: Path):
        gram = load_npy(kernel.folder / "gram.npy")
        index = load_npz(kernel.folder / "index.npz")
        labels = np.concatenate([split.train_labels, split.test_labels])
        t = len(index["train"])
        y_train, k_train = labels[index["train"]], gram[:t]
        C, cv = s.C, {}
        if s.C_grid:
            C, cv = choose_C(k_train, y_train, s.C_grid, n_classes=n_classes, cv_folds=s.cv_folds, loss=s.loss,
                             tol=s.tol, max_iter=s.max_iter, seed=cfg.seed, n_jobs=cfg.run.n_jobs)
        svm = LinearSVM(C=C, loss=s.loss, tol=s.tol, max_iter=s.max_iter, n_jobs=cfg.run.n_jobs).fit_kernel(k_train,
                                                                                                         y_train)
        test_rows = index["everything"] >= len(split.train)
        save_npy(folder / "scores.npy", scores_for_classes(svm.decision_function_kernel(gram[test_rows]), svm.classes_,
                                                           n_classes))
        save_npy(folder / "test_labels.npy", labels[index["everything"][test_rows]])
        save_npz(folder / "index.npz", **index)
        # the model in kernel form: scores of a new vector x are dual_coef @ (X_train[train] x) + intercept
        save_npz(folder / "model.npz", dual_coef=svm.dual_coef_, intercept=svm.intercept_, classes=svm.classes_)
        save_json(folder / "svm.json", {"solver": "kernel", "C": C, "cv": cv})
    return ctx.stages.run("svm", key, split.name, compute)


def streaming(ctx: RunContext, encoded, split, n_classes: int, weights=None, names=None) -> StageOutput:
    """All one-vs-rest SVMs by mini-batch SGD, averaged SGD or dual coordinate descent, streaming from
    the store; ``encoded`` a list of several channels' stores with their early-fusion ``weights``
    (normalised; their square roots scale each store's rows)."""
    cfg, s = ctx.config, ctx.config.svm
    encoded = encoded if isinstance(encoded, list) else [encoded]
    keys = encoded[0].key if len(encoded) == 1 else [e.key for e in encoded] + [list(map(float, weights))]
    key = ctx.stages.key("svm", solver_identity(s), keys, cfg.backend, split.train_labels.tolist(),
                         split.test_labels.tolist())
    n_train = len(split.train)

    def compute(folder: Path):
        stores = [FeatureStore(e.folder, n_train + len(split.test)) for e in encoded]
        store = stores[0] if len(stores) == 1 else ConcatenatedStore(stores, np.sqrt(weights))
        labels = np.concatenate([split.train_labels, split.test_labels])
        train, everything = store.train_and_test_rows(n_train)
        test = everything[len(train):]
        common = dict(batch_size=s.batch_size, max_epochs=s.max_epochs, patience=s.patience,
                      validation_fraction=s.validation_fraction, balance=s.balance, loss=s.loss, backend=cfg.backend,
                      seed=cfg.seed)
        lam = regularisation(s, len(train))
        extra = {}
        if s.solver == "sgd":
            svm = SGDLinearSVM(lam, eta0=s.sgd_eta0, average=s.sgd_average, **common).fit(store.subset(train),
                                                                                          labels[train])
        elif s.solver == "asgd":
            svm = ASGDLinearSVM(lam, eta0="auto" if s.asgd_eta0 is None else s.asgd_eta0,
                                average_start=s.asgd_average_start, warmup=s.asgd_warmup,
                                implicit=s.asgd_implicit, centre=s.asgd_centre,
                                **common).fit(store.subset(train), labels[train])
            extra = {"eta0": svm.eta0_}
        else:
            folder.mkdir(parents=True, exist_ok=True)
            dual = RowFile(folder / "dual.f32", (len(train), len(np.unique(labels[train]))))
            try:
                svm = DualCoordinateSVM(lam, tol=s.dcd_tol, **common).fit(store.subset(train), labels[train],
                                                                            dual=dual)
            finally:
                dual.close()
                dual.path.unlink()
        save_npy(folder / "scores.npy", scores_for_classes(svm.decision_function(store.subset(test)), svm.classes_,
                                                           n_classes))
        save_npy(folder / "test_labels.npy", labels[test])
        save_npz(folder / "index.npz", train=train, everything=everything)
        save_npz(folder / "model.npz", coef=to_numpy(svm.coef_).astype(np.float16),
                 intercept=to_numpy(svm.intercept_), classes=svm.classes_)
        if len(stores) > 1:          # no channel has an SVM of its own: the fusion is of fixed weights
            extra["fusion"] = {"method": "early", "channels": list(names), "weights": [float(w) for w in weights],
                               "chosen_by": "fusion.weights (fixed: streaming solvers do not cross-validate)",
                               "cv_accuracy": None, "per_channel": {}}
        save_json(folder / "svm.json", {"solver": s.solver, "C": None, "lam": lam, **extra, "best_epoch": svm.best_epoch_,
                                        "selected_by": svm.selected_by_, "history": svm.history_})
    return ctx.stages.run("svm", key, split.name, compute)
