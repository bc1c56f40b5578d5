"""The streaming SVM solvers against LIBLINEAR on one real feature store, pass by pass: why SGD
falls short, and what averaged SGD needs to close the gap.

    .venv/bin/python benchmarks/solvers.py RUN --data-root ../shared/datasets [--only NAME ...] [--seeds 0 1 2]
        [--json OUT]

RUN is a finished single-channel run folder (``classic run``, any solver) whose encode stage is in the
cache; its first split is used.  Each variant is fitted on the split's training rows, streaming from
the store; after every pass the script records the test mean class accuracy and the training
objective of LIBLINEAR's problem for the run's C (passes 1, 2, 3, 5, 10, 20, 30 and the last) (lambda = 1 / (C n), no class weights, squared
hinge, bias regularised: the problem whose optimum the kernel solver finds).  The variants remove,
one at a time, the differences between today's SGD and LIBLINEAR (a different objective, a held-out
slice, few and large steps, the step size), then averaged SGD.  With ``--seeds``, each variant is
fitted once per seed (the batch order; the accuracy at a given objective moves with it) and the mean
and standard deviation over the seeds are printed.  Printed as a table; ``--json`` writes every pass.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# name -> (solver, constructor keywords; lam "liblinear" = 1 / (C n)), in the order of the diagnosis
VARIANTS = {
    "sgd: today's defaults": ("sgd", dict(lam=1e-5, balance="equal", validation_fraction=0.1, batch_size=256,
                                          max_epochs=30, patience=5, eta0=1.0)),
    "sgd: LIBLINEAR's objective": ("sgd", dict(lam="liblinear", balance="none", validation_fraction=0.1,
                                               batch_size=256, max_epochs=30, patience=5, eta0=1.0)),
    "sgd: + all training rows": ("sgd", dict(lam="liblinear", balance="none", validation_fraction=0.0,
                                             batch_size=256, max_epochs=30, eta0=1.0)),
    "sgd: + batches of 8": ("sgd", dict(lam="liblinear", balance="none", validation_fraction=0.0, batch_size=8,
                                        max_epochs=10, eta0=1.0)),
    "asgd: batches of 8, eta0 calibrated": ("asgd", dict(lam="liblinear", balance="none", batch_size=8,
                                                         max_epochs=10)),
    "asgd: eta0 = 1 (the calibration sample's best)": ("asgd", dict(lam="liblinear", balance="none", batch_size=8,
                                                                     max_epochs=10, eta0=1.0)),
    "asgd: eta0 = 4 (diverges on the quick store)": ("asgd", dict(lam="liblinear", balance="none", batch_size=8,
                                                                    max_epochs=10, eta0=4.0)),
    "asgd: batches of 4, eta0 calibrated": ("asgd", dict(lam="liblinear", balance="none", batch_size=4,
                                                         max_epochs=10)),
    "asgd: + class weights (equal)": ("asgd", dict(lam="liblinear", balance="equal", batch_size=8, max_epochs=10)),
    "asgd: hinge loss": ("asgd", dict(lam="liblinear", balance="none", batch_size=8, max_epochs=10, loss="hinge")),
    "asgd: rows centred, the bias its own step": ("asgd", dict(lam="liblinear", balance="none", batch_size=8,
                                                               max_epochs=10, centre=True)),
    "asgd: centred, eta0 = 0.5": ("asgd", dict(lam="liblinear", balance="none", batch_size=8, max_epochs=10,
                                               eta0=0.5, centre=True)),
    "asgd: centred, eta0 = 0.5, averaging the last 5 passes": ("asgd", dict(lam="liblinear", balance="none",
                                                                            batch_size=8, max_epochs=10, eta0=0.5,
                                                                            centre=True, average_start=5)),
    "asgd: centred, eta0 = 0.25": ("asgd", dict(lam="liblinear", balance="none", batch_size=8, max_epochs=10,
                                                eta0=0.25, centre=True)),
    "asgd: centred, eta0 = 1, warm-up over 2 passes": ("asgd", dict(lam="liblinear", balance="none", batch_size=8,
                                                                     max_epochs=10, eta0=1.0, centre=True, warmup=2.0)),
    "asgd: implicit steps, eta0 = 4": ("asgd", dict(lam="liblinear", balance="none", batch_size=8, max_epochs=10,
                                                    eta0=4.0, implicit=True)),
    "asgd: implicit steps, eta0 calibrated": ("asgd", dict(lam="liblinear", balance="none", batch_size=8,
                                                           max_epochs=10, implicit=True)),
    "dcd: LIBLINEAR's objective": ("dcd", dict(lam="liblinear", balance="none", validation_fraction=0.0,
                                               max_epochs=10, tol=1e-3)),
}


def load_split(run: Path, data_root: Path):
    """(store, train rows, test rows, labels of all rows, C, kernel accuracy) of the run's first split."""
    from classic.experiment.build import build_dataset
    from classic.experiment.config import load_config
    from classic.experiment.store import FeatureStore
    config = load_config(run / "config.yaml")
    manifest = json.loads((run / "manifest.json").read_text())
    cache = Path(manifest["cache_root"])
    split = build_dataset(config, data_root).splits()[0]
    encode = next(s for s in manifest["stages"] if s["stage"] == "encode" and s["split"] == split.name)
    store = FeatureStore(cache / "encode" / encode["key"], len(split.train) + len(split.test))
    train, everything = store.train_and_test_rows(len(split.train))
    labels = np.concatenate([split.train_labels, split.test_labels])
    return store, train, everything[len(train):], labels, config.svm.C


def kernel_reference(run: Path, store, train, test, labels, lam):
    """(objective, accuracy) of the run's own LIBLINEAR model (kernel form: W = dual_coef @ X_train)."""
    from classic.experiment.stages.model import primal_weights
    manifest = json.loads((run / "manifest.json").read_text())
    svm = next(s for s in manifest["stages"] if s["stage"] == "svm")
    [W], intercept, _ = primal_weights(Path(manifest["cache_root"]) / "svm" / svm["key"], [store])
    return objective_and_accuracy(store, train, test, labels, W, intercept, lam)


def traced(kind: str):
    """The solver class of ``kind``, recording each pass's model (W, b) for evaluation after the fit."""
    from classic.learn import ASGDLinearSVM, DualCoordinateSVM, SGDLinearSVM
    base = {"sgd": SGDLinearSVM, "asgd": ASGDLinearSVM, "dcd": DualCoordinateSVM}[kind]

    class Traced(base):
        def _epoch(self, state, X, labels, train, epoch, rng):
            W, b = super()._epoch(state, X, labels, train, epoch, rng)
            self.passes_.append((time.perf_counter() - self.start_, W.copy(), b.copy()))
            return W, b
    Traced.__name__ = base.__name__
    return Traced


def objective_and_accuracy(store, train, test, labels, W, b, lam):
    """LIBLINEAR's objective on the training rows (squared hinge, no weights) and the test mean class accuracy."""
    loss = 0.0
    for part in np.array_split(train, max(1, len(train) // 512)):
        Y = np.where(labels[part][:, None] == np.arange(W.shape[0])[None, :], 1.0, -1.0)
        loss += float((np.maximum(1 - Y * (store[part] @ W.T + b), 0) ** 2).sum())
    objective = 0.5 * lam * (float((W.astype(np.float64) ** 2).sum()) + float((b ** 2).sum())) + loss / len(train)
    predictions = np.concatenate([(store[p] @ W.T + b).argmax(1) for p in np.array_split(test, max(1, len(test) // 512))])
    truth = labels[test]
    accuracy = float(np.mean([np.mean(predictions[truth == c] == c) for c in np.unique(truth)]))
    return objective, accuracy


def fit_and_trace(kind, options, store, train, test, labels, lam) -> dict:
    """Fit one variant on the training rows; its test accuracy and LIBLINEAR's objective after some passes."""
    from classic.experiment.parallel import peak_memory_mb
    options = {"loss": "squared_hinge", **options, "lam": lam if options["lam"] == "liblinear" else options["lam"]}
    model = traced(kind)(**options)
    model.passes_, model.start_ = [], time.perf_counter()
    model.fit(store.subset(train), labels[train])
    wall = time.perf_counter() - model.start_
    # each evaluation reads the whole store: passes 1, 2, 3, 5, 10, 20, 30 and the last are evaluated
    evaluated = {1, 2, 3, 5, 10, 20, 30, len(model.passes_)}
    passes = [dict(zip(("pass", "seconds", "objective", "accuracy"),
                       (i, seconds, *objective_and_accuracy(store, train, test, labels, W, b, lam))))
              for i, (seconds, W, b) in enumerate(model.passes_, 1) if i in evaluated]
    final = objective_and_accuracy(store, train, test, labels, model.coef_, model.intercept_, lam)
    return {"solver": kind, "options": options, "passes": passes, "chosen_pass": model.best_epoch_,
            "run_passes": len(model.passes_), "objective": final[0], "accuracy": final[1], "wall_seconds": wall,
            "peak_mib": peak_memory_mb(), "eta0": getattr(model, "eta0_", options.get("eta0"))}


def print_row(name, result):
    print(f"{name:<40} acc {100 * result['accuracy']:6.2f}%  objective {result['objective']:8.4f}  "
          f"pass {result['chosen_pass']:>2}/{result['run_passes']:<2} {result['wall_seconds']:7.1f} s  "
          f"peak {result['peak_mib']:,.0f} MiB" + (f"  eta0 {result['eta0']:g}" if result["eta0"] is not None else ""),
          flush=True)


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    from classic.experiment.config import load_config
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--only", nargs="*", help="variant names (substrings) to run")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0], help="batch orders (default: 0)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    store, train, test, labels, C = load_split(args.run, args.data_root)
    lam = 1 / (C * len(train))
    print(f"store {store.shape[0]:,} rows x {store.shape[1]:,} dims; {len(train):,} train / {len(test):,} test; "
          f"LIBLINEAR's C = {C:g} -> lambda = {lam:.3g}")
    out = {"run": str(args.run), "C": C, "lam": lam, "variants": {}}
    with threadpool_limits(2):
        if load_config(args.run / "config.yaml").svm.solver == "kernel":
            objective, accuracy = kernel_reference(args.run, store, train, test, labels, lam)
            out["liblinear"] = {"objective": objective, "accuracy": accuracy}
            print(f"{'LIBLINEAR (the run itself, kernel form)':<40} acc {100 * accuracy:6.2f}%  objective {objective:8.4f}",
                  flush=True)
        for name, (kind, options) in VARIANTS.items():
            if args.only and not any(o in name for o in args.only):
                continue
            finals = []
            for seed in args.seeds:
                key = name if args.seeds == [0] else f"{name} (seed {seed})"
                out["variants"][key] = fit_and_trace(kind, {**options, "seed": seed}, store, train, test, labels, lam)
                finals.append((out["variants"][key]["accuracy"], out["variants"][key]["objective"]))
                print_row(key, out["variants"][key])
            if len(finals) > 1:
                accuracy, objective = np.array(finals).T
                print(f"{name + ': mean over seeds ' + ' '.join(map(str, args.seeds)):<40} acc {100 * accuracy.mean():6.2f}"
                      f" +- {100 * accuracy.std(ddof=1):.2f}%  objective {objective.mean():8.4f} +- {objective.std(ddof=1):.4f}",
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
