"""``classic estimate CONFIG``: the cost of a run projected from a measured sample, before running it.

The per-image stages (decode + descriptors, encoding) are timed on ``n_images`` real images with the
config's settings, single-threaded, after a PCA and vocabulary are fitted on their descriptors (K as
configured).  The per-dataset stages are projected from measured rates: one EM iteration of the
vocabulary on the configured sample size, this machine's float32 matrix-multiply rate for the Gram
matrix, the SVM solver's cost model.  The projection covers: this machine (all cores as workers),
N machines like it (Dask workers), and one GPU when the GPU check's figures are given
(``--gpu-results benchmarks/gpu_results.json``).  Disk: the feature store at its dtype.  With a PQ
store, fitting the codebooks and quantising each image are timed on 16 sub-quantisers and scaled
to the encoding's dimension.

Where the dataset is not on this machine (ImageNet), ``images`` names any folder of sample images and
the dataset's published size is used; the images stand in for its per-image cost.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..data import ImageError, load_image
from ..encoding import ProductQuantizer, sample_descriptors
from .build import build_dataset, encoded_dimension, make_encoder, make_extractor
from .config import ExperimentConfig, check_splits
from .parallel import cpu_count
from .store import bytes_per_vector

# published sizes: (training images, test images)
KNOWN_SIZES = {"ilsvrc2012": (1_281_167, 50_000), "ilsvrc2010": (1_261_406, 150_000)}
# bytes per second of one pass over a large float32 array (read and write), a rate to project
# memory-bound steps by: about what the SGD steps on Caltech-101 reach on the development machines
MEMORY_BANDWIDTH = 10e9


def _matmul_rate() -> float:
    """float32 GFLOP/s of one thread on a 2048^3 product (the Gram matrix's operation)."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    a @ a
    start = time.perf_counter()
    for _ in range(3):
        a @ a
    return 3 * 2 * 2048 ** 3 / (time.perf_counter() - start) / 1e9


def estimate(config: ExperimentConfig, data_root: Path, n_images: int = 16, images: Path | None = None,
             workers: tuple[int, ...] = (1, 4, 16), gpu_results: Path | None = None) -> dict:
    """The projected cost of running ``config``: per-stage seconds, store size and memory, for this machine, N such machines and one GPU (see the module docstring)."""
    d, enc, s = config.data, config.encoder, config.svm
    mode = make_extractor(config).image_mode          # what the run decodes the images to (gray, or RGB for colour)
    if images is not None:
        paths = sorted(p for p in Path(images).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n_images]
        loaders = [lambda p=p: load_image(p, mode, d.max_side) for p in paths]
        n_train, n_test = KNOWN_SIZES.get(d.dataset, (None, None))
        if n_train is None:
            raise ValueError(f"no published size for {d.dataset!r}: run estimate where the dataset is")
        n_classes = d.n_classes or 1000
        n_train, n_test = n_train * n_classes // 1000, n_test * n_classes // 1000
    else:
        dataset = build_dataset(config, data_root)
        splits = dataset.splits()
        check_splits(config, dataset, splits)
        split = splits[0]
        n_train, n_test, n_classes = len(split.train), len(split.test), len(dataset.class_names)
        refs = list(split.train)[:: max(1, len(split.train) // n_images)][:n_images]
        loaders = [lambda r=r: dataset.load(r, mode, d.max_side) for r in refs]
    extractor = make_extractor(config)
    with threadpool_limits(1):
        start, features = time.perf_counter(), []
        for load in loaders:
            try:
                features.append(extractor.extract(load()))
            except ImageError:
                continue
        if not features:
            raise ValueError("none of the sample images could be decoded")
        per_image_features = (time.perf_counter() - start) / len(features)
        encoder = make_encoder(config)
        sample = sample_descriptors([encoder.usable_features(f).descriptors for f in features], 50_000, config.seed)
        k = min(enc.n_components, max(2, len(sample) // 4))
        encoder.set_params(n_components=k, **({"gmm_max_iter": 1} if enc.kind == "fisher" else {"kmeans_max_iter": 1}))
        start = time.perf_counter()
        encoder.fit_sample(sample)
        vocabulary_iteration = (time.perf_counter() - start) * (enc.n_components / k) * (enc.sample_size / len(sample))
        start = time.perf_counter()
        for f in features:
            encoder.encode(f)
        per_image_encode = (time.perf_counter() - start) / len(features) * (enc.n_components / k)
        rate = _matmul_rate()
    dim = encoded_dimension(config)
    n_all = n_train + n_test
    iterations = enc.gmm_max_iter if enc.kind == "fisher" else enc.kmeans_max_iter
    if enc.store_dtype == "pq":
        pq_fit, pq_per_image = _pq_seconds(enc, dim, min(enc.pq_train_images, n_train), config.seed)
        per_image_encode += pq_per_image
    per_image = per_image_features + per_image_encode
    stages = {"sample": per_image_features * min(enc.sample_images, n_train),
              "vocabulary": vocabulary_iteration * iterations,
              "encode": per_image * n_all}
    if enc.store_dtype == "pq":    # the codebooks' training images are encoded twice: as floats, then as codes
        stages["pq"] = pq_fit
        stages["encode"] += (per_image - pq_per_image) * min(enc.pq_train_images, n_train)
    if s.solver != "kernel":   # forward and backward products per epoch (+ the batch's Gram matrix for dcd)
        per_row = 4 * n_classes + (2 * s.batch_size if s.solver == "dcd" else 0)
        stages["svm"] = s.max_epochs * per_row * n_train * dim / (rate * 1e9)
        if s.solver in ("sgd", "asgd"):   # + per step, about four memory-bound passes over the (C, dim) weights
            steps = s.max_epochs * max(1, n_train // s.batch_size)
            stages["svm"] += steps * 4 * 4 * n_classes * dim / MEMORY_BANDWIDTH
    else:                      # Gram matrix; eigendecomposition + LIBLINEAR (~20 passes per class)
        stages["kernel"] = 2 * n_train * n_all * dim / (rate * 1e9)
        stages["svm"] = (4 / 3 * n_train ** 3 + 20 * n_train ** 2 * n_classes) / (rate * 1e9)
    store_bytes = n_all * bytes_per_vector(enc.store_dtype, dim, enc.pq_subvector_dims)
    memory = {"gram_gib": 4 * n_train * n_all / 2 ** 30 if s.solver == "kernel" else 0.0,
              "sgd_weights_gib": 4 * dim * n_classes / 2 ** 30 if s.solver != "kernel" else 0.0,
              "dual_variables_disk_gib": 4 * n_train * n_classes / 2 ** 30 if s.solver == "dcd" else 0.0}
    cores = cpu_count()
    projection = {f"{m} machine(s) x {cores} cores": _project(stages, m, cores) for m in workers}
    result = {"config": config.name, "dataset": d.dataset, "n_train": n_train, "n_test": n_test,
              "n_classes": n_classes, "dimension": dim,
              "measured": {"images": len(features), "seconds_per_image_decode_and_descriptors": per_image_features,
                           "seconds_per_image_encode": per_image_encode,
                           "descriptors_per_image": float(np.mean([len(f) for f in features])),
                           "vocabulary_seconds_per_iteration": vocabulary_iteration,
                           "matmul_gflops_per_thread": rate,
                           **({"seconds_pq_fit": pq_fit, "seconds_per_image_pq": pq_per_image}
                              if enc.store_dtype == "pq" else {})},
              "stage_seconds_one_thread": stages, "store_gib": store_bytes / 2 ** 30, "memory": memory,
              "projection_hours": projection}
    if gpu_results is not None and Path(gpu_results).is_file():
        gpu = json.loads(Path(gpu_results).read_text())
        if "images_per_second" in gpu:
            result["projection_hours"]["one GPU"] = {"total": n_all / gpu["images_per_second"] / 3600}
    return result


def _pq_seconds(enc, dim: int, n_vectors: int, seed: int, probe: int = 16) -> tuple[float, float]:
    """One thread's seconds to fit the PQ codebooks of ``dim`` dimensions on ``n_vectors`` vectors and
    to quantise one image, from ``probe`` sub-quantisers on random vectors (k-means costs the same)."""
    m = enc.pq_subvector_dims
    X = np.random.default_rng(seed).standard_normal((max(n_vectors, 2 ** enc.pq_bits), probe * m), dtype=np.float32)
    scale = dim / m / probe
    with threadpool_limits(1):
        start = time.perf_counter()
        pq = ProductQuantizer(m, bits=enc.pq_bits, max_iter=enc.pq_max_iter, seed=seed).fit(X)
        fit = (time.perf_counter() - start) * scale
        start = time.perf_counter()
        pq.transform(X[:256])
        per_image = (time.perf_counter() - start) / min(256, len(X)) * scale
    return fit, per_image


PER_IMAGE_STAGES = ("sample", "encode")


def _project(stages: dict, machines: int, cores: int) -> dict:
    """Hours per stage: the per-image stages spread over every core of every machine (Dask workers);
    the others (vocabulary, Gram matrix, SVM) run on one machine, its cores as BLAS threads."""
    hours = {name: seconds / (cores * (machines if name in PER_IMAGE_STAGES else 1)) / 3600
             for name, seconds in stages.items()}
    hours["total"] = sum(hours.values())
    return hours
