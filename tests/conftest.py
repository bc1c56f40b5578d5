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
