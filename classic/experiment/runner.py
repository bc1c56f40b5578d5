"""Running an experiment: stages, each cached, over one or more splits.

Per split::

    sample  - descriptors from a stratified subset of the training images (for PCA + GMM); the
              first split's stage draws every split's sample in one pass, each image described once
    pca     - PCA fitted on the sample
    gmm     - the vocabulary fitted on the projected sample: a diagonal GMM (Fisher vectors) or,
    kmeans    for VLAD and bag of words, k-means centres
    pq      - (store_dtype pq only) product-quantisation codebooks, fitted on the encodings of a
              random subset of the training images
    encode  - every image of the split -> its vector, written in shards (the feature store), as
              float16/float32 or as PQ codes; refused up front when the disk would not hold it.
              Every split's vocabulary is fitted first, so that one pass over the images encodes
              all the splits' stores: an image in several splits is decoded and described once
    kernel  - Gram matrices (train x train, test x train), block by block from the store
    svm     - one-vs-rest linear SVM (C fixed, or chosen by cross-validation on the training set);
              test scores

The per-image stages (sample, encode) run in CPU worker processes (joblib, or a Dask cluster), each
image described and encoded into every store before the next; on the GPU (``backend: cupy``;
``run.encode_on``) they run in this process instead, a whole chunk encoded as one batch (one
posterior product for all its descriptors), while ``run.n_jobs`` threads decode the next chunks'
images.  Both write the same shards under the same key.
The Gram matrix holds as many training rows as ``run.kernel_memory_mb`` allows and streams the store
past them (once, on Caltech-101).

A stage's key hashes its configuration, the keys of its inputs and (for the stages that read images)
each image's file size and modification time, so changing ``svm.C`` reruns only ``svm`` and a replaced
image reruns what read it; a killed run resumes at the first unfinished shard.  Several runs may share
one cache: a stage is computed under its folder's lock, and a run that needs a stage another is
computing waits for it.  The configuration is validated before any work (``config.validate``, then
:func:`check_splits` once the dataset is listed).  Images that cannot be decoded are skipped, recorded,
and left out of training and testing; images that decode but hold no usable descriptor are recorded,
left out of training, and kept as test images, scored as the classifier scores an empty image.
"""
from __future__ import annotations

import math
import platform
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import numpy as np
from joblib import effective_n_jobs

from ..backend import get_backend, to_numpy
from ..data import Dataset, ImageError, Split, open_dataset
from ..encoding import (PCA, BagOfWordsEncoder, DiagonalGMM, FisherVectorEncoder, KMeans, ProductQuantizer,
                        VLADEncoder, sample_descriptors)
from ..features import DenseSIFT, LocalColourStatistics
from ..learn import DualCoordinateSVM, LinearSVM, SGDLinearSVM, evaluate
from ..files import check_space, format_bytes, remove_stale_temporaries
from .cache import Cache, load_json, load_npy, load_npz, save_json, save_npy, save_npz, save_text, stable_hash
from .config import ConfigError, ExperimentConfig, dump_config, validate
from .parallel import (cpu_count, dask_client, keep_freed_memory, peak_memory_mb, reset_peak_memory, run_chunks,
                       run_overlapped)
from .store import FeatureStore, RowFile, bytes_per_vector, to_float16

STAGE_VERSIONS = {"sample": 1, "pca": 1, "gmm": 2, "kmeans": 1, "pq": 1, "encode": 2, "kernel": 1, "svm": 3}


def build_dataset(config: ExperimentConfig, data_root: Path) -> Dataset:
    d = config.data
    if d.dataset in ("ilsvrc2012", "ilsvrc2010"):
        return open_dataset(d.dataset, data_root, n_train=d.n_train, n_test=d.n_test, seed=config.seed,
                            n_classes=d.n_classes, class_subset=d.class_subset, test_set=d.test_set)
    options = dict(n_train=d.n_train, n_test=d.n_test, n_splits=d.n_splits, seed=config.seed)
    if d.dataset == "caltech101":
        options.update(split_file=d.split_file, include_background=d.include_background)
    elif d.dataset == "digits":
        options.update(size=d.size)
    elif d.dataset == "folder":
        options.update(root=d.root, test_root=d.test_root, split_file=d.split_file)
    return open_dataset(d.dataset, data_root, **options)


def check_splits(config: ExperimentConfig, dataset: Dataset, splits: list[Split]) -> None:
    """Refuse, once the dataset is listed and before any work, splits that the run cannot use: a class
    without training or test images (it could not be learnt, or its accuracy would be NaN), fewer
    training images than PQ centroids or than cross-validation folds per class."""
    d, e, s = config.data, config.encoder, config.svm
    names = dataset.class_names
    if not names:
        raise ConfigError(f"the {dataset.name} dataset holds no class with an image")
    for split in splits:
        train = np.bincount(split.train_labels, minlength=len(names))
        test = np.bincount(split.test_labels, minlength=len(names))
        for counts, role in ((train, "training"), (test, "test")):
            missing = np.flatnonzero(counts == 0)
            if not len(missing):
                continue
            listed = ", ".join(names[c] for c in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            hint = ""
            labels = getattr(dataset, "labels", None)
            if role == "test" and d.n_train is not None and labels is not None:
                sizes = np.bincount(labels, minlength=len(names))
                hint = (f": data.n_train = {d.n_train} takes all the images of classes with {d.n_train} or fewer "
                        f"(smallest: {names[int(np.argmin(sizes))]}, {int(sizes.min())} images); "
                        f"use data.n_train <= {max(1, int(sizes.min()) - 1)}")
            raise ConfigError(f"split {split.name}: {len(missing)} class(es) without {role} images ({listed}){hint}")
        if e.store_dtype == "pq" and min(e.pq_train_images, len(split.train)) < 2 ** e.pq_bits:
            raise ConfigError(f"encoder.pq_bits = {e.pq_bits}: split {split.name} has {len(split.train)} training "
                              f"images, fewer than the {2 ** e.pq_bits} centroids of each sub-quantiser; use "
                              f"encoder.pq_bits <= {int(math.log2(min(e.pq_train_images, len(split.train))))}")
        if s.C_grid and s.cv_folds > train.min():
            raise ConfigError(f"svm.cv_folds = {s.cv_folds}: split {split.name} has only {int(train.min())} training "
                              f"images in its smallest class; use svm.cv_folds <= {max(2, int(train.min()))}")


def descriptor_extractor(config: ExperimentConfig):
    """The descriptor extractor of a (validated) config's ``features`` section."""
    f = config.features
    if f.kind == "colour":
        return LocalColourStatistics(tuple(f.bin_sizes), f.step)
    return DenseSIFT(tuple(f.bin_sizes), f.step, f.magnif, f.window_size, f.contrast_threshold, f.rootsift)


def make_encoder(enc: dict):
    """The unfitted encoder estimator of an ``encoder`` config section (as a dict)."""
    common = dict(pca_dims=enc["pca_dims"], whiten=enc["whiten"], pyramid=[tuple(level) for level in enc["pyramid"]],
                  sample_size=enc["sample_size"], drop_empty=enc["drop_empty"])
    if enc["kind"] == "fisher":
        return FisherVectorEncoder(enc["n_components"], gmm_max_iter=enc["gmm_max_iter"],
                                   variance_floor=enc["variance_floor"], improved=enc["improved"], **common)
    if enc["kind"] == "vlad":
        return VLADEncoder(enc["n_components"], kmeans_iter=enc["kmeans_iter"], **common)
    if enc["kind"] == "bow":
        return BagOfWordsEncoder(enc["n_components"], enc["assignment"], enc["kernel_map"], enc["n_nearest"],
                                 enc["beta"], kmeans_iter=enc["kmeans_iter"], **common)
    raise ValueError(f"encoder.kind {enc['kind']!r} is not available")


def vocabulary_stage(enc) -> str:
    """The vocabulary stage's name: what it fits."""
    return "gmm" if enc.kind == "fisher" else "kmeans"


# -- per-chunk work: in worker processes (joblib, Dask), or in this process on the GPU -----------

def _decode_chunk(dataset, refs, mode, max_side):
    """([(i, image)] of the chunk's images that decode, [error records] of those that do not)."""
    images, errors = [], []
    for i, ref in enumerate(refs):
        try:
            images.append((i, dataset.load(ref, mode, max_side)))
        except ImageError as exc:
            errors.append({"file": ref, "reason": str(exc)})
    return images, errors


def _sampled_descriptors(extractor, images, draws, drop_empty, xp=np):
    """[(slot, index, descriptors)]: from each decoded image (``images``: [(position in the chunk,
    image)]), described once, the draws ``draws[position]`` = [(slot, index, quota, seed)] of the
    samples (splits) that hold it: up to ``quota`` of its descriptors each, as numpy."""
    out = []
    for i, image in images:
        features = extractor.extract(xp.asarray(image))
        d = (features.without_empty() if drop_empty else features).descriptors
        for slot, index, quota, seed in draws[i]:
            out.append((slot, index, to_numpy(sample_descriptors([d], quota, seed) if len(d) else d)))
    return out


def _sample_chunk(dataset, refs, extractor, max_side, draws, drop_empty=True):
    images, errors = _decode_chunk(dataset, refs, extractor.image_mode, max_side)
    return _sampled_descriptors(extractor, images, draws, drop_empty), errors


def _fitted_encoder(enc: dict, pca_arrays, vocabulary_arrays, xp=np):
    encoder = make_encoder(enc)
    pca_arrays, vocabulary_arrays = ({k: xp.asarray(v) for k, v in a.items()} for a in (pca_arrays, vocabulary_arrays))
    encoder.pca_ = PCA.from_arrays(pca_arrays, enc["whiten"]) if pca_arrays else None
    encoder.vocabulary_ = (DiagonalGMM if enc["kind"] == "fisher" else KMeans).from_arrays(vocabulary_arrays)
    return encoder


def _write_shard(target: dict, decoded, vectors, errors, empty, quantizer=None):
    """One shard of a store: ``target["rows"]`` (the store's rows held by the chunk's images
    ``target["members"]``); ``vectors`` are those of the members in ``decoded`` (positions of the images
    that decoded), in order (the others stay zero and invalid), written as ``enc["store_dtype"]`` or as
    PQ codes.  ``empty``: {position: reason} of the decoded images with no usable descriptor (their
    vectors are the encoder's zero vector): marked, so that training leaves them out."""
    enc, members = target["enc"], target["members"]
    present = [k for k, i in enumerate(members) if i in decoded]
    if quantizer is not None:          # the whole chunk at once: one batched product per sub-quantiser group
        out = np.zeros((len(members), quantizer.codebooks_.shape[0]), dtype=np.uint8)
        if present:
            out[present] = to_numpy(quantizer.transform(vectors))
    else:
        out = np.zeros((len(members), vectors.shape[1]), dtype=enc["store_dtype"])
        vectors = to_numpy(vectors)
        out[present] = to_float16(vectors) if out.dtype == np.float16 else vectors
    valid = np.zeros(len(members), bool)
    valid[present] = True
    files = set(target["refs"])
    without = [k for k, i in enumerate(members) if i in empty]
    save_npy(target["shard"].with_suffix(".npy"), out)
    save_json(target["shard"].with_suffix(".json"), {
        "valid": valid.tolist(), "rows": target["rows"], "errors": [e for e in errors if e["file"] in files],
        "without_descriptors": [{"row": target["rows"][k], "file": target["refs"][k], "reason": empty[members[k]]}
                                for k in without]})


def _encode_targets(targets, images, errors, extract, fitted, one_at_a_time: bool):
    """Every target's shard (see :meth:`Runner._encode_stores`) from the chunk's decoded ``images``
    ([(position in the chunk, image)]), each described once by ``extract``; ``fitted(target)`` gives
    its (encoder, quantizer or None).

    ``one_at_a_time`` (the CPU workers): image by image, each described and encoded into every store
    that holds it before the next, so that one image's descriptors are in memory at a time, still in
    cache when encoded (1.49 s for 32 Caltech images against 1.83 s as one batch); else all the
    images described, then each target's images encoded as one batch, one posterior product for all
    their descriptors (the GPU)."""
    models = [fitted(target) for target in targets]
    shared = all((t["enc"]["drop_empty"], t["enc"]["pyramid"]) == (targets[0]["enc"]["drop_empty"],
                                                                   targets[0]["enc"]["pyramid"]) for t in targets)

    def describe(image):
        # the stores' encoders share the image's usable descriptors in pooling order: made once, not
        # once per store (one gather instead of two per store)
        features = extract(image)
        return models[0][0].prepared(features) if shared else features

    empty = {}          # position -> why the decoded image has no usable descriptor

    def note_if_empty(i, image, features):
        # the stores differ in their fitted PCA and vocabulary, not in which descriptors are usable
        if not len(models[0][0].usable_features(features)):
            h, w = image.shape[:2]
            empty[i] = (f"no usable descriptor in the decoded {w} x {h} image (smaller than one frame, or too "
                        f"uniform): left out of training; as a test image it is scored as an empty image")

    if one_at_a_time:
        held = [set(target["members"]) for target in targets]
        vectors = [[] for _ in targets]
        for i, image in images:
            features = describe(image)
            note_if_empty(i, image, features)
            for members, (encoder, _), out in zip(held, models, vectors):
                if i in members:
                    out.append(encoder.encode(features))
        vectors = [np.stack(v) if v else None for v in vectors]
    else:
        features = {i: describe(image) for i, image in images}
        for i, image in images:
            note_if_empty(i, image, features[i])
        batches = [[features[i] for i in target["members"] if i in features] for target in targets]
        vectors = [encoder.encode_batch(batch) if batch else None for batch, (encoder, _) in zip(batches, models)]
    decoded = {i for i, _ in images}
    for target, (encoder, quantizer), v in zip(targets, models, vectors):
        _write_shard(target, decoded, np.zeros((0, encoder.dimension), np.float32) if v is None else v, errors,
                     empty, quantizer)


def _encode_chunk(dataset, refs, extractor, max_side, targets):
    """A worker's task: one chunk of images, each decoded and described once, then encoded into the
    shard of every store (split) that holds it, on the CPU."""
    images, errors = _decode_chunk(dataset, refs, extractor.image_mode, max_side)

    def fitted(target):
        quantizer = ProductQuantizer.from_arrays(target["quantizer"]) if target["quantizer"] else None
        return _fitted_encoder(target["enc"], target["pca"], target["vocabulary"]), quantizer
    _encode_targets(targets, images, errors, extractor.extract, fitted, one_at_a_time=True)
    return errors


def _on_backend(tasks, run_cfg, desc: str, progress: bool, compute):
    """``compute(task, (images, errors))`` for the chunk ``tasks`` (the worker functions' argument tuples:
    dataset, refs, extractor, max_side, ...) in this process, while ``run.n_jobs`` threads decode the
    next chunks' images."""
    def decode(task):
        dataset, refs, extractor, max_side = task[:4]
        return _decode_chunk(dataset, refs, extractor.image_mode, max_side)
    threads = effective_n_jobs(run_cfg.n_jobs)       # -1: all cores, as for the worker processes
    return run_overlapped(decode, compute, tasks, threads, ahead=max(2, threads), desc=desc, progress=progress)


# -- the runner ----------------------------------------------------------------------------------

class Runner:
    """Runs one experiment configuration; ``run()`` returns the metrics dict and writes the run folder."""

    def __init__(self, config: ExperimentConfig, data_root: Path, cache_root: Path, out_dir: Path | None = None,
                 progress: bool = True, log=print):
        self.config = validate(config)
        self.data_root = Path(data_root)
        self.cache = Cache(cache_root)
        self.out_dir = Path(out_dir) if out_dir else Path("runs") / config.name
        self.progress = progress
        self.log = log
        self.xp, _ = get_backend(config.backend)
        self.extractor = descriptor_extractor(config)
        self.stages: list[dict] = []
        self.skipped: dict[str, str] = {}                   # file -> why it was left out
        self.without_descriptors: dict[str, str] = {}       # file -> why it has no usable descriptor
        self.fingerprints: dict[str, str] = {}              # split -> Dataset.fingerprint of its images
        self.client = None

    @property
    def on_backend(self) -> bool:
        """Whether the per-image stages run in this process on the array backend (the GPU: one device,
        one owner; CPU threads decode meanwhile) rather than in worker processes on the CPU."""
        mode = self.config.run.encode_on
        return mode == "backend" or (mode == "auto" and self.config.backend != "numpy" and self.client is None)

    # bookkeeping
    def _stage(self, name: str, key: str, split: str, compute):
        """The stage's folder, computed by ``compute(folder)`` unless done.  Computed only under the
        stage's lock: a process that finds another computing it waits, then finds it done."""
        start = time.perf_counter()
        reset_peak_memory()
        worker_peak = 0.0
        cached = self.cache.done(name, key)
        if not cached:
            lock = self.cache.lock(name, key)
            if not lock.acquire(blocking=False):
                self.log(f"  {name:<7} being computed by another process ({lock.holder() or 'unknown'}): waiting")
                lock.acquire()
            try:
                cached = self.cache.done(name, key)          # the other process may have finished it
                if not cached:
                    begin = time.perf_counter()
                    worker_peak = compute(self.cache.folder(name, key)) or 0.0
                    self.cache.finish(name, key, {"worker_peak_mb": worker_peak,
                                                  "seconds": time.perf_counter() - begin})
            finally:
                lock.release()
        seconds = time.perf_counter() - start
        # what the stage cost when it was computed (this run or an earlier one): a cached run still
        # reports the price of reproducing it from scratch
        computed = seconds if not cached else self.cache.info(name, key).get("seconds")
        record = {"stage": name, "split": split, "key": key, "cached": cached, "seconds": round(seconds, 3),
                  "compute_seconds": None if computed is None else round(computed, 3),
                  "peak_mb": round(peak_memory_mb(), 1), "worker_peak_mb": round(worker_peak, 1)}
        self.stages.append(record)
        self.log(f"  {name:<7} {'cached' if cached else 'done  '} {seconds:8.1f} s   peak "
                 f"{record['peak_mb']:.0f} MiB (workers {worker_peak:.0f} MiB)")
        return self.cache.folder(name, key)

    def _claim_pending(self, stage: str, candidates: list[dict], key_of, held: ExitStack) -> list[dict]:
        """Of the later splits' stages that a shared pass could compute with this one, those not done
        and not being computed by another process; their locks are held (in ``held``) until the pass
        is over.  One held elsewhere is left to its holder (waiting could deadlock two passes)."""
        claimed = []
        for candidate in candidates:
            key = key_of(candidate)
            if self.cache.done(stage, key):
                continue
            lock = self.cache.lock(stage, key)
            if lock.acquire(blocking=False):
                held.callback(lock.release)
                if not self.cache.done(stage, key):
                    claimed.append(candidate)
        return claimed

    def _chunks(self, refs):
        size = self.config.run.chunk_size
        return [refs[i:i + size] for i in range(0, len(refs), size)]

    # stages
    def _sample_plan(self, dataset: Dataset, split: Split) -> dict:
        """A split's descriptor sample: its images (``sample_images``, equally per class), the quota
        per image, the seed of each image's draw, and the stage key."""
        cfg, enc = self.config, self.config.encoder
        rng = np.random.default_rng(cfg.seed)
        n_classes = len(dataset.class_names)
        per_class = max(1, math.ceil(enc.sample_images / n_classes))
        chosen = []
        for c in range(n_classes):
            members = np.flatnonzero(split.train_labels == c)
            chosen.extend(rng.permutation(members)[:per_class].tolist())
        refs = [split.train[i] for i in sorted(chosen)]
        key = stable_hash("sample", STAGE_VERSIONS["sample"], asdict(cfg.features), cfg.data.max_side,
                          self.dataset_identity, refs, dataset.fingerprint(refs), enc.sample_size, enc.drop_empty,
                          cfg.seed)
        size = cfg.run.chunk_size
        # image k's draw: the seed it had when each split walked its own list in chunks (chunk + position)
        seeds = [cfg.seed + k // size + k % size for k in range(len(refs))]
        return dict(split=split, refs=refs, seeds=seeds, key=key,
                    quota=max(1, math.ceil(enc.sample_size / max(1, len(refs)))))

    def _sample(self, dataset: Dataset, plans: list[dict], index: int) -> tuple[str, Path]:
        """Split ``plans[index]``'s descriptor sample, drawn in one pass with the later splits' samples
        not yet drawn: an image in several samples is decoded and described once (Caltech-101's 3
        samples of 1,020 images hold 2,486 distinct ones); each split's sample is the one its own pass
        would draw."""
        cfg, enc, plan = self.config, self.config.encoder, plans[index]

        def compute(folder: Path):
            with ExitStack() as held:
                return draw(folder, [plan] + self._claim_pending("sample", plans[index + 1:], lambda p: p["key"], held))

        def draw(folder: Path, pending: list[dict]):
            union = list(dict.fromkeys(ref for p in pending for ref in p["refs"]))
            draws_of = {ref: [] for ref in union}
            for slot, p in enumerate(pending):
                for k, (ref, seed) in enumerate(zip(p["refs"], p["seeds"])):
                    draws_of[ref].append((slot, k, p["quota"], seed))
            tasks = [(dataset, chunk, self.extractor, cfg.data.max_side, [draws_of[ref] for ref in chunk],
                      enc.drop_empty) for chunk in self._chunks(union)]
            names = " + ".join(p["split"].name for p in pending)
            if self.on_backend:
                def sample(task, decoded):
                    images, errors = decoded
                    return _sampled_descriptors(self.extractor, images, task[4], enc.drop_empty, self.xp), errors
                results, _ = _on_backend(tasks, cfg.run, f"sample {names}", self.progress, sample)
                peak = 0.0
            else:
                results, peak = run_chunks(_sample_chunk, tasks, cfg.run.n_jobs, f"sample {names}", self.progress,
                                           self.client)
            parts = [dict() for _ in pending]
            for drawn, _ in results:
                for slot, k, descriptors in drawn:
                    parts[slot][k] = descriptors
            errors = [e for r in results for e in r[1]]
            for slot, p in enumerate(pending):
                mine = [parts[slot][k] for k in sorted(parts[slot])]
                sample = np.concatenate(mine) if mine else np.zeros((0, 1), np.float32)
                if len(sample) > enc.sample_size:
                    sample = sample[np.sort(np.random.default_rng(cfg.seed).choice(len(sample), enc.sample_size,
                                                                                   False))]
                if len(sample) < max(enc.n_components, 2):
                    raise ConfigError(f"encoder.n_components = {enc.n_components}: the sample of split "
                                      f"{p['split'].name} holds only {len(sample)} usable descriptors, too few to fit "
                                      f"the vocabulary; lower encoder.n_components, raise encoder.sample_images, or "
                                      f"check the images (too small or too uniform for the features' frames)")
                target = folder if slot == 0 else self.cache.folder("sample", p["key"])
                refs = set(p["refs"])
                save_npy(target / "sample.npy", sample)
                save_json(target / "errors.json", [e for e in errors if e["file"] in refs])
                if slot:        # its time is counted in this split's stage
                    self.cache.finish("sample", p["key"], {"seconds": 0.0, "sampled_with": plan["key"],
                                                           "worker_peak_mb": peak})
            return peak
        return plan["key"], self._stage("sample", plan["key"], plan["split"].name, compute)

    def _pca(self, sample_key: str, sample_folder: Path, split: Split) -> tuple[str, Path]:
        enc = self.config.encoder
        key = stable_hash("pca", STAGE_VERSIONS["pca"], enc.pca_dims, enc.whiten, sample_key)

        def compute(folder: Path):
            if not enc.pca_dims:
                save_npz(folder / "pca.npz")
                return
            sample = self.xp.asarray(load_npy(sample_folder / "sample.npy"))
            pca = PCA(enc.pca_dims, whiten=enc.whiten).fit(sample)
            save_npz(folder / "pca.npz", **{k: to_numpy(v) for k, v in pca.to_arrays().items()})
        return key, self._stage("pca", key, split.name, compute)

    def _vocabulary(self, pca_key, sample_folder, pca_folder, split) -> tuple[str, Path]:
        cfg, enc = self.config, self.config.encoder
        stage = vocabulary_stage(enc)
        if stage == "gmm":
            key = stable_hash("gmm", STAGE_VERSIONS["gmm"], enc.n_components, enc.gmm_max_iter, enc.gmm_tol,
                              enc.variance_floor, cfg.seed, pca_key)
        else:
            key = stable_hash("kmeans", STAGE_VERSIONS["kmeans"], enc.n_components, enc.kmeans_iter, cfg.seed, pca_key)

        def compute(folder: Path):
            sample = self.xp.asarray(load_npy(sample_folder / "sample.npy"))
            pca_arrays = load_npz(pca_folder / "pca.npz")
            if pca_arrays:
                sample = PCA.from_arrays({k: self.xp.asarray(v) for k, v in pca_arrays.items()},
                                         enc.whiten).transform(sample)
            if stage == "gmm":
                model = DiagonalGMM(enc.n_components, max_iter=enc.gmm_max_iter, tol=enc.gmm_tol,
                                    variance_floor=enc.variance_floor, seed=cfg.seed).fit(sample)
                fit = {"n_iter": model.n_iter_, "converged": model.converged_,
                       "mean_log_likelihood": model.lower_bound_}
            else:
                model = KMeans(enc.n_components, n_iter=enc.kmeans_iter, seed=cfg.seed).fit(sample)
                fit = {"n_iter": enc.kmeans_iter, "mean_squared_distance": model.mean_distance_}
            save_npz(folder / f"{stage}.npz", **{k: to_numpy(v) for k, v in model.to_arrays().items()})
            save_json(folder / "fit.json", fit)
        return key, self._stage(stage, key, split.name, compute)

    def _encoding_identity(self) -> dict:
        """What an encoding depends on beyond the vocabulary (the Fisher-vector set is the original one,
        so that existing feature stores keep their keys)."""
        enc = self.config.encoder
        identity = {"pyramid": enc.pyramid, "improved": enc.improved, "drop_empty": enc.drop_empty,
                    "store_dtype": enc.store_dtype, "whiten": enc.whiten}
        if enc.kind == "bow":
            identity.update(kind="bow", assignment=enc.assignment, kernel_map=enc.kernel_map,
                            **({"n_nearest": enc.n_nearest, "beta": enc.beta} if enc.assignment == "soft" else {}))
        elif enc.kind != "fisher":
            identity.update(kind=enc.kind)
        return identity

    def _encode_stores(self, dataset, order: list, stores: list[dict], label: str, space=None) -> float:
        """Encode several stores in one pass over their images, each image decoded and described once.

        ``stores``: dicts with the store's ``refs`` (its rows, in order), ``folder``, ``enc`` and the
        fitted ``pca``, ``vocabulary`` (and ``quantizer``) arrays.  The pass walks, in chunks of
        ``run.chunk_size``, the images of the ``order`` lists (all the run's splits, even those already
        encoded, so that a store's layout does not depend on what was cached) in order of first
        appearance; a store's shard ``j`` holds its images in chunk ``j`` and lists their rows.  The
        first split's shards are thus its own consecutive chunks.  Finished shards are skipped: a
        killed run resumes.  ``space``: (what, advice) of the disk check when the stores are not a
        split's feature store.
        """
        cfg = self.config
        union = list(dict.fromkeys(ref for refs in order for ref in refs))
        rows = [{ref: row for row, ref in enumerate(store["refs"])} for store in stores]
        tasks = []
        for j, chunk in enumerate(self._chunks(union)):
            targets = []
            for store, row_of in zip(stores, rows):
                members = [i for i, ref in enumerate(chunk) if ref in row_of]
                shard = store["folder"] / f"shard_{j:05d}"
                if members and not shard.with_suffix(".json").exists():
                    targets.append(dict(store, shard=shard, members=members, rows=[row_of[chunk[i]] for i in members],
                                        refs=[chunk[i] for i in members]))
            if targets:
                tasks.append((dataset, chunk, self.extractor, cfg.data.max_side, targets))
        self._check_disk(stores[0]["folder"], [(t["enc"], len(t["members"])) for task in tasks for t in task[4]], space)
        if not self.on_backend:
            _, peak = run_chunks(_encode_chunk, tasks, cfg.run.n_jobs, label, self.progress, self.client)
            return peak
        xp = self.xp
        on_device = {}
        for store in stores:
            quantizer = store["quantizer"]
            on_device[store["folder"]] = (
                _fitted_encoder(store["enc"], store["pca"], store["vocabulary"], xp),
                ProductQuantizer.from_arrays({k: xp.asarray(v) for k, v in quantizer.items()}) if quantizer else None)

        def encode(task, decoded):
            images, errors = decoded
            _encode_targets(task[4], images, errors, lambda image: self.extractor.extract(xp.asarray(image)),
                            lambda target: on_device[target["folder"]], one_at_a_time=False)
        _on_backend(tasks, cfg.run, label, self.progress, encode)
        return 0.0          # no workers: the stage's own peak is this process's

    def _check_disk(self, folder: Path, needs: list[tuple[dict, int]], space=None) -> None:
        """Refuse, before any work, stores that the disk would not hold; ``needs``: (enc, images) pairs;
        ``space``: (what, advice) for the message, else a split's feature store's."""
        from ..report.tables import encoded_dimension
        dimension = encoded_dimension(self.config.to_dict())
        n_images = sum(n for _, n in needs)
        need = sum(n * bytes_per_vector(enc["store_dtype"], dimension, enc["pq_subvector_dims"]) for enc, n in needs)
        if space is None:
            stored = {enc["store_dtype"] for enc, _ in needs}
            pq = n_images * bytes_per_vector("pq", dimension, self.config.encoder.pq_subvector_dims)
            switch = f"set encoder.store_dtype=pq (~{format_bytes(pq)}), " if stored != {"pq"} else ""
            space = (f"the feature store ({n_images:,} images x {dimension:,} dims)",
                     f"{switch}shrink the encoding, take a subset, free space, or set CLASSIC_CACHE")
        check_space(folder, need, *space)

    def _store(self, refs, folder: Path, enc: dict, pca_folder: Path, vocabulary_folder: Path, quantizer=None) -> dict:
        return {"refs": refs, "folder": folder, "enc": enc, "pca": load_npz(pca_folder / "pca.npz"),
                "vocabulary": load_npz(vocabulary_folder / f"{vocabulary_stage(self.config.encoder)}.npz"),
                "quantizer": quantizer}

    def _quantizer(self, dataset, split, vocabulary_key, pca_folder, vocabulary_folder) -> tuple[str | None, Path | None]:
        """PQ codebooks fitted on the encodings of up to ``pq_train_images`` random training images."""
        cfg, enc = self.config, self.config.encoder
        if enc.store_dtype != "pq":
            return None, None
        chosen = np.sort(np.random.default_rng(cfg.seed).permutation(len(split.train))[:enc.pq_train_images])
        refs = [split.train[i] for i in chosen]
        key = stable_hash("pq", STAGE_VERSIONS["pq"], asdict(cfg.features), cfg.data.max_side,
                          self._encoding_identity(), self.dataset_identity, refs, dataset.fingerprint(refs),
                          cfg.run.chunk_size,
                          enc.pq_subvector_dims, enc.pq_bits, enc.pq_iter, cfg.seed, vocabulary_key)

        def compute(folder: Path):
            vectors = folder / "training_vectors"       # float16 encodings, removed once the codebooks exist
            store = self._store(refs, vectors, dict(asdict(enc), store_dtype="float16"), pca_folder, vocabulary_folder)
            # held as float16 until the codebooks are fitted, then removed
            peak = self._encode_stores(dataset, [refs], [store], "pq vectors", space=(
                f"fitting the PQ codebooks ({len(refs):,} training images' vectors, held as float16)",
                f"lower encoder.pq_train_images (now {enc.pq_train_images:,}), shrink the encoding, free space, or "
                f"set CLASSIC_CACHE"))
            store = FeatureStore(vectors)
            rows, _ = store.train_and_test_rows(len(store))      # images with descriptors (no zero vectors)
            X = np.empty((len(rows), store.shape[1]), dtype=np.float16)
            for a in range(0, len(rows), 256):
                X[a:a + 256] = store[rows[a:a + 256]]
            start = time.perf_counter()
            pq = ProductQuantizer(enc.pq_subvector_dims, enc.pq_bits, enc.pq_iter, cfg.seed).fit(self.xp.asarray(X))
            save_npz(folder / "pq.npz", **{k: to_numpy(v) for k, v in pq.to_arrays().items()})
            save_json(folder / "fit.json", {"images": int(len(rows)), "dimension": int(X.shape[1]),
                                            "subquantizers": int(pq.codebooks_.shape[0]), "bits": enc.pq_bits,
                                            "relative_squared_error": pq.distortion_,
                                            "compression_vs_float32": pq.compression_ratio,
                                            "fit_seconds": round(time.perf_counter() - start, 1)})
            shutil.rmtree(vectors)
            return peak
        return key, self._stage("pq", key, split.name, compute)

    def _encode_key(self, dataset, splits: list, index: int, vocabulary_key: str, quantizer_key: str | None) -> str:
        """A store's key; beyond the first split it also names the earlier splits, whose images come
        first in the shared pass (see :meth:`_encode_stores`) and so fix this store's layout."""
        cfg, split = self.config, splits[index]
        refs = list(split.train) + list(split.test)
        earlier = [list(s.train) + list(s.test) for s in splits[:index]]
        return stable_hash("encode", STAGE_VERSIONS["encode"], asdict(cfg.features), cfg.data.max_side,
                           self._encoding_identity(), self.dataset_identity, refs, dataset.fingerprint(refs),
                           cfg.run.chunk_size, vocabulary_key,
                           *([quantizer_key] if quantizer_key else []), *([stable_hash(earlier)] if earlier else []))

    def _encode(self, dataset, jobs: list[dict], index: int) -> tuple[str, Path]:
        """The feature store of split ``jobs[index]``, encoded in one pass with the stores of the later
        splits not yet encoded: an image in several splits is decoded and described once (on
        Caltech-101, 3 splits of 6,055 images hold 7,118 distinct ones)."""
        job = jobs[index]

        def compute(folder: Path):
            with ExitStack() as held:
                return encode(folder, [job] + self._claim_pending("encode", jobs[index + 1:],
                                                                  lambda j: j["encode_key"], held))

        def encode(folder: Path, pending: list[dict]):
            stores = []
            for j in pending:
                store_folder = self.cache.folder("encode", j["encode_key"])
                quantizer = None
                if j["quantizer_folder"] is not None:     # the store carries its codebooks: it decodes itself
                    quantizer = load_npz(j["quantizer_folder"] / "pq.npz")
                    store_folder.mkdir(parents=True, exist_ok=True)
                    save_npz(store_folder / "quantizer.npz", **quantizer)
                stores.append(self._store(j["refs"], store_folder, asdict(self.config.encoder), j["pca_folder"],
                                          j["vocabulary_folder"], quantizer))
            names = " + ".join(j["split"].name for j in pending)
            peak = self._encode_stores(dataset, [j["refs"] for j in jobs], stores, f"encode {names}")
            for j in pending[1:]:      # their time is counted in this split's stage
                self.cache.finish("encode", j["encode_key"], {"seconds": 0.0, "encoded_with": job["encode_key"],
                                                              "worker_peak_mb": peak})
            return peak
        return job["encode_key"], self._stage("encode", job["encode_key"], job["split"].name, compute)

    def _kernel(self, encode_key, encode_folder, split) -> tuple[str, Path]:
        key = stable_hash("kernel", STAGE_VERSIONS["kernel"], encode_key)
        n_train, n_all = len(split.train), len(split.train) + len(split.test)

        def compute(folder: Path):
            store = FeatureStore(encode_folder, n_all)

            def block(indices):
                return self.xp.asarray(store[indices])

            train, everything = store.train_and_test_rows(n_train)
            size = self.config.run.kernel_block
            # as many training rows held in memory (float32) as run.kernel_memory_mb allows; each held
            # block meets itself in one symmetric product (half the work) and then every later row of
            # the store, read a block ahead on a thread while the product runs: the store is read once
            # per held block, once in all when the training set fits
            width = max(size, int(self.config.run.kernel_memory_mb * 2 ** 20 // (4 * max(1, store.shape[1]))))
            gram = np.zeros((len(everything), len(train)), dtype=np.float32)
            for a in range(0, len(train), width):
                right = block(train[a:a + width])
                end = a + len(right)
                gram[a:end, a:end] = to_numpy(right @ right.T)

                def product(b, left):
                    gram[b:b + size, a:end] = to_numpy(left @ right.T)
                run_overlapped(lambda b: block(everything[b:b + size]), product, range(end, len(everything), size),
                               n_threads=1, ahead=1, progress=False)
            t = len(train)      # the upper triangle of train x train, never computed, mirrors the lower
            lower = np.tril(gram[:t, :t])
            gram[:t, :t] = lower + np.tril(lower, -1).T
            save_npy(folder / "gram.npy", gram)
            save_npz(folder / "index.npz", train=train, everything=everything)
        return key, self._stage("kernel", key, split.name, compute)

    def _svm(self, kernel_key, kernel_folder, split, n_classes) -> tuple[str, Path]:
        s = self.config.svm
        key = stable_hash("svm", STAGE_VERSIONS["svm"], asdict(s), kernel_key,
                          split.train_labels.tolist(), split.test_labels.tolist())

        def compute(folder: Path):
            gram = load_npy(kernel_folder / "gram.npy")
            index = load_npz(kernel_folder / "index.npz")
            labels = np.concatenate([split.train_labels, split.test_labels])
            t = len(index["train"])
            y_train, k_train = labels[index["train"]], gram[:t]
            C, cv = s.C, {}
            if s.C_grid:
                C, cv = choose_C(k_train, y_train, s, n_classes, self.config.seed, self.config.run.n_jobs)
            svm = LinearSVM(C=C, loss=s.loss, tol=s.tol, max_iter=s.max_iter,
                            n_jobs=self.config.run.n_jobs).fit_kernel(k_train, y_train)
            test_rows = index["everything"] >= len(split.train)
            scores = np.full((int(test_rows.sum()), n_classes), -np.inf, dtype=np.float32)
            scores[:, svm.classes_] = svm.decision_function_kernel(gram[test_rows])
            save_npy(folder / "scores.npy", scores)
            save_npy(folder / "test_labels.npy", labels[index["everything"][test_rows]])
            save_npz(folder / "index.npz", **index)
            # the model in kernel form: scores of a new vector x are dual_coef @ (X_train[train] x) + intercept
            save_npz(folder / "model.npz", dual_coef=svm.dual_coef_, intercept=svm.intercept_, classes=svm.classes_)
            save_json(folder / "svm.json", {"solver": "kernel", "C": C, "cv": cv})
        return key, self._stage("svm", key, split.name, compute)

    def _svm_streaming(self, encode_key, encode_folder, split, n_classes) -> tuple[str, Path]:
        """All one-vs-rest SVMs by mini-batch SGD or dual coordinate descent, streaming the training
        features from the store."""
        s = self.config.svm
        key = stable_hash("svm", STAGE_VERSIONS["svm"], asdict(s), encode_key, self.config.backend,
                          split.train_labels.tolist(), split.test_labels.tolist())
        n_train = len(split.train)

        def compute(folder: Path):
            store = FeatureStore(encode_folder, n_train + len(split.test))
            labels = np.concatenate([split.train_labels, split.test_labels])
            train, everything = store.train_and_test_rows(n_train)
            test = everything[len(train):]
            common = dict(lam=s.sgd_lambda, batch_size=s.sgd_batch_size, max_epochs=s.sgd_epochs,
                          patience=s.sgd_patience, validation_fraction=s.sgd_validation_fraction, loss=s.loss,
                          backend=self.config.backend, seed=self.config.seed)
            if s.solver == "sgd":
                svm = SGDLinearSVM(eta0=s.sgd_eta0, average=s.sgd_average, **common).fit(store.subset(train),
                                                                                         labels[train])
            else:     # the dual variables in a file beside the model: memory does not grow with n
                folder.mkdir(parents=True, exist_ok=True)
                dual = RowFile(folder / "dual.f32", (len(train), len(np.unique(labels[train]))))
                try:
                    svm = DualCoordinateSVM(tol=s.dcd_tol, **common).fit(store.subset(train), labels[train],
                                                                         dual=dual)
                finally:
                    dual.close()
                    dual.path.unlink()
            scores = np.full((len(test), n_classes), -np.inf, dtype=np.float32)
            scores[:, svm.classes_] = to_numpy(svm.decision_function(store.subset(test)))
            save_npy(folder / "scores.npy", scores)
            save_npy(folder / "test_labels.npy", labels[test])
            save_npz(folder / "index.npz", train=train, everything=everything)
            save_npz(folder / "model.npz", coef=to_numpy(svm.coef_).astype(np.float16),
                     intercept=to_numpy(svm.intercept_), classes=svm.classes_)
            save_json(folder / "svm.json", {"solver": s.solver, "C": None, "best_epoch": svm.best_epoch_,
                                            "selected_by": svm.selected_by_, "history": svm.history_})
        return key, self._stage("svm", key, split.name, compute)

    # the whole run
    @property
    def dataset_identity(self):
        d = self.config.data
        return [d.dataset, d.root, d.test_root, d.size if d.dataset == "digits" else None] + (
            [d.n_classes, d.class_subset, d.test_set] if d.dataset.startswith("ilsvrc") else [])

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
            return self._run()
        finally:
            if self.client is not None:
                cluster = getattr(self.client, "cluster", None)
                self.client.close()
                if cluster is not None:
                    cluster.close()
                self.client = None

    def _run(self) -> dict:
        start = time.perf_counter()
        cfg = self.config
        dataset = build_dataset(cfg, self.data_root)
        splits = dataset.splits()
        for s in dataset.skipped:           # after splits(): a separate test tree is listed there
            self.skipped[s["file"]] = s["reason"]
        check_splits(cfg, dataset, splits)
        # what each split's images were when the run read them (sizes, modification times)
        self.fingerprints = {split.name: dataset.fingerprint(list(split.train) + list(split.test)) for split in splits}
        n_classes = len(dataset.class_names)
        self.log(f"{cfg.name}: {dataset.name}, {n_classes} classes, {len(splits)} split(s)")
        # every split's vocabulary first, so that one pass over the images encodes all their stores
        jobs = []
        plans = [self._sample_plan(dataset, split) for split in splits]
        for index, split in enumerate(splits):
            self.log(f"split {split.name}: {len(split.train)} train / {len(split.test)} test images")
            sample_key, sample_folder = self._sample(dataset, plans, index)
            pca_key, pca_folder = self._pca(sample_key, sample_folder, split)
            vocabulary_key, vocabulary_folder = self._vocabulary(pca_key, sample_folder, pca_folder, split)
            quantizer_key, quantizer_folder = self._quantizer(dataset, split, vocabulary_key, pca_folder,
                                                              vocabulary_folder)
            jobs.append(dict(split=split, refs=list(split.train) + list(split.test), sample_folder=sample_folder,
                             pca_folder=pca_folder, vocabulary_folder=vocabulary_folder,
                             quantizer_folder=quantizer_folder,
                             encode_key=self._encode_key(dataset, splits, index, vocabulary_key, quantizer_key)))
        results = []
        for index, job in enumerate(jobs):
            split, sample_folder = job["split"], job["sample_folder"]
            if len(splits) > 1:
                self.log(f"split {split.name}")
            encode_key, encode_folder = self._encode(dataset, jobs, index)
            if cfg.svm.solver != "kernel":
                _, svm_folder = self._svm_streaming(encode_key, encode_folder, split, n_classes)
            else:
                kernel_key, kernel_folder = self._kernel(encode_key, encode_folder, split)
                _, svm_folder = self._svm(kernel_key, kernel_folder, split, n_classes)
            store = FeatureStore(encode_folder, len(split.train) + len(split.test))
            for e in load_json(sample_folder / "errors.json") + store.errors:
                self.skipped[e["file"]] = e["reason"]
            for e in store.without_descriptors:
                self.without_descriptors[e["file"]] = e["reason"]
            empty = store.valid & store.empty
            index = load_npz(svm_folder / "index.npz")
            scores, test_labels = load_npy(svm_folder / "scores.npy"), load_npy(svm_folder / "test_labels.npy")
            metrics = evaluate(scores, test_labels, n_classes)
            metrics.update(split=split.name, scores=scores, test_labels=test_labels, n_train=int(len(index["train"])),
                           n_test=int((index["everything"] >= len(split.train)).sum()),
                           n_train_without_descriptors=int(empty[:len(split.train)].sum()),
                           n_test_without_descriptors=int(empty[len(split.train):].sum()),
                           C=load_json(svm_folder / "svm.json")["C"])
            results.append(metrics)
            self.log(f"  mean class accuracy {100 * metrics['mean_class_accuracy']:.2f}%  top-1 error "
                     f"{100 * metrics['top1_error']:.2f}%  top-5 error {100 * metrics['top5_error']:.2f}%")
        summary = summarise(results, self.stages, n_classes, time.perf_counter() - start)
        self.write_run_folder(summary, results, dataset)
        return summary

    def write_run_folder(self, summary, results, dataset):
        from ..report.tables import run_report
        out = self.out_dir
        save_text(out / "config.yaml", dump_config(self.config))
        save_json(out / "manifest.json",
                  manifest(self.config, self.stages, self.skipped, self.data_root, self.cache.root.resolve(),
                           self.without_descriptors, self.fingerprints))
        write_results(out, summary, results, dataset.class_names, run_report(self.config, summary, dataset.class_names,
                                                                             results))


def write_results(out: Path, summary: dict, results: list[dict], class_names: list[str], report: str) -> None:
    """A run folder's results: per split the test scores, labels and confusion matrix, the figures,
    ``report.md``, and last ``metrics.json``: every file is written atomically, so a folder holding
    ``metrics.json`` is complete (a full disk or a kill before it leaves a folder that says it is not)."""
    save_json(out / "classes.json", class_names)
    for r in results:
        save_npy(out / f"confusion_{r['split']}.npy", r["confusion"])
        # test scores and labels: what late fusion (`classic fuse`) and outside analyses need
        save_npy(out / f"scores_{r['split']}.npy", r["scores"])
        save_npy(out / f"test_labels_{r['split']}.npy", r["test_labels"])
    run_figures(out, class_names, results)
    save_text(out / "report.md", report)
    save_json(out / "metrics.json", summary)


def run_figures(out: Path, class_names, results) -> None:
    """confusion.{png,svg} (summed over the splits) and per_class.{png,svg} (mean over the splits)."""
    from ..report.figures import confusion_figure, per_class_figure
    splits = f" ({len(results)} splits)" if len(results) > 1 else ""
    confusion_figure(sum(r["confusion"] for r in results), class_names, out / "confusion",
                     f"Confusion matrix{splits}, rows normalised")
    per_class_figure(np.nanmean([r["per_class_accuracy"] for r in results], axis=0), class_names,
                     out / "per_class", f"Per-class accuracy{splits}")


def choose_C(k_train, y, svm_cfg, n_classes, seed, n_jobs=-1) -> tuple[float, dict]:
    """C with the best mean per-class accuracy in stratified k-fold CV on the training Gram matrix."""
    from sklearn.model_selection import StratifiedKFold
    folds = StratifiedKFold(svm_cfg.cv_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    folds = list(folds)
    scores = {}
    for C in svm_cfg.C_grid:
        accuracies = []
        for fit_idx, val_idx in folds:
            svm = LinearSVM(C=C, loss=svm_cfg.loss, tol=svm_cfg.tol, max_iter=svm_cfg.max_iter, n_jobs=n_jobs)
            svm.fit_kernel(k_train[np.ix_(fit_idx, fit_idx)], y[fit_idx])
            s = np.full((len(val_idx), n_classes), -np.inf, dtype=np.float32)
            s[:, svm.classes_] = svm.decision_function_kernel(k_train[np.ix_(val_idx, fit_idx)])
            accuracies.append(evaluate(s, y[val_idx], n_classes)["mean_class_accuracy"])
        scores[str(C)] = float(np.mean(accuracies))
    best = max(svm_cfg.C_grid, key=lambda c: scores[str(c)])
    return float(best), scores


# per split: training images left out for want of a usable descriptor, test images scored as empty ones
WITHOUT_DESCRIPTORS = ("n_train_without_descriptors", "n_test_without_descriptors")


def summarise(results: list[dict], stages: list[dict], n_classes: int, wall: float) -> dict:
    keys = ("top1_error", "top5_error", "mean_class_accuracy")
    summary = {k: float(np.mean([r[k] for r in results])) for k in keys}
    summary.update({f"{k}_std": float(np.std([r[k] for r in results])) for k in keys})
    seconds, peaks = {}, {}
    for s in stages:
        seconds[s["stage"]] = round(seconds.get(s["stage"], 0) + s["seconds"], 3)
        peaks[s["stage"]] = max(peaks.get(s["stage"], 0), s["peak_mb"], s["worker_peak_mb"])
    summary.update(
        n_classes=n_classes, n_train=results[0]["n_train"], n_test=results[0]["n_test"], n_splits=len(results),
        splits=[{"split": r["split"], **{k: r[k] for k in keys}, "n_train": r["n_train"], "n_test": r["n_test"],
                 "C": r["C"], **{k: r[k] for k in WITHOUT_DESCRIPTORS if k in r}} for r in results],
        seconds_per_stage=seconds, peak_memory_mb_per_stage=peaks,
        peak_memory_mb=max(peaks.values()) if peaks else 0.0, wall_seconds=round(wall, 1),
        # the cost from an empty cache (None when a cached stage predates the recording of its time)
        compute_seconds=None if any(s["compute_seconds"] is None for s in stages)
        else round(sum(s["compute_seconds"] for s in stages), 1))
    return summary


def hardware(backend: str) -> dict:
    """The machine, as a paper's table names it: CPU model and count, memory, GPU if one was used."""
    import os
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2 ** 30, 1)
    gpu = None
    if backend == "cupy":
        import cupy
        gpu = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
    return {"cpu": cpu, "cpu_count": cpu_count(), "memory_gib": memory, "gpu": gpu}


def manifest(config, stages, skipped, data_root, cache_root, without_descriptors=None, fingerprints=None) -> dict:
    import joblib
    import PIL
    import scipy
    import sklearn
    import yaml

    from .. import __version__
    return {
        "classic": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                     "pillow": PIL.__version__, "joblib": joblib.__version__, "pyyaml": yaml.__version__},
        "data_root": str(data_root), "cache_root": str(cache_root), "backend": config.backend, "hardware": hardware(config.backend),
        "data_fingerprints": fingerprints or {},
        "stages": stages,
        "skipped_files": [{"file": f, "reason": r} for f, r in sorted(skipped.items())],
        "images_without_descriptors": [{"file": f, "reason": r} for f, r in sorted((without_descriptors or {}).items())],
    }
