"""Stage ``fusion``: the SVMs of a multi-channel config's split, on its channels' Gram matrices.

Each channel's ``kernel`` stage gives its Gram matrix.  The channels' rows are aligned on one index
(an image without a usable descriptor in one channel has the zero vector there: zero Gram entries),
then :mod:`classic.learn.fusion` combines them: early fusion, one SVM on the weighted sum of the Gram
matrices (= the weighted concatenation of the encodings); late fusion, one SVM per channel and the
weighted sum of their scores.  C (per channel, and of the early-fusion SVM, from ``svm.C_grid`` when
given) and the weights (``fusion.weights``, or chosen from ``fusion.weight_grid``) are chosen by
stratified k-fold cross-validation on the training images only.  Every channel's own SVM and test
scores are kept too, so one run reports each channel alone beside the fusion.

Writes what the ``svm`` stage writes (``scores.npy``, ``test_labels.npy``, ``index.npz``, ``svm.json``
with the chosen values and what the cross-validation measured, ``model.npz``: the early-fusion SVM's
dual coefficients and biases, or every channel's, suffixed ``_<channel index>``, for late fusion) and
``channel_scores.npz``.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import reduce
from pathlib import Path

import numpy as np

from ...io import load_npy, load_npz, save_json, save_npy, save_npz
from ...learn import (LinearSVM, combine, cross_validate_C, early_fusion_weights, evaluate, late_fusion_weights,
                      normalised_weights, out_of_fold_scores, scores_for_classes, stratified_folds)
from ..context import RunContext
from ..stage import StageOutput
from .svm import solver_identity


def _aligned(gram, index, everything, train):
    """A channel's Gram matrix on the common rows ``everything`` and columns ``train`` (zeros where it has no row)."""
    position = np.full(max(int(everything.max()), int(index["everything"].max())) + 1, -1)
    position[index["everything"]] = np.arange(len(index["everything"]))
    rows, columns = position[everything], position[train]
    out = np.zeros((len(everything), len(train)), dtype=np.float32)
    have_rows, have_columns = rows >= 0, columns >= 0
    out[np.ix_(have_rows, have_columns)] = gram[np.ix_(rows[have_rows], columns[have_columns])]
    return out


def run(ctx: RunContext, kernels: list[StageOutput], names: list[str], split, n_classes: int) -> StageOutput:
    """Fused scores of the split's test images from its channels' ``kernel`` stages."""
    cfg, s, f = ctx.config, ctx.config.svm, ctx.config.fusion
    key = ctx.stages.key("fusion", asdict(f), solver_identity(s), cfg.seed, names, [k.key for k in kernels],
                         split.train_labels.tolist(), split.test_labels.tolist())

    def compute(folder: Path):
        indices = [load_npz(k.folder / "index.npz") for k in kernels]
        n_train = len(split.train)
        train = reduce(np.union1d, [ix["train"] for ix in indices])
        test = reduce(np.union1d, [ix["everything"][ix["everything"] >= n_train] for ix in indices])
        everything = np.concatenate([train, test])
        grams = [_aligned(load_npy(k.folder / "gram.npy"), ix, everything, train) for k, ix in zip(kernels, indices)]
        labels = np.concatenate([split.train_labels, split.test_labels])
        y, t = labels[train], len(train)
        folds = stratified_folds(y, s.cv_folds, cfg.seed)
        svm_options = dict(loss=s.loss, tol=s.tol, max_iter=s.max_iter, n_jobs=cfg.run.n_jobs)

        def fitted(K, C):
            return LinearSVM(C=C, **svm_options).fit_kernel(K[:t], y)

        def test_scores(svm, K):
            return scores_for_classes(svm.decision_function_kernel(K[t:]), svm.classes_, n_classes)

        channels, held_out, svms = {}, [], {}
        for name, K in zip(names, grams):
            # C by cross-validation when a grid is given; late fusion weighs the out-of-fold scores at that C
            C, cv, oof = s.C, {}, None
            if s.C_grid:
                C, cv, oof = cross_validate_C(K[:t], y, folds, s.C_grid, n_classes=n_classes, **svm_options)
            elif f.method == "late" and not f.weights:
                oof = out_of_fold_scores(K[:t], y, folds, C=C, n_classes=n_classes, **svm_options)
            held_out.append(oof)
            svms[name] = fitted(K, C)
            scores = test_scores(svms[name], K)
            channels[name] = {"C": C, "cv_C": cv, "scores": scores,
                              **{k: v for k, v in evaluate(scores, labels[test], n_classes).items()
                                 if k in ("mean_class_accuracy", "top1_error", "top5_error")}}
        Cs = [channels[n]["C"] for n in names]
        if f.weights:
            weights, tried = normalised_weights(f.weights), {}
        elif f.method == "late":
            weights, tried = late_fusion_weights(held_out, y, folds, f.weight_grid, n_classes=n_classes)
        else:
            weights, tried = early_fusion_weights(grams, y, folds, f.weight_grid, C=Cs[0], n_classes=n_classes,
                                                  **svm_options)
        if f.method == "late":
            scores, C, cv = combine([channels[n]["scores"] for n in names], weights), Cs, {}
            # the model: each channel's SVM in kernel form (the primal weights are the model stage's)
            model = {f"{part}_{i}": getattr(svms[n], f"{part}_") for i, n in enumerate(names)
                     for part in ("dual_coef", "intercept")}
            model["classes"] = svms[names[0]].classes_
        else:
            K = combine(grams, weights)
            C, cv = s.C, {}
            if s.C_grid:
                C, cv, _ = cross_validate_C(K[:t], y, folds, s.C_grid, n_classes=n_classes, **svm_options)
            svm = fitted(K, C)
            scores = test_scores(svm, K)
            model = dict(dual_coef=svm.dual_coef_, intercept=svm.intercept_, classes=svm.classes_)
        save_npy(folder / "scores.npy", scores.astype(np.float32))
        save_npz(folder / "model.npz", **model)
        save_npy(folder / "test_labels.npy", labels[test])
        save_npz(folder / "index.npz", train=train, everything=everything)
        save_npz(folder / "channel_scores.npz", **{n: channels[n]["scores"] for n in names})
        save_json(folder / "svm.json", {
            "solver": "kernel", "C": C, "cv": cv,
            "fusion": {"method": f.method, "channels": names, "weights": [float(w) for w in weights],
                       "chosen_by": "given" if f.weights else f"{s.cv_folds}-fold cross-validation on the training images",
                       "cv_accuracy": tried,
                       "per_channel": {n: {k: v for k, v in channels[n].items() if k != "scores"} for n in names}}})
    return ctx.stages.run("fusion", key, split.name, compute)
