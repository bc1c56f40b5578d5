"""Stages ``pca``, ``gmm`` / ``kmeans`` and ``pq``: the models fitted before encoding.

* ``pca``: PCA on the split's descriptor sample (an empty file without PCA);
* the vocabulary, on the projected sample: a diagonal GMM (Fisher vectors) or k-means centres
  (VLAD, bag of words) — the stage is named after what it fits;
* ``pq`` (``store_dtype: pq`` only): product-quantisation codebooks, fitted on the float16 encodings
  of up to ``pq_train_images`` random training images, which are removed once the codebooks exist.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from ...backend import to_numpy
from ...encoding import PCA, DiagonalGMM, KMeans, ProductQuantizer
from ...io import load_npy, load_npz, save_json, save_npz
from ..build import descriptor_identity, vocabulary_stage
from ..context import RunContext
from ..stage import StageOutput
from ..store import FeatureStore
from . import encode


def pca(ctx: RunContext, sample: StageOutput, split) -> StageOutput:
    """PCA (``encoder.pca_dims``, ``whiten``) fitted on the split's sample."""
    enc = ctx.config.encoder
    key = ctx.stages.key("pca", enc.pca_dims, enc.whiten, sample.key)

    def compute(folder: Path):
        if not enc.pca_dims:
            save_npz(folder / "pca.npz")
            return
        fitted = PCA(enc.pca_dims, whiten=enc.whiten).fit(ctx.xp.asarray(load_npy(sample.folder / "sample.npy")))
        save_npz(folder / "pca.npz", **{k: to_numpy(v) for k, v in fitted.to_arrays().items()})
    return ctx.stages.run("pca", key, split.name, compute)


def vocabulary(ctx: RunContext, sample: StageOutput, projection: StageOutput, split) -> StageOutput:
    """The GMM or k-means vocabulary fitted on the projected sample."""
    cfg, enc = ctx.config, ctx.config.encoder
    stage = vocabulary_stage(cfg)
    if stage == "gmm":
        key = ctx.stages.key("gmm", enc.n_components, enc.gmm_max_iter, enc.gmm_tol, enc.variance_floor, cfg.seed,
                             projection.key)
    else:
        key = ctx.stages.key("kmeans", enc.n_components, enc.kmeans_max_iter, cfg.seed, projection.key)

    def compute(folder: Path):
        xp = ctx.xp
        data = xp.asarray(load_npy(sample.folder / "sample.npy"))
        pca_arrays = load_npz(projection.folder / "pca.npz")
        if pca_arrays:
            data = PCA.from_arrays({k: xp.asarray(v) for k, v in pca_arrays.items()}, enc.whiten).transform(data)
        if stage == "gmm":
            model = DiagonalGMM(enc.n_components, max_iter=enc.gmm_max_iter, tol=enc.gmm_tol,
                                variance_floor=enc.variance_floor, seed=cfg.seed).fit(data)
            fit = {"n_iter": model.n_iter_, "converged": model.converged_, "mean_log_likelihood": model.lower_bound_}
        else:
            model = KMeans(enc.n_components, max_iter=enc.kmeans_max_iter, seed=cfg.seed).fit(data)
            fit = {"n_iter": enc.kmeans_max_iter, "mean_squared_distance": model.mean_distance_}
        save_npz(folder / f"{stage}.npz", **{k: to_numpy(v) for k, v in model.to_arrays().items()})
        save_json(folder / "fit.json", fit)
    return ctx.stages.run(stage, key, split.name, compute)


def quantizer(ctx: RunContext, split, vocabulary_output: StageOutput, projection: StageOutput) -> StageOutput | None:
    """PQ codebooks fitted on the encodings of up to ``pq_train_images`` random training images."""
    cfg, enc = ctx.config, ctx.config.encoder
    if enc.store_dtype != "pq":
        return None
    chosen = np.sort(np.random.default_rng(cfg.seed).permutation(len(split.train))[:enc.pq_train_images])
    refs = [split.train[i] for i in chosen]
    key = ctx.stages.key("pq", descriptor_identity(cfg.features), cfg.data.max_side, encode.identity(cfg), ctx.dataset_identity,
                         refs, ctx.dataset.fingerprint(refs), cfg.run.chunk_size, enc.pq_subvector_dims, enc.pq_bits,
                         enc.pq_max_iter, cfg.seed, vocabulary_output.key)

    def compute(folder: Path):
        vectors = folder / "training_vectors"       # float16 encodings, removed once the codebooks exist
        store = encode.store_target(ctx, refs, vectors, "float16", projection, vocabulary_output)
        peak = encode.encode_stores(ctx, [refs], [store], "pq vectors", space=(
            f"fitting the PQ codebooks ({len(refs):,} training images' vectors, held as float16)",
            f"lower encoder.pq_train_images (now {enc.pq_train_images:,}), shrink the encoding, free space, or "
            f"set CLASSIC_CACHE"))
        stored = FeatureStore(vectors)
        rows, _ = stored.train_and_test_rows(len(stored))      # images with descriptors (no zero vectors)
        X = np.empty((len(rows), stored.shape[1]), dtype=np.float16)
        for a in range(0, len(rows), 256):
            X[a:a + 256] = stored[rows[a:a + 256]]
        start = time.perf_counter()
        pq = ProductQuantizer(enc.pq_subvector_dims, bits=enc.pq_bits, max_iter=enc.pq_max_iter,
                              seed=cfg.seed).fit(ctx.xp.asarray(X))
        save_npz(folder / "pq.npz", **{k: to_numpy(v) for k, v in pq.to_arrays().items()})
        save_json(folder / "fit.json", {"images": int(len(rows)), "dimension": int(X.shape[1]),
                                        "subquantizers": int(pq.codebooks_.shape[0]), "bits": enc.pq_bits,
                                        "relative_squared_error": pq.distortion_,
                                        "compression_vs_float32": pq.compression_ratio,
                                        "fit_seconds": round(time.perf_counter() - start, 1)})
        shutil.rmtree(vectors)
        return peak
    return ctx.stages.run("pq", key, split.name, compute)
