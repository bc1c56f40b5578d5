"""Peak memory of a streaming SVM (SGD, averaged SGD, or dual coordinate descent with its dual variables in a file)
at two training-set sizes, reading a real feature store.

    .venv/bin/python benchmarks/sgd_memory.py cache/encode/<key> --sizes 1000,3000 --classes 102
        [--solver asgd|asgd_implicit|dcd]

Each size is fitted in a fresh process (so that one fit's pages do not count for the other) on the
first rows of the store with labels cycling over the classes (memory does not depend on the labels);
prints the process's peak resident memory and the time per epoch.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def fit_once(folder: str, n: int, classes: int, epochs: int, solver: str) -> dict:
    import tempfile

    import numpy as np

    from classic.experiment.parallel import peak_memory_mb, reset_peak_memory
    from classic.experiment.store import FeatureStore, RowFile
    from classic.learn import ASGDLinearSVM, DualCoordinateSVM, SGDLinearSVM
    store = FeatureStore(folder)
    reset_peak_memory()
    baseline = peak_memory_mb()
    labels = np.arange(n) % classes
    start = time.perf_counter()
    if solver == "sgd":
        model = SGDLinearSVM(max_epochs=epochs, patience=epochs).fit(store.subset(np.arange(n)), labels)
    elif solver == "asgd":
        model = ASGDLinearSVM(max_epochs=epochs, batch_size=8).fit(store.subset(np.arange(n)), labels)
    elif solver == "asgd_implicit":
        model = ASGDLinearSVM(max_epochs=epochs, batch_size=8, eta0=4.0, implicit=True).fit(store.subset(np.arange(n)),
                                                                                            labels)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            dual = RowFile(Path(scratch) / "dual.f32", (n, classes))
            model = DualCoordinateSVM(max_epochs=epochs, patience=epochs).fit(store.subset(np.arange(n)), labels,
                                                                              dual=dual)
            dual.close()
    seconds = time.perf_counter() - start
    return {"n": n, "dims": store.shape[1], "classes": classes, "epochs": len(model.history_),
            "seconds_per_epoch": seconds / len(model.history_), "peak_mb": peak_memory_mb(),
            "peak_mb_above_start": peak_memory_mb() - baseline}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--sizes", default="1000,3000")
    parser.add_argument("--classes", type=int, default=102)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--solver", choices=["sgd", "asgd", "asgd_implicit", "dcd"], default="sgd")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)      # internal: fit one size, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(fit_once(args.store, args.one, args.classes, args.epochs, args.solver)))
        return 0
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, args.store, "--one", str(n), "--classes", str(args.classes),
                              "--epochs", str(args.epochs), "--solver", args.solver], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[1])
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'training images':>16} {'dims':>9} {'peak MiB':>9} {'above start':>12} {'s/epoch':>8}")
    for r in rows:
        print(f"{r['n']:>16,} {r['dims']:>9,} {r['peak_mb']:>9.0f} {r['peak_mb_above_start']:>12.0f} "
              f"{r['seconds_per_epoch']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
