"""Shared fixtures: the real Caltech-101 images (read-only) and VLFeat when installed."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from classic.peers import vlfeat

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    if os.environ.get("CLASSIC_DATA"):
        return Path(os.environ["CLASSIC_DATA"])
    return REPO.parent / "shared" / "datasets"


CALTECH = shared_data_root() / "caltech101" / "101_ObjectCategories"
SPLIT_FILE = shared_data_root() / "caltech101" / "splits" / "seed0_30train_50test.txt"

# a handful of varied real images: grayscale, landscape, portrait, textured, background clutter
SAMPLE_IMAGES = ["airplanes/image_0001.jpg", "Faces_easy/image_0001.jpg", "car_side/image_0001.jpg",
                 "sunflower/image_0010.jpg", "BACKGROUND_Google/image_0005.jpg", "Leopards/image_0003.jpg"]

requires_caltech = pytest.mark.skipif(not CALTECH.is_dir(), reason=f"Caltech-101 not found at {CALTECH}")
requires_vlfeat = pytest.mark.skipif(not vlfeat.available(),
                                     reason="VLFeat not installed (apt-get install -y libvlfeat1)")


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not CALTECH.is_dir():
        pytest.skip(f"Caltech-101 not found at {CALTECH}")
    return shared_data_root()


@pytest.fixture(scope="session")
def caltech_images(data_root) -> list[np.ndarray]:
    from classic.data import load_image
    return [load_image(CALTECH / name, "gray", 300) for name in SAMPLE_IMAGES]


@pytest.fixture(scope="session")
def real_descriptors(caltech_images):
    """RootSIFT-free dense SIFT of the sample images, zeroed (low-contrast) rows included."""
    from classic.features import DenseSIFT
    return DenseSIFT().transform(caltech_images)


@pytest.fixture(scope="session")
def descriptor_sample(real_descriptors) -> np.ndarray:
    """20,000 of the real descriptors, zeroed rows left out: what PCA and vocabularies are fitted on."""
    from classic.features import nonzero_rows
    sample = np.concatenate([f.descriptors[nonzero_rows(f.descriptors)] for f in real_descriptors])
    return sample[np.random.default_rng(0).choice(len(sample), 20000, replace=False)]


def make_image_folder(root: Path, counts: dict[str, int], size=(64, 48), seed: int = 0) -> Path:
    """A class-per-folder dataset of small textured PNGs (``counts``: class -> number of images), each
    class its own texture so that a tiny pipeline can tell them apart; returns ``root``."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    w, h = size
    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        y, x = np.mgrid[:h, :w]
        stripes = np.sin((x * np.cos(c) + y * np.sin(c)) * (0.4 + 0.3 * c))
        for i in range(n):
            pixels = 0.5 + 0.3 * stripes + 0.2 * rng.random((h, w))
            Image.fromarray((255 * pixels.clip(0, 1)).astype(np.uint8)).save(root / name / f"img_{i:03d}.png")
    return root


# a tiny pipeline for class-per-folder datasets of make_image_folder's images
FOLDER_TINY = ["data.dataset=folder", "data.root=tiny", "data.max_side=64", "features.bin_sizes=[4]", "features.step=4",
               "encoder.pca_dims=8", "encoder.n_components=3", "encoder.gmm_max_iter=5", "encoder.sample_images=8",
               "encoder.sample_size=2000", "encoder.pyramid=[[1, 1]]", "encoder.store_dtype=float32", "run.n_jobs=1",
               "run.chunk_size=4"]


# a tiny digits experiment: seconds, far above chance
TINY = ["data.n_train=8", "data.n_test=6", "data.size=24", "features.bin_sizes=[3]", "features.step=3",
        "encoder.pca_dims=16", "encoder.n_components=4", "encoder.gmm_max_iter=10",
        "encoder.pyramid=[[1, 1], [2, 2]]", "encoder.sample_images=80", "encoder.sample_size=5000",
        "run.n_jobs=1", "run.chunk_size=40"]


def run_experiment(tmp_path, overrides, config="experiments/digits.yaml", data_root=None, render=True):
    """(runner, metrics) of a config run into ``tmp_path / "run"`` (cache ``tmp_path / "cache"``), its
    report rendered as ``classic run`` renders it."""
    from classic.experiment import Runner, load_config
    from classic.report.render import render_run
    cfg = load_config(REPO / config, overrides)
    runner = Runner(cfg, data_root or tmp_path, tmp_path / "cache", tmp_path / "run", progress=False,
                    log=lambda *a: None)
    metrics = runner.run()
    if render:
        render_run(tmp_path / "run")
    return runner, metrics


@pytest.fixture(scope="session")
def fitted(descriptor_sample):
    """PCA 32 + GMM K=16 fitted on real (non-zero) dense SIFT descriptors."""
    from classic.encoding import PCA, DiagonalGMM
    sample = descriptor_sample
    pca = PCA(32).fit(sample)
    gmm = DiagonalGMM(16, max_iter=30, seed=0).fit(pca.transform(sample))
    return pca, gmm, sample


@pytest.fixture(scope="session")
def vocabulary(real_descriptors, descriptor_sample):
    """PCA 32 + k-means K = 32 on real (non-zero) dense SIFT descriptors, and one image's projected features."""
    from classic.encoding import PCA, KMeans
    pca = PCA(32).fit(descriptor_sample)
    kmeans = KMeans(32, max_iter=10, seed=0).fit(pca.transform(descriptor_sample))
    f = real_descriptors[2].without_empty()
    return pca, kmeans, pca.transform(f.descriptors), f.positions


def spawn_python(code: str):
    """A Python process running ``code``, its stdout piped (for the tests of locks and of killed writers)."""
    import subprocess
    import sys
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


# three splits of 2 Caltech-101 classes x 10 images, as a class-per-folder dataset (see run_three_splits)
THREE_SPLITS = ["data.dataset=folder", "data.root=tiny", "data.n_train=4", "data.n_test=3", "data.max_side=64",
                "data.n_splits=3", "features.bin_sizes=[4]", "features.step=4", "encoder.pca_dims=8",
                "encoder.n_components=3", "encoder.gmm_max_iter=5", "encoder.sample_images=8",
                "encoder.sample_size=2000", "encoder.pyramid=[[1, 1], [1, 2]]", "encoder.store_dtype=float32",
                "run.n_jobs=1", "run.chunk_size=5"]


def run_three_splits(tmp_path, overrides):
    """3 splits of 2 classes x 10 real images; each split's stores checked against its own encoder
    applied image by image (``quantize``: through the store's PQ codebooks).  Returns (runner, splits)."""
    import shutil
    from classic.encoding import ProductQuantizer
    from classic.experiment.build import build_dataset, fitted_encoder, make_extractor
    from classic.experiment.store import FeatureStore
    root = tmp_path / "data" / "tiny"
    for cls in ("airplanes", "Faces_easy"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(1, 11):
            shutil.copy(CALTECH / cls / f"image_{i:04d}.jpg", root / cls / f"image_{i:04d}.jpg")
    runner, _ = run_experiment(tmp_path, THREE_SPLITS + overrides, data_root=tmp_path / "data")
    stages = runner.stages
    assert [s["cached"] for s in stages if s["stage"] == "encode"] == [False, True, True]
    dataset = build_dataset(runner.config, tmp_path / "data")
    extractor = make_extractor(runner.config)
    folders = {s["split"]: {t["stage"]: tmp_path / "cache" / t["stage"] / t["key"] for t in stages
                            if t["split"] == s["split"]} for s in stages}
    splits = dataset.splits()
    for split in splits:
        f = folders[split.name]
        encoder = fitted_encoder(runner.config, dict(np.load(f["pca"] / "pca.npz")), dict(np.load(f["gmm"] / "gmm.npz")),
                                 np)
        refs = list(split.train) + list(split.test)
        expected = np.stack([encoder.encode(extractor.extract(dataset.load(r, "gray", 64))) for r in refs])
        if (f["encode"] / "quantizer.npz").exists():
            quantizer = ProductQuantizer.from_arrays(dict(np.load(f["encode"] / "quantizer.npz")))
            expected = quantizer.inverse_transform(quantizer.transform(expected))
        np.testing.assert_allclose(FeatureStore(f["encode"], len(refs))[np.arange(len(refs))], expected, atol=1e-5)
    return runner, splits
