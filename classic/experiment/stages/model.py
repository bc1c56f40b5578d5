r"""Stage ``model``: a split's trained SVMs in primal form, one weight matrix per descriptor channel.

What the run folder's ``model/`` holds, so that new images are scored without the cache or the
training store (:mod:`classic.experiment.model`).  A linear SVM's scores are
:math:`s(x) = W x + b`; the solvers leave W in one of three forms:

* streaming solvers (``sgd``, ``asgd``, ``dcd``): W itself, over the concatenation of the channels'
  vectors each scaled by :math:`\sqrt{w_c}` (early fusion of the stores): channel c's block of W
  times :math:`\sqrt{w_c}` is its weight matrix;
* the kernel solver: dual coefficients :math:`\alpha` over the training rows,
  :math:`W = \alpha X_{\text{train}}`;
* the fusion of several channels' Gram matrices: early fusion, one SVM on
  :math:`K = \sum_c w_c X_c X_c^\top`, so :math:`W_c = w_c \, \alpha X_c`; late fusion, the weighted
  sum of the channels' SVMs, :math:`W_c = w_c \, \alpha_c X_c` and :math:`b = \sum_c w_c b_c`.

The products :math:`\alpha X` are one pass over the training rows of each store, block by block.
Writes ``weights.npz``: ``coef_<channel index>`` (classes x that channel's dimension, float16: half
the size of float32; the scores change by about 1e-3 of their spread, ``benchmarks/README.md``),
``intercept`` and ``classes`` (the trained classes' indices).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io import load_json, load_npz, save_npz
from ..context import RunContext
from ..stage import StageOutput
from ..store import FeatureStore

# the dtype of the saved weights
WEIGHTS_DTYPE = np.float16
# training rows read at a time for alpha X
_BLOCK = 512


def _dual_times_rows(alpha, store: FeatureStore, rows) -> np.ndarray:
    """:math:`\\alpha X` for the store's ``rows`` (alpha: classes x len(rows)), float32."""
    out = np.zeros((alpha.shape[0], store.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), _BLOCK):
        out += alpha[:, start:start + _BLOCK].astype(np.float32) @ store[rows[start:start + _BLOCK]]
    return out


def primal_weights(trained: Path, stores: list[FeatureStore]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(per-channel weight matrices, biases, classes) of the SVM stage or fusion stage folder ``trained``
    over the channels' feature ``stores``."""
    model, info = load_npz(trained / "model.npz"), load_json(trained / "svm.json")
    fusion = info.get("fusion")
    weights = np.asarray(fusion["weights"], dtype=np.float64) if fusion else np.ones(1)
    train = load_npz(trained / "index.npz")["train"]
    if "coef" in model:                     # streaming: the stores concatenated, each scaled by sqrt(w)
        edges = np.cumsum([0] + [s.shape[1] for s in stores])
        coef = model["coef"].astype(np.float32)
        blocks = [coef[:, a:b] * np.float32(np.sqrt(w)) for a, b, w in zip(edges[:-1], edges[1:], weights)]
        return blocks, model["intercept"].astype(np.float32), model["classes"]
    if "dual_coef" in model:                # one kernel-form SVM: alone, or on the weighted sum of Gram matrices
        blocks = [np.float32(w) * _dual_times_rows(model["dual_coef"], s, train) for s, w in zip(stores, weights)]
        return blocks, model["intercept"].astype(np.float32), model["classes"]
    # late fusion: the weighted sum of each channel's kernel-form SVM
    blocks = [np.float32(w) * _dual_times_rows(model[f"dual_coef_{i}"], s, train)
              for i, (s, w) in enumerate(zip(stores, weights))]
    intercept = sum(np.float32(w) * model[f"intercept_{i}"].astype(np.float32) for i, w in enumerate(weights))
    return blocks, intercept.astype(np.float32), model["classes"]


def run(ctx: RunContext, trained: StageOutput, encoded: list[StageOutput], split) -> StageOutput:
    """``weights.npz`` of the split's ``trained`` svm (or fusion) stage over its channels' stores ``encoded``."""
    key = ctx.stages.key("model", trained.key, [e.key for e in encoded], np.dtype(WEIGHTS_DTYPE).name)
    n_all = len(split.train) + len(split.test)

    def compute(folder: Path):
        blocks, intercept, classes = primal_weights(trained.folder, [FeatureStore(e.folder, n_all) for e in encoded])
        save_npz(folder / "weights.npz", intercept=intercept, classes=classes,
                 **{f"coef_{i}": b.astype(WEIGHTS_DTYPE) for i, b in enumerate(blocks)})
    return ctx.stages.run("model", key, split.name, compute)
