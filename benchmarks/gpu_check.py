"""GPU check: the same kernels on CuPy and NumPy, compared and timed, in one call.

    python benchmarks/gpu_check.py --prepare ../shared/datasets    # once, here: copies 32 real images
                                                                   # into benchmarks/gpu_images/ (git-ignored)
    PYTHONPATH=. python benchmarks/gpu_check.py                    # on the GPU machine (carry benchmarks/gpu_images)
    PYTHONPATH=. python benchmarks/gpu_check.py --backend numpy    # dry run of the whole script on the CPU

(a) compares the GPU and CPU outputs of every kernel (dense SIFT, PCA projection, GMM EM, batched
Fisher vectors, product quantisation, the streaming SGD and dual-coordinate SVMs, the SVM decision
function) on real images and states the tolerance met; (b) times each
stage and the whole pipeline in images/s; (c) projects ImageNet-1k (1.28 M + 50 k images) on one GPU.
Needs only NumPy, SciPy, scikit-learn, Pillow (and CuPy for the GPU): no install step, no network.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from classic.backend import get_backend, to_numpy
from classic.io import save_json
from classic.data import load_image
from classic.encoding import PCA, DiagonalGMM, ProductQuantizer
from classic.encoding.fisher import fisher_vectors
from classic.features import nonzero_rows
from classic.features.dsift import phow
from classic.learn import DualCoordinateSVM, LinearSVM, SGDLinearSVM

HERE = Path(__file__).resolve().parent
IMAGENET_IMAGES = 1_281_167 + 50_000
LEVELS = [(1, 1), (2, 2), (1, 3)]


def prepare(data_root: Path, n: int = 32):
    root = data_root / "caltech101" / "101_ObjectCategories"
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    out = HERE / "gpu_images"
    out.mkdir(exist_ok=True)
    for i, c in enumerate(classes[:: max(1, len(classes) // n)][:n]):
        shutil.copy(sorted((root / c).glob("*.jpg"))[0], out / f"{i:02d}_{c}.jpg")
    print(f"{len(list(out.glob('*.jpg')))} images in {out}")


def synchronize(xp):
    if xp.__name__ == "cupy":
        xp.cuda.Device().synchronize()


def timed(xp, function, repeats=3):
    function()                                   # warm-up (kernel compilation, caches)
    synchronize(xp)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        synchronize(xp)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", metavar="DATA_ROOT")
    parser.add_argument("--backend", default="cupy")
    parser.add_argument("--images", default=str(HERE / "gpu_images"))
    parser.add_argument("--components", type=int, default=256)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.prepare:
        prepare(Path(args.prepare))
        return 0
    xp, _ = get_backend(args.backend)
    paths = sorted(Path(args.images).glob("*.jpg"))
    if not paths:
        print(f"no images in {args.images}: run with --prepare DATA_ROOT first", file=sys.stderr)
        return 2
    report = {"backend": args.backend, "images": len(paths), "checks": {}, "seconds": {}}
    checks, seconds = report["checks"], report["seconds"]

    def check(name, value, tolerance):
        ok = value <= tolerance
        checks[name] = {"value": float(value), "tolerance": tolerance, "ok": bool(ok)}
        print(f"  {'ok ' if ok else 'BAD'} {name:<44} {value:.3e} <= {tolerance:.0e}")

    # decoding stays on CPU workers; measure its rate per core
    start = time.perf_counter()
    images = [load_image(p, "gray", 300) for p in paths]
    decode_per_image = (time.perf_counter() - start) / len(paths)

    print("(a) GPU vs CPU outputs")
    cpu = [phow(im, rootsift=True) for im in images]
    t, gpu = timed(xp, lambda: [phow(xp.asarray(im), rootsift=True) for im in images], repeats=2)
    seconds["dense_sift"] = t / len(images)
    worst = max(float(np.abs(to_numpy(g[1]) - c[1]).max()) for g, c in zip(gpu, cpu))
    check("dense SIFT descriptors, max |diff|", worst, 1e-4)

    descriptors = [c[1][nonzero_rows(c[1])] for c in cpu]
    positions = [c[0][nonzero_rows(c[1]), :2] / np.array([im.shape[1], im.shape[0]], np.float32)
                 for c, im in zip(cpu, images)]
    sample = np.concatenate([d[:: max(1, len(d) // 3000)] for d in descriptors])
    pca = PCA(80).fit(sample)
    pca_gpu = PCA.from_arrays({k: xp.asarray(v) for k, v in pca.to_arrays().items()})
    t, projected_gpu = timed(xp, lambda: [pca_gpu.transform(xp.asarray(d)) for d in descriptors])
    seconds["pca_projection"] = t / len(images)
    projected = [pca.transform(d) for d in descriptors]
    check("PCA projection, max |diff|", max(float(np.abs(to_numpy(g) - c).max())
                                            for g, c in zip(projected_gpu, projected)), 1e-4)

    fit_points = np.concatenate(projected)
    gmm_cpu = DiagonalGMM(args.components, max_iter=5, tol=0, seed=0).fit(fit_points)
    t, gmm_gpu = timed(xp, lambda: DiagonalGMM(args.components, max_iter=5, tol=0, seed=0).fit(xp.asarray(fit_points)),
                       repeats=1)
    seconds["gmm_em_5_iterations"] = t
    check("GMM mean log-likelihood after 5 EM its, |diff|", abs(gmm_gpu.lower_bound_ - gmm_cpu.lower_bound_), 1e-3)
    check("GMM means, max |diff| / max |mean|", float(np.abs(to_numpy(gmm_gpu.means_) - gmm_cpu.means_).max()
                                                      / np.abs(gmm_cpu.means_).max()), 1e-3)

    gmm_dev = DiagonalGMM.from_arrays({k: xp.asarray(v) for k, v in gmm_cpu.to_arrays().items()})
    fv_cpu = fisher_vectors(projected, positions, gmm_cpu, LEVELS)
    batch_gpu = ([xp.asarray(p) for p in projected], [xp.asarray(p) for p in positions])
    t, fv_gpu = timed(xp, lambda: fisher_vectors(*batch_gpu, gmm_dev, LEVELS))
    seconds["fisher_vectors"] = t / len(images)
    check("Fisher vectors (batched), max |diff|", float(np.abs(to_numpy(fv_gpu) - fv_cpu).max()), 1e-4)

    # product quantisation of the Fisher vectors (4 bits: 16 centroids for 32 images), fit and codes
    pq_cpu = ProductQuantizer(8, bits=4, max_iter=5, seed=0).fit(fv_cpu)
    t, pq_gpu = timed(xp, lambda: ProductQuantizer(8, bits=4, max_iter=5, seed=0).fit(xp.asarray(fv_cpu)), repeats=1)
    seconds["pq_fit_32_vectors"] = t
    # k-means may take another seed on a rounding difference: compare the quality, not the labels
    check("PQ relative squared error, relative |diff|", abs(pq_gpu.distortion_ / pq_cpu.distortion_ - 1), 1e-2)
    pq_dev = ProductQuantizer.from_arrays({k: xp.asarray(v) for k, v in pq_cpu.to_arrays().items()})
    t, codes_gpu = timed(xp, lambda: pq_dev.transform(xp.asarray(fv_cpu)))
    seconds["pq_encode"] = t / len(images)
    check("PQ codes (CPU codebooks) differing, fraction", float(np.mean(to_numpy(codes_gpu) != pq_cpu.transform(fv_cpu))),
          1e-3)

    labels = np.arange(len(images)) % 4
    for solver in (SGDLinearSVM, DualCoordinateSVM):
        options = dict(lam=1e-3, batch_size=8, max_epochs=5, patience=5, validation_fraction=0, seed=0)
        cpu_model = solver(**options).fit(fv_cpu, labels)
        t, gpu_model = timed(xp, lambda: solver(backend=args.backend, **options).fit(fv_cpu, labels), repeats=1)
        seconds[f"{solver.__name__}_5_epochs_32_images"] = t
        check(f"{solver.__name__} weights, max |diff| / max |w|", float(
            np.abs(to_numpy(gpu_model.coef_) - cpu_model.coef_).max() / np.abs(cpu_model.coef_).max()), 1e-3)
    svm = LinearSVM(C=10).fit(fv_cpu, labels)
    svm_gpu_coef = xp.asarray(svm.coef_)
    t, scores_gpu = timed(xp, lambda: xp.asarray(fv_gpu) @ svm_gpu_coef.T + xp.asarray(svm.intercept_))
    seconds["svm_decision"] = t / len(images)
    check("SVM decision scores, max |diff|", float(np.abs(to_numpy(scores_gpu) - svm.decision_function(fv_cpu)).max()),
          1e-3)

    print("(b) time per image on", args.backend)
    per_image = seconds["dense_sift"] + seconds["pca_projection"] + seconds["fisher_vectors"] + seconds["svm_decision"]
    for name, s in seconds.items():
        whole = name.startswith(("gmm", "pq_fit", "SGD", "Dual"))
        print(f"  {name:<34} {1000 * s:9.2f} ms" + ("" if whole else " per image"))
    cores = os.cpu_count() or 1
    decode_rate = cores / decode_per_image
    device_rate = 1 / per_image
    # decoding on CPU workers overlaps the device's work: the slower side sets the pace
    pipeline_rate = min(decode_rate, device_rate)
    report.update(decode_seconds_per_image_per_core=decode_per_image, cores=cores, device_images_per_s=device_rate,
                  decode_images_per_s=decode_rate, pipeline_images_per_s=pipeline_rate)
    print(f"  device {device_rate:.1f} images/s; decoding {decode_rate:.1f} images/s on {cores} cores; "
          f"pipeline {pipeline_rate:.1f} images/s")

    # measured: the runner's path on the GPU (run.encode_on=backend): threads decode chunks of 8 images
    # while this thread encodes the previous chunk as one batch (dense SIFT, PCA, Fisher vectors, scores)
    def encode_chunk(chunk):
        features = [phow(xp.asarray(im), rootsift=True) for im in chunk]
        kept = [(f[1][nonzero_rows(f[1])], f[0][nonzero_rows(f[1]), :2] / xp.asarray(
            [im.shape[1], im.shape[0]], dtype=xp.float32)) for f, im in zip(features, chunk)]
        vectors = fisher_vectors([pca_gpu.transform(d) for d, _ in kept], [q for _, q in kept], gmm_dev, LEVELS)
        return vectors @ svm_gpu_coef.T

    def overlapped():
        groups = [paths[i:i + 8] for i in range(0, len(paths), 8)]
        with ThreadPoolExecutor(cores) as pool:
            decoded = pool.map(lambda group: [load_image(p, "gray", 300) for p in group], groups)
            return [encode_chunk(chunk) for chunk in decoded]
    t, _ = timed(xp, overlapped, repeats=2)
    measured_rate = len(paths) / t
    report["pipeline_measured_images_per_s"] = measured_rate
    print(f"  measured, decoding overlapped with the device (runner path): {measured_rate:.1f} images/s")
    pipeline_rate = min(pipeline_rate, measured_rate)
    hours = IMAGENET_IMAGES / pipeline_rate / 3600
    report["imagenet_projection_hours"] = hours
    print(f"(c) ImageNet-1k projection: {IMAGENET_IMAGES:,} images / {pipeline_rate:.1f} images/s = {hours:.1f} h "
          f"for descriptors + encoding on one {args.backend} device (plus the SVM, see issue 4)")
    if args.json:
        save_json(args.json, report)
    return 0 if all(c["ok"] for c in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
