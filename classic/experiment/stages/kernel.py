"""Stage ``kernel``: the Gram matrices (train x train, test x train) of a split, block by block from
the feature store.

As many training rows are held in memory (float32) as ``run.kernel_memory_mb`` allows; each held
block meets itself in one symmetric product (half the work) and then every later row of the store,
read a block ahead on a thread while the product runs: the store is read once per held block, once
in all when the training set fits (Caltech-101).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...backend import to_numpy
from ...io import save_npy, save_npz
from ..context import RunContext
from ..parallel import run_overlapped
from ..stage import StageOutput
from ..store import FeatureStore


def run(ctx: RunContext, encoded: StageOutput, split) -> StageOutput:
    """``gram.npy`` ((train + test) x train, rows in ``index.npz``'s ``everything`` order)."""
    key = ctx.stages.key("kernel", encoded.key)
    n_train, n_all = len(split.train), len(split.train) + len(split.test)

    def compute(folder: Path):
        store = FeatureStore(encoded.folder, n_all)

        def block(indices):
            return ctx.xp.asarray(store[indices])

        train, everything = store.train_and_test_rows(n_train)
        size = ctx.config.run.kernel_block
        width = max(size, int(ctx.config.run.kernel_memory_mb * 2 ** 20 // (4 * max(1, store.shape[1]))))
        gram = np.zeros((len(everything), len(train)), dtype=np.float32)
        for a in range(0, len(train), width):
            right = block(train[a:a + width])
            end = a + len(right)
            gram[a:end, a:end] = to_numpy(right @ right.T)

            def product(b, left):
                gram[b:b + size, a:end] = to_numpy(left @ right.T)
            run_overlapped(lambda b: block(everything[b:b + size]), product, range(end, len(everything), size),
                           n_threads=1, ahead=1, desc="kernel", progress=ctx.progress)
        t = len(train)      # the upper triangle of train x train, never computed, mirrors the lower
        lower = np.tril(gram[:t, :t])
        gram[:t, :t] = lower + np.tril(lower, -1).T
        save_npy(folder / "gram.npy", gram)
        save_npz(folder / "index.npz", train=train, everything=everything)
    return ctx.stages.run("kernel", key, split.name, compute)
