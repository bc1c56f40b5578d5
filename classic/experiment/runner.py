"""Running an experiment: the stages of :mod:`classic.experiment.stages`, each cached, over the splits.

Per split::

    sample  - descriptors of a stratified subset of the training images      (stages/sample.py)
    pca     - PCA fitted on the sample                                        (stages/fit.py)
    gmm     - the vocabulary: a diagonal GMM (Fisher vectors) or,
    kmeans    for VLAD and bag of words, k-means centres                      (stages/fit.py)
    pq      - (store_dtype pq only) product-quantisation codebooks            (stages/fit.py)
    encode  - every image of the split -> its vector: the feature store       (stages/encode.py)
    kernel  - Gram matrices, block by block from the store (solver kernel)    (stages/kernel.py)
    svm     - one-vs-rest linear SVMs and test scores                          (stages/svm.py)
    model   - (first split) the SVMs in primal form, one weight block per channel (stages/model.py)

A config with several descriptor channels runs the stages above up to ``kernel`` once per channel
(each channel's single-channel config, so its keys are that run's), then one stage per split::

    fusion  - the channels' Gram matrices combined (early or late), C and weights by CV  (stages/fusion.py)

Two passes are shared by the splits: the first split's ``sample`` stage draws every split's sample,
and every split's vocabulary is fitted before the first ``encode``, so that one pass over the images
encodes all the splits' stores.  The stage contract (keys, cache-or-compute under lock, records) is
:mod:`classic.experiment.stage`.  The configuration is validated before any work
(``config.validate``, then ``config.check_splits`` once the dataset is listed).  Images that cannot
be decoded are skipped and recorded; images without a usable descriptor are recorded, left out of
training and scored as empty images.  The run folder (:mod:`run_folder`) holds data only, and
the first split's trained pipeline in ``model/`` (:mod:`model`); the report layer renders it.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..backend import get_backend
from ..io import load_json, load_npy, load_npz, remove_stale_temporaries
from ..learn import evaluate, normalised_weights
from .build import build_dataset, encoded_dimension, make_extractor
from .cache import Cache
from .config import ExperimentConfig, channel_configs, check_splits, data_description, dump_config, validate
from .context import RunContext, runs_on_backend
from .parallel import dask_client, keep_freed_memory
from .provenance import manifest
from .run_folder import summarise, write_run_folder
from .stage import STAGE_VERSIONS, Stages
from .model import channel_stage_arrays, write_model
from .stages import encode, fit, fusion, kernel, model, sample, svm
from .store import FeatureStore

logger = logging.getLogger(__name__)


class Runner:
    """Runs one experiment configuration; ``run()`` returns the metrics dict and writes the run folder."""

    def __init__(self, config: ExperimentConfig, data_root: Path, cache_root: Path, out_dir: Path | None = None,
                 progress: bool = True, log=None):
        self.config = validate(config)
        self.data_root = Path(data_root)
        self.cache = Cache(cache_root)
        self.out_dir = Path(out_dir) if out_dir else Path("runs") / config.name
        self.progress = progress
        self.log = log or logger.info
        self.skipped: dict[str, str] = {}                   # file -> why it was left out
        self.without_descriptors: dict[str, str] = {}       # file -> why it has no usable descriptor
        self.stages: list[dict] = []                        # the stage records of the last run
        self.client = None                                  # the Dask client while a run uses one

    def run(self) -> dict:
        """Run every split; with ``run.cluster`` the per-image stages go to a Dask cluster for the run's duration."""
        keep_freed_memory()
        # what writers killed mid-write left behind (the stage folders only: a data root may lie in the cache)
        for folder in [self.cache.root / stage for stage in STAGE_VERSIONS] + [self.out_dir]:
            removed = remove_stale_temporaries(folder) if folder.is_dir() else []
            if removed:
                self.log(f"removed {len(removed)} temporary file(s) left by killed runs under {folder}")
        self.client = dask_client(self.config.run.cluster) if self.config.run.cluster else None
        try:
            return self._run(self.client)
        finally:
            if self.client is not None:
                cluster = getattr(self.client, "cluster", None)
                self.client.close()
                if cluster is not None:
                    cluster.close()
                self.client = None

    @property
    def on_backend(self) -> bool:
        """Whether the per-image stages run in this process on the array backend (see ``run.encode_on``)."""
        return runs_on_backend(self.config, self.client)

    def _run(self, client) -> dict:
        start = time.perf_counter()
        cfg = self.config
        dataset = build_dataset(cfg, self.data_root)
        splits = dataset.splits()
        for s in dataset.skipped:           # after splits(): a separate test tree is listed there
            self.skipped[s["file"]] = s["reason"]
        channels = channel_configs(cfg) or [(None, cfg)]        # (name, single-channel config)
        for _, single in channels:
            check_splits(single, dataset, splits)
        d = cfg.data
        identity = [d.dataset, d.root, d.test_root, d.size if d.dataset == "digits" else None] + (
            [d.n_classes, d.class_subset, d.test_set] if d.dataset.startswith("ilsvrc") else [])
        self.stages.clear()
        stages = Stages(self.cache, self.log, self.stages)
        xp = get_backend(cfg.backend)[0]
        # what each split's images were when the run read them (sizes, modification times)
        fingerprints = {split.name: dataset.fingerprint(list(split.train) + list(split.test)) for split in splits}
        n_classes = len(dataset.class_names)
        self.log(f"{cfg.name}: {data_description(cfg)}, {n_classes} classes, {len(splits)} split(s)"
                 + (f", {len(channels)} channels fused ({cfg.fusion.method})" if cfg.channels else ""))
        kernels = {split.name: [] for split in splits}           # the channels' kernel stages (fusion)
        encodings = {split.name: [] for split in splits}         # the channels' stores (streaming solvers)
        outputs = {split.name: [] for split in splits}           # per split: (sample, encode) folders of each channel
        trained = {}
        first = []                  # per channel: what the first split's model is made of
        for name, single in channels:
            if name is not None:
                self.log(f"channel {name}")
            first_record = len(self.stages)
            ctx = RunContext(single, stages, dataset, make_extractor(single), xp, self.progress, client, identity)
            jobs = self._vocabularies(ctx, splits)
            for index, job in enumerate(jobs):
                split = job["split"]
                if len(splits) > 1:
                    self.log(f"split {split.name}")
                encoded = encode.run(ctx, jobs, index)
                outputs[split.name].append((job["sample"].folder, encoded.folder))
                if index == 0:
                    first.append({"name": name, "config": single, "encoded": encoded,
                                  **channel_stage_arrays(job["pca"].folder, job["vocabulary"].folder, single)})
                if cfg.channels and cfg.svm.solver != "kernel":      # early fusion of the stores, streamed
                    encodings[split.name].append(encoded)
                elif cfg.channels:
                    kernels[split.name].append(kernel.run(ctx, encoded, split))
                elif cfg.svm.solver == "kernel":
                    trained[split.name] = svm.kernel_form(ctx, kernel.run(ctx, encoded, split), split, n_classes)
                else:
                    trained[split.name] = svm.streaming(ctx, encoded, split, n_classes)
            for record in self.stages[first_record:]:
                record["channel"] = name
        if cfg.channels:
            ctx = RunContext(cfg, stages, dataset, None, xp, self.progress, client, identity)
            names = [name for name, _ in channels]
            self.log("fusion")
            for split in splits:
                if cfg.svm.solver == "kernel":
                    trained[split.name] = fusion.run(ctx, kernels[split.name], names, split, n_classes)
                else:
                    weights = normalised_weights(cfg.fusion.weights or [1.0] * len(channels))
                    trained[split.name] = svm.streaming(ctx, encodings[split.name], split, n_classes, weights, names)
        results = [self._evaluate(split, outputs[split.name], trained[split.name].folder, n_classes, channels)
                   for split in splits]
        ctx = RunContext(cfg, stages, dataset, None, xp, self.progress, client, identity)
        weights = model.run(ctx, trained[splits[0].name], [c["encoded"] for c in first], splits[0])
        write_model(self.out_dir / "model", cfg, dataset.class_names, splits[0].name, first,
                    load_npz(weights.folder / "weights.npz"), [dataset.path(ref) for ref in splits[0].train])
        dimension = sum(encoded_dimension(single) for _, single in channels)
        summary = summarise(results, stages.records, n_classes, time.perf_counter() - start, dimension)
        write_run_folder(self.out_dir, dump_config(cfg),
                         manifest(cfg, stages.records, self.skipped, self.data_root, self.cache.root.resolve(),
                                  self.without_descriptors, fingerprints),
                         summary, results, dataset.class_names)
        return summary

    def _vocabularies(self, ctx: RunContext, splits) -> list[dict]:
        """Every split's sample, PCA, vocabulary (and PQ codebooks) of one channel, before any encoding,
        so that one pass over the images encodes all the splits' stores."""
        plans = [sample.plan(ctx, split) for split in splits]
        jobs = []
        for index, split in enumerate(splits):
            self.log(f"split {split.name}: {len(split.train)} train / {len(split.test)} test images")
            drawn = sample.run(ctx, plans, index)
            projection = fit.pca(ctx, drawn, split)
            vocabulary = fit.vocabulary(ctx, drawn, projection, split)
            quantizer = fit.quantizer(ctx, split, vocabulary, projection)
            jobs.append(dict(split=split, refs=list(split.train) + list(split.test), sample=drawn, pca=projection,
                             vocabulary=vocabulary, quantizer=quantizer,
                             encode_key=encode.key(ctx, splits, index, vocabulary.key,
                                                   quantizer.key if quantizer else None)))
        return jobs

    def _evaluate(self, split, outputs: list[tuple[Path, Path]], svm_folder: Path, n_classes: int, channels) -> dict:
        """A split's metrics from its svm (or fusion) stage, and what its channels' stages skipped and left out.

        An image counts as without descriptors when no channel has one for it."""
        n_all = len(split.train) + len(split.test)
        empty = np.ones(n_all, dtype=bool)
        for (sample_folder, encode_folder), (name, _) in zip(outputs, channels):
            store = FeatureStore(encode_folder, n_all)
            for e in load_json(sample_folder / "errors.json") + store.errors:
                self.skipped[e["file"]] = e["reason"]
            for e in store.without_descriptors:
                self.without_descriptors[e["file"]] = e["reason"] + (f" ({name})" if name else "")
            empty &= store.valid & store.empty
        index = load_npz(svm_folder / "index.npz")
        scores, test_labels = load_npy(svm_folder / "scores.npy"), load_npy(svm_folder / "test_labels.npy")
        trained = load_json(svm_folder / "svm.json")
        metrics = evaluate(scores, test_labels, n_classes)
        metrics.update(split=split.name, scores=scores, test_labels=test_labels, n_train=int(len(index["train"])),
                       n_test=int((index["everything"] >= len(split.train)).sum()),
                       n_train_without_descriptors=int(empty[:len(split.train)].sum()),
                       n_test_without_descriptors=int(empty[len(split.train):].sum()),
                       C=trained["C"], split_digest=split.digest())
        if "fusion" in trained:
            metrics["fusion"] = trained["fusion"]
            for name, alone in trained["fusion"]["per_channel"].items():
                self.log(f"  {name} alone: mean class accuracy {100 * alone['mean_class_accuracy']:.2f}%")
            self.log("  weights " + ", ".join(f"{n} {w:.3f}" for n, w in zip(trained["fusion"]["channels"],
                                                                            trained["fusion"]["weights"])))
        self.log(f"  mean class accuracy {100 * metrics['mean_class_accuracy']:.2f}%  top-1 error "
                 f"{100 * metrics['top1_error']:.2f}%  top-5 error {100 * metrics['top5_error']:.2f}%")
        return metrics
