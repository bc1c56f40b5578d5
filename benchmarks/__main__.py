"""python -m benchmarks: time each stage of ours beside the peers, in one process, same images, same threads.

Prints one table (median and min-max of the repeats, and the ratio peer / ours) and writes it as
JSON.  Rows whose peer is not installed say so.  Correctness is the tests' business; each row here
also prints a one-number agreement check so that a fast but wrong result cannot pass unnoticed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from classic.data import load_image
from classic.io import save_json
from classic.data.datasets import list_class_folders
from classic.encoding import PCA, DiagonalGMM, fisher_vector
from classic.features import nonzero_rows
from classic.features.dsift import phow
from classic.learn import LinearSVM
from classic.peers import vlfeat

BIN_SIZES = (4, 6, 8, 10)


def timeit(function, repeats: int) -> dict:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "result": result}


class Table:
    def __init__(self):
        self.rows = []

    def add(self, stage: str, who: str, timing: dict | None, ours: dict | None = None, note: str = ""):
        row = {"stage": stage, "implementation": who, "note": note}
        if timing is not None:
            row.update({k: timing[k] for k in ("median_s", "min_s", "max_s")})
            if ours is not None and who != "classic":
                row["ratio_peer_over_ours"] = timing["median_s"] / ours["median_s"]
        self.rows.append(row)
        self.print_row(row)

    @staticmethod
    def print_row(row):
        if "median_s" in row:
            ratio = f"{row['ratio_peer_over_ours']:6.2f}x" if "ratio_peer_over_ours" in row else "      -"
            print(f"{row['stage']:<38} {row['implementation']:<26} {1000 * row['median_s']:10.2f} ms "
                  f"[{1000 * row['min_s']:9.2f} - {1000 * row['max_s']:9.2f}]  {ratio}  {row['note']}")
        else:
            print(f"{row['stage']:<38} {row['implementation']:<26} {'n/a':>13}  {row['note']}")


def sample_paths(data_root: Path, n: int, seed: int = 0) -> list[Path]:
    root = data_root / "caltech101" / "101_ObjectCategories"
    _, refs, _, _ = list_class_folders(root)
    rng = np.random.default_rng(seed)
    return [root / refs[i] for i in rng.choice(len(refs), n, replace=False)]


def largest_paths(data_root: Path, n: int) -> list[Path]:
    """The ``n`` Caltech-101 images of longest side (where a decoder's reduced-resolution JPEG path matters)."""
    from PIL import Image
    root = data_root / "caltech101" / "101_ObjectCategories"
    _, refs, _, _ = list_class_folders(root)
    sides = []
    for ref in refs:
        with Image.open(root / ref) as im:
            sides.append(max(im.size))
    return [root / refs[i] for i in np.argsort(sides, kind="stable")[-n:]]


def bench_decode(table, paths, repeats, label=""):
    """Gray decoding + resizing to <= 300 px: ours (PIL, DCT-domain draft + Lanczos), PIL plainly, and
    OpenCV (``imdecode``, at reduced resolution when the JPEG is at least twice too large, + INTER_AREA)."""
    from PIL import Image
    stage = f"decode+resize <=300px ({len(paths)} {label}imgs)"

    def ours():
        return [load_image(p, "gray", 300) for p in paths]

    def pil_plain():
        out = []
        for p in paths:
            with Image.open(p) as im:
                im = im.convert("L")
                w, h = im.size
                s = min(1.0, 300 / max(w, h))
                out.append(np.asarray(im.resize((max(1, round(w * s)), max(1, round(h * s))),
                                                Image.Resampling.LANCZOS), np.float32) / 255)
        return out
    o = timeit(ours, repeats)
    table.add(stage, "classic", o)
    table.add(stage, "PIL decode + resize", timeit(pil_plain, repeats), o)
    try:
        import cv2
    except ImportError:
        table.add(stage, "OpenCV imdecode + resize", None, note="opencv-python not installed")
        return o["result"]
    cv2.setNumThreads(1)
    reduced = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
               8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
    sizes = {}
    for p in paths:            # the header's size, as a decoder that picks its reduction would read it
        with Image.open(p) as im:
            sizes[p] = im.size

    def opencv(reduce: bool):
        out = []
        for p in paths:
            w, h = sizes[p]
            factor = 1
            while reduce and factor < 8 and max(w, h) // (2 * factor) >= 300:
                factor *= 2
            im = cv2.imdecode(np.fromfile(p, np.uint8), reduced[factor])
            s = min(1.0, 300 / max(w, h))
            if s < 1:
                im = cv2.resize(im, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            out.append(im.astype(np.float32) / 255)
        return out
    for reduce, who in ((False, "OpenCV imdecode + resize"), (True, "OpenCV reduced imdecode + resize")):
        peer = timeit(lambda: opencv(reduce), repeats)
        difference = np.mean([np.abs(a - b).mean() for a, b in zip(o["result"], peer["result"])]) * 255
        table.add(stage, who, peer, o, note=f"mean |difference| from ours {difference:.2f} / 255")
    return o["result"]


def bench_dsift(table, images, repeats):
    stage = f"dense SIFT 4 scales step 3 ({len(images)} imgs)"
    o = timeit(lambda: [phow(im, BIN_SIZES, 3, contrast_threshold=0.0) for im in images], repeats)
    n_desc = sum(len(d) for _, d in o["result"])
    table.add(stage, "classic", o, note=f"{n_desc / o['median_s'] / 1e6:.2f} M descr/s")
    if vlfeat.available():
        def vl():
            out = []
            for im in images:
                for b in BIN_SIZES:
                    off = int(1.5 * (max(BIN_SIZES) - b))
                    out.append(vlfeat.dsift(vlfeat.imsmooth(im, b / 6), b, 3, (off, off), 1.5))
            return out
        table.add(stage, "VLFeat vl_dsift (flat)", timeit(vl, repeats), o)
    else:
        table.add(stage, "VLFeat vl_dsift (flat)", None, note="not installed: apt-get install libvlfeat1")
    try:
        import cv2
        sift = cv2.SIFT_create()

        def opencv():
            out = []
            for im, (frames, _) in zip(images, o["result"]):
                u8 = (im * 255).astype(np.uint8)
                # OpenCV's bin width is 1.5 x keypoint size: size = bin / 1.5 gives the same bins
                kps = [cv2.KeyPoint(float(x), float(y), float(s) / 1.5) for x, y, s, _ in frames]
                out.append(sift.compute(u8, kps)[1])
            return out
        table.add(stage, "OpenCV SIFT.compute (grid)", timeit(opencv, max(1, repeats // 2)), o)
    except ImportError:
        table.add(stage, "OpenCV SIFT.compute (grid)", None, note="opencv-python not installed")


def skimage_feature(table, stage: str, peer: str, name: str):
    """``skimage.feature.<name>``, or None with the row "not installed" recorded for ``peer``."""
    try:
        import skimage.feature
    except ImportError:
        table.add(stage, peer, None, note="scikit-image not installed")
        return None
    return getattr(skimage.feature, name)


def bench_hog(table, images, repeats):
    """Dalal–Triggs HOG (8-px cells, 2 x 2 blocks, 9 bins, L2-Hys) of the same images: ours vs scikit-image."""
    from classic.features.hog import hog
    stage = f"HOG Dalal-Triggs 8px cells 2x2 blocks ({len(images)} imgs)"
    o = timeit(lambda: [hog(im) for im in images], repeats)
    table.add(stage, "classic", o)
    skimage_hog = skimage_feature(table, stage, "skimage hog", "hog")
    if skimage_hog is not None:
        s = timeit(lambda: [skimage_hog(im, cells_per_block=(2, 2), feature_vector=False) for im in images], repeats)
        worst = max(float(np.abs(a - b).max()) for a, b in zip(o["result"], s["result"]))
        table.add(stage, "skimage hog", s, o, note=f"max |difference| {worst:.1e}")
    try:
        import cv2
        cv2.setNumThreads(1)
        uint8 = [np.round(255 * im).astype(np.uint8) for im in images]

        def opencv():
            out = []
            for im in uint8:
                h, w = (n // 8 * 8 for n in im.shape)
                descriptor = cv2.HOGDescriptor((w, h), (16, 16), (8, 8), (8, 8), 9)
                out.append(descriptor.compute(np.ascontiguousarray(im[:h, :w])))
            return out
        table.add(stage, "OpenCV HOGDescriptor", timeit(opencv, repeats), o,
                  note="its own definition: Gaussian block window, trilinear votes, sqrt gamma")
    except (ImportError, AttributeError):
        table.add(stage, "OpenCV HOGDescriptor", None,
                  note="needs opencv-python-headless < 5 (pip install -e '.[bench]'); OpenCV 5 has no HOGDescriptor")
    from classic.features.hog import uoctti_hog
    stage = f"HOG UoCTTI 31-D 8px cells ({len(images)} imgs)"
    u = timeit(lambda: [uoctti_hog(im) for im in images], repeats)
    table.add(stage, "classic", u)
    if vlfeat.available():
        v = timeit(lambda: [vlfeat.hog(im, 8) for im in images], repeats)
        worst = max(float(np.abs(a - b).max()) for a, b in zip(u["result"], v["result"]))
        table.add(stage, "VLFeat vl_hog", v, u, note=f"max |difference| {worst:.1e}")
    else:
        table.add(stage, "VLFeat vl_hog", None, note="VLFeat not installed")


def bench_lbp(table, images, repeats):
    """Uniform LBP codes (8 neighbours, radius 1, nri_uniform) of the same images: ours vs scikit-image."""
    import warnings

    from classic.features.lbp import lbp_codes
    gray = [np.round(255 * im).astype(np.uint8) for im in images]         # scikit-image's recommended input
    stage = f"LBP codes 8 neighbours r=1 nri_uniform ({len(images)} imgs)"
    o = timeit(lambda: [lbp_codes(im) for im in gray], repeats)
    table.add(stage, "classic", o)
    local_binary_pattern = skimage_feature(table, stage, "skimage local_binary_pattern", "local_binary_pattern")
    if local_binary_pattern is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = timeit(lambda: [local_binary_pattern(im, 8, 1, method="nri_uniform") for im in gray], repeats)
    differ = sum(int((a != b).sum()) for a, b in zip(o["result"], s["result"]))
    table.add(stage, "skimage local_binary_pattern", s, o, note=f"{differ} codes differ")
    from classic.features.lbp import lbp_histograms
    stage = f"LBP 8px cell histograms, codes included ({len(images)} imgs)"
    h = timeit(lambda: [lbp_histograms(lbp_codes(im), 8) for im in gray], repeats)
    table.add(stage, "classic (59 bins)", h)
    if vlfeat.available():
        v = timeit(lambda: [vlfeat.lbp(im, 8) for im in images], repeats)
        table.add(stage, "VLFeat vl_lbp (58 bins)", v, h, note="its own codes: 3x3 square, strict >, constants merged")
    else:
        table.add(stage, "VLFeat vl_lbp (58 bins)", None, note="VLFeat not installed")


def real_points(images, n, dims=80, seed=0):
    d = np.concatenate([phow(im)[1] for im in images])
    d = d[nonzero_rows(d)]
    pca = PCA(dims).fit(d[np.random.default_rng(seed).choice(len(d), min(len(d), 100_000), replace=False)])
    x = pca.transform(d)
    rng = np.random.default_rng(seed)
    return x[rng.choice(len(x), n, replace=len(x) < n)].astype(np.float32)


def bench_gmm(table, points, k, iterations, repeats, threads):
    stage = f"GMM EM K={k} D={points.shape[1]} N={len(points):.0e} ({iterations} it)"
    rng = np.random.default_rng(0)
    init_means = points[rng.choice(len(points), k, replace=False)]
    init_vars = np.tile(points.var(0), (k, 1)).astype(np.float32)
    init_weights = np.full(k, 1 / k, np.float32)

    def ours():
        g = DiagonalGMM(k, max_iter=iterations, tol=0, init="random", n_jobs=threads, seed=0)
        # same starting point as the peers: skip our own initialisation
        g.data_variance_ = points.var(0)
        g.variance_floor_ = np.maximum(g.variance_floor * g.data_variance_, 1e-12).astype(np.float32)
        g.means_, g.variances_, g.weights_ = init_means.copy(), init_vars.copy(), init_weights.copy()
        g._initialise = lambda X, rng: None
        g.fit(points)
        return g.score(points)
    o = timeit(ours, repeats)
    table.add(stage, "classic", o, note=f"LL/pt {o['result']:.4f}")
    if vlfeat.available():
        def vl():
            means, covs, priors, _ = vlfeat.gmm(points, k, iterations, init_means, init_vars, init_weights)
            g = DiagonalGMM.from_arrays({"means": means, "variances": covs, "weights": priors})
            return g.score(points)
        v = timeit(vl, repeats)
        table.add(stage, "VLFeat vl_gmm", v, o, note=f"LL/pt {v['result']:.4f}")
    from sklearn.mixture import GaussianMixture

    def sk():
        g = GaussianMixture(k, covariance_type="diag", max_iter=iterations, tol=0, means_init=init_means,
                            weights_init=init_weights, precisions_init=1 / init_vars, reg_covar=1e-6)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g.fit(points)
        return g.score(points)
    s = timeit(sk, max(1, repeats // 2))
    table.add(stage, "sklearn GaussianMixture", s, o, note=f"LL/pt {s['result']:.4f}")


def matmul_rate(repeats=5) -> float:
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    t = timeit(lambda: a @ a, repeats)
    return 2 * 2048 ** 3 / t["min_s"] / 1e9


def bench_fisher(table, points, k, n, repeats, peak_gflops):
    stage = f"Fisher vector K={k} D={points.shape[1]} N={n}"
    x = points[:n]
    gmm = DiagonalGMM(k, max_iter=5, seed=0).fit(points[:50_000])
    o = timeit(lambda: fisher_vector(x, gmm), repeats)
    flops = 2 * n * k * x.shape[1] * 2 * 2          # posteriors (2 products) + statistics (2 products)
    rate = flops / o["median_s"] / 1e9
    table.add(stage, "classic", o, note=f"{rate:.1f} GFLOP/s = {rate / peak_gflops:.0%} of matmul peak")
    if vlfeat.available():
        v = timeit(lambda: vlfeat.fisher(x, gmm.means_, gmm.variances_, gmm.weights_), repeats)
        agree = np.corrcoef(v["result"], o["result"])[0, 1]
        table.add(stage, "VLFeat vl_fisher", v, o, note=f"corr with ours {agree:.6f}")
    try:
        from sklearn.mixture import GaussianMixture
        from skimage.feature import fisher_vector as sk_fv
        sk_gmm = GaussianMixture(k, covariance_type="diag")
        sk_gmm.weights_, sk_gmm.means_ = gmm.weights_.astype(np.float64), gmm.means_.astype(np.float64)
        sk_gmm.covariances_ = gmm.variances_.astype(np.float64)
        sk_gmm.precisions_cholesky_ = 1 / np.sqrt(sk_gmm.covariances_)
        table.add(stage, "skimage fisher_vector", timeit(lambda: sk_fv(x, sk_gmm), repeats), o)
    except ImportError:
        table.add(stage, "skimage fisher_vector", None, note="scikit-image not installed")


def bench_encoders(table, points, n, repeats):
    """One image's encoding (N real PCA-SIFT descriptors at random positions) by each encoder of the
    era, beside the Fisher vector on the same descriptors: the ratio column is the row's time over
    the FV row's (the era's pipelines each ran one of them; none has a peer implementation here)."""
    from classic.encoding import KMeans, llc_vectors, supervectors, vlad_vectors
    from classic.encoding.fisher import fisher_vectors
    x = points[:n]
    positions = np.random.default_rng(1).random((n, 2))
    pyramid = ((1, 1), (2, 2), (1, 3))
    stage = f"encode 1 image N={n} D={x.shape[1]}, 1x1+2x2+1x3"
    gmm = DiagonalGMM(256, max_iter=5, seed=0).fit(points[:50_000])
    fv = timeit(lambda: fisher_vectors([x], [positions], gmm, pyramid), repeats)
    table.add(stage, "classic", fv, note="improved FV, K=256 (2KD = 40,960 per region)")
    km256 = KMeans(256, max_iter=5, seed=0).fit(points[:50_000])
    km1024 = KMeans(1024, max_iter=5, seed=0).fit(points[:50_000])
    rows = [("super-vector K=256 hard", lambda: supervectors([x], [positions], km256, pyramid), "K(D+1) = 20,736 per region"),
            ("super-vector K=256 soft-5", lambda: supervectors([x], [positions], km256, pyramid, assignment="soft"), ""),
            ("VLAD K=256", lambda: vlad_vectors([x], [positions], km256, pyramid), "KD = 20,480 per region"),
            ("LLC K=1024 k=5, 1x1+2x2+4x4", lambda: llc_vectors([x], [positions], km1024), "K = 1,024 per region, 21 regions")]
    for name, encode, note in rows:
        table.add(stage, name, timeit(encode, repeats), fv, note=("ratio: its time / FV's; " + note).rstrip("; "))


def bench_pq(table, points, repeats):
    """Product quantisation (m = 8, K = 256, 10 Lloyd iterations) of 3,072 vectors made of ten real
    PCA-SIFT descriptors each (800 dims, 100 sub-quantisers): fit and encode, ours vs faiss."""
    from classic.encoding import ProductQuantizer
    X = np.ascontiguousarray(points[:30_720].reshape(3072, -1))
    stage = f"PQ fit {X.shape[0]}x{X.shape[1]}, m=8, K=256, 10 iterations"
    o = timeit(lambda: ProductQuantizer(8, bits=8, max_iter=10, seed=0).fit(X), repeats)
    table.add(stage, "classic", o, note=f"relative squared error {o['result'].distortion_:.4f}")
    ours = o["result"]
    encode_stage = f"PQ encode {X.shape[0]}x{X.shape[1]}"
    e = timeit(lambda: ours.transform(X), repeats)
    table.add(encode_stage, "classic", e)
    try:
        import faiss
    except ImportError:
        table.add(stage, "faiss ProductQuantizer", None, note="faiss not installed")
        return

    def faiss_fit():
        pq = faiss.ProductQuantizer(X.shape[1], X.shape[1] // 8, 8)
        pq.cp.niter = 10
        pq.cp.min_points_per_centroid = 1          # 12 points per centroid is what we give both sides
        pq.train(X)
        return pq
    f = timeit(faiss_fit, repeats)
    decoded = f["result"].decode(f["result"].compute_codes(X))
    table.add(stage, "faiss ProductQuantizer", f, o,
              note=f"relative squared error {((X - decoded) ** 2).sum() / (X ** 2).sum():.4f}")
    table.add(encode_stage, "faiss ProductQuantizer", timeit(lambda: f["result"].compute_codes(X), repeats), e)


def bench_kmeans(table, points, repeats):
    """The visual-word vocabulary: k-means (K = 256, 10 Lloyd iterations) on 65,536 real PCA-SIFT
    points (256 per centre, so neither side subsamples), from the same k-means++ seeds: ours
    (:class:`classic.encoding.KMeans`, plain xp code) vs faiss's ``Kmeans`` started from them."""
    from classic.encoding import KMeans
    from classic.encoding.kmeans import kmeans_plus_plus, seeding_draws
    k, X = 256, np.ascontiguousarray(points[:65_536])
    stage = f"k-means {X.shape[0]}x{X.shape[1]}, K={k}, 10 iterations, same seeds"
    o = timeit(lambda: KMeans(k, max_iter=10, seed=0).fit(X), repeats)
    table.add(stage, "classic", o, note=f"mean squared distance {o['result'].mean_distance_:.4f}")
    try:
        import faiss
    except ImportError:
        table.add(stage, "faiss Kmeans", None, note="faiss not installed")
        return
    def faiss_fit():       # our k-means++ seeds (timed too), then faiss's Lloyd: the path KMeans took before
        seeds = kmeans_plus_plus(X[None], k, *seeding_draws(np.random.default_rng(0), len(X), k))[0]
        model = faiss.Kmeans(X.shape[1], k, niter=10, max_points_per_centroid=256, seed=0, verbose=False)
        model.train(X, init_centroids=seeds)
        return model
    f = timeit(faiss_fit, repeats)
    distances, _ = f["result"].index.search(X, 1)
    table.add(stage, "k-means++ + faiss Kmeans", f, o,
              note=f"mean squared distance {float(np.maximum(distances, 0).mean()):.4f}")


def bench_svm(table, images_by_class, repeats):
    """Linear SVM on real Fisher vectors of Caltech-101 images (classes x images given)."""
    from sklearn.svm import LinearSVC
    images = [im for ims in images_by_class for im in ims]
    labels = np.repeat(np.arange(len(images_by_class)), [len(ims) for ims in images_by_class])
    feats = [phow(im, BIN_SIZES, 4, rootsift=True) for im in images]
    descriptors = [d[nonzero_rows(d)] for _, d in feats]
    sample = np.concatenate([d[::20] for d in descriptors])
    pca = PCA(64).fit(sample)
    gmm = DiagonalGMM(64, max_iter=20, seed=0).fit(pca.transform(sample))
    X = np.stack([fisher_vector(pca.transform(d), gmm) for d in descriptors])
    stage = f"linear SVM {X.shape[0]}x{X.shape[1]}, {len(images_by_class)} classes"
    o = timeit(lambda: LinearSVM(C=10).fit(X, labels), repeats)
    table.add(stage, "classic (kernel form)", o)
    r = timeit(lambda: LinearSVC(C=10).fit(X, labels), max(1, repeats // 2))
    agree = np.abs(o["result"].decision_function(X) - r["result"].decision_function(X)).max()
    table.add(stage, "sklearn LinearSVC", r, o, note=f"max |score diff| {agree:.1e}")


def run_stages(table, run_folder: Path):
    """Images per second of each stage of a run, from the stages it computed (cached ones left out)."""
    manifest_path, metrics_path = run_folder / "manifest.json", run_folder / "metrics.json"
    if not manifest_path.exists():
        print(f"(no run at {run_folder}: run `classic run experiments/caltech101_fv.yaml` for the per-stage rates)")
        return
    images = {s["split"]: s["n_train"] + s["n_test"] for s in json.loads(metrics_path.read_text())["splits"]}
    seconds, counted = {}, {}
    for record in json.loads(manifest_path.read_text())["stages"]:
        if not record["cached"]:
            seconds[record["stage"]] = seconds.get(record["stage"], 0) + record["seconds"]
            counted[record["stage"]] = counted.get(record["stage"], 0) + images.get(record["split"], 0)
    for stage, s in seconds.items():
        rate = counted[stage] / s if s else float("nan")
        table.rows.append({"stage": f"{run_folder.name} run: {stage}", "implementation": "classic",
                           "seconds": s, "images": counted[stage], "images_per_s": rate})
        print(f"{run_folder.name} run: {stage:<8} {s:9.1f} s for {counted[stage]:6d} images = {rate:8.1f} images/s")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--data-root", default=os.environ.get("CLASSIC_DATA", "../shared/datasets"))
    parser.add_argument("--threads", type=int, default=1, help="BLAS / VLFeat threads for both sides")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--large", action="store_true", help="also GMM on 1e6 points (slow for the peers)")
    parser.add_argument("--run", default="runs/caltech101_fv", help="run folder for the per-stage image rates")
    parser.add_argument("--json", default="benchmarks/results.json")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["decode", "dsift", "hog", "lbp", "gmm", "fisher", "encoders", "kmeans", "pq", "svm",
                                 "run"])
    args = parser.parse_args(argv)
    only = set(args.only or ["decode", "dsift", "hog", "lbp", "gmm", "fisher", "encoders", "kmeans", "pq", "svm", "run"])

    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(f"threads={args.threads}  {platform.processor() or platform.machine()}  OPENBLAS_CORETYPE="
          f"{env['OPENBLAS_CORETYPE']} OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}")
    if vlfeat.available():
        vlfeat.set_num_threads(args.threads)
    table = Table()
    with threadpool_limits(args.threads):
        blas = [f"{i['internal_api']} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
                if i["user_api"] == "blas"]
        peak = matmul_rate()
        print(f"BLAS: {'; '.join(blas)};  float32 matmul {peak:.0f} GFLOP/s on {args.threads} thread(s)")
        paths = sample_paths(Path(args.data_root), args.images)
        images = [load_image(p, "gray", 300) for p in paths]
        if "decode" in only:
            bench_decode(table, paths, args.repeats)
            bench_decode(table, largest_paths(Path(args.data_root), 200), args.repeats, "largest ")
        if "dsift" in only:
            bench_dsift(table, images, args.repeats)
        if "hog" in only:
            bench_hog(table, images, args.repeats)
        if "lbp" in only:
            bench_lbp(table, images, args.repeats)
        if only & {"gmm", "fisher", "encoders", "kmeans", "pq"}:
            points = real_points(images, 1_000_000 if args.large else 100_000)
            if "gmm" in only:
                bench_gmm(table, points[:100_000], 256, 5, max(1, args.repeats // 2), args.threads)
                if args.large:
                    bench_gmm(table, points, 256, 2, 1, args.threads)
            if "fisher" in only:
                for n in (5000, 20000):
                    bench_fisher(table, points, 256, n, args.repeats, peak)
            if "encoders" in only:
                bench_encoders(table, points, 20000, args.repeats)
            if "kmeans" in only:
                bench_kmeans(table, points, max(1, args.repeats // 2))
            if "pq" in only:
                bench_pq(table, points, max(1, args.repeats // 2))
        if "svm" in only:
            root = Path(args.data_root) / "caltech101" / "101_ObjectCategories"
            classes = sorted(p.name for p in root.iterdir() if p.is_dir())[:10]
            by_class = [[load_image(p, "gray", 300) for p in sorted((root / c).iterdir())[:30]] for c in classes]
            bench_svm(table, by_class, 3)
        if "run" in only:
            run_stages(table, Path(args.run))
    out = {"threads": args.threads, "env": env, "blas": blas, "matmul_gflops": peak, "python": sys.version.split()[0],
           "rows": table.rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    save_json(args.json, out)
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
