"""ILSVRC layouts and label conventions, on a small tree built from Caltech-101 JPEGs.

The tree has the real data's traps: a PNG named .JPEG, a CMYK JPEG, a grayscale JPEG; a flat
validation folder labelled by a devkit ground-truth file whose ILSVRC IDs are *not* sorted-WNID
indices (meta.mat written with scipy.io.savemat), Kaggle's CSV files, and synset-folder validation.
"""
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from classic.data import DatasetNotFound, ImageNetDataset, open_dataset
from conftest import CALTECH, requires_caltech

pytestmark = requires_caltech

WNIDS = ["n01440764", "n02102040", "n03000684"]               # sorted: our indices 0, 1, 2
WORDS = {"n01440764": "tench, Tinca tinca", "n02102040": "English springer", "n03000684": "chain saw, chainsaw"}
ILSVRC_ID = {"n03000684": 1, "n01440764": 2, "n02102040": 3}   # the devkit's IDs: a different order
SOURCES = {"n01440764": "airplanes", "n02102040": "Faces_easy", "n03000684": "car_side"}
VAL_TRUTH = ["n02102040", "n03000684", "n01440764", "n03000684", "n02102040", "n01440764"]


def _meta_mat(path, year):
    synsets = np.zeros(4, dtype=[(f"ILSVRC{year}_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")])
    for i, w in enumerate(WNIDS):
        synsets[i] = (ILSVRC_ID[w], w, WORDS[w], 0)
    synsets[3] = (1001, "n00001740", "entity", 3)              # an inner node of the hierarchy: not a class
    savemat(path, {"synsets": synsets})


def _copy(source, dest, convert=None):
    dest.parent.mkdir(parents=True, exist_ok=True)
    if convert is None:
        shutil.copyfile(source, dest)
    else:
        image = Image.open(source).convert("RGB")
        if convert == "png":
            image.save(dest, format="PNG")                   # a PNG with a .JPEG name
        else:
            image.convert(convert).save(dest, format="JPEG")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """data_root/ilsvrc2012 (flat val + devkit) and data_root/ilsvrc2010 (flat val and test + devkit)."""
    root = tmp_path_factory.mktemp("imagenet")
    for year in (2012, 2010):
        base = root / f"ilsvrc{year}"
        for w in WNIDS:
            files = sorted((CALTECH / SOURCES[w]).glob("*.jpg"))[:4]
            for j, f in enumerate(files):
                convert = {1: "png", 2: "CMYK", 3: "L"}.get(j) if w == "n02102040" else None
                _copy(f, base / "train" / w / f"{w}_{j + 1}.JPEG", convert)
        devkit = base / ("ILSVRC2012_devkit_t12" if year == 2012 else "devkit-1.0") / "data"
        devkit.mkdir(parents=True)
        _meta_mat(devkit / "meta.mat", year)
        for test_set, name in (("val", "validation"), ("test", "test")) if year == 2010 else (("val", "validation"),):
            for i, w in enumerate(VAL_TRUTH, 1):
                source = sorted((CALTECH / SOURCES[w]).glob("*.jpg"))[10 + i]
                _copy(source, base / test_set / f"ILSVRC{year}_{test_set}_{i:08d}.JPEG")
            (devkit / f"ILSVRC{year}_{name}_ground_truth.txt").write_text(
                "".join(f"{ILSVRC_ID[w]}\n" for w in VAL_TRUTH))
    return root


def test_devkit_ids_are_mapped_through_meta_mat_to_sorted_wnid_indices(tree):
    data = ImageNetDataset(tree / "ilsvrc2012", 2012)
    assert data.wnids == WNIDS and data.class_names == [WORDS[w] for w in WNIDS]
    split = data.splits()[0]
    assert len(split.train) == 12 and split.name == "ilsvrc2012-val"
    assert split.test == tuple(f"val/ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 7))
    np.testing.assert_array_equal(split.test_labels, [WNIDS.index(w) for w in VAL_TRUTH])


def test_every_trap_image_decodes(tree):
    data = ImageNetDataset(tree / "ilsvrc2012", 2012)
    split = data.splits()[0]
    for ref in split.train + split.test:
        image = data.load(ref, "gray", 300)
        assert image.ndim == 2 and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
    assert Image.open(tree / "ilsvrc2012" / "train" / "n02102040" / "n02102040_2.JPEG").format == "PNG"
    assert Image.open(tree / "ilsvrc2012" / "train" / "n02102040" / "n02102040_3.JPEG").mode == "CMYK"
    assert data.load("train/n02102040/n02102040_3.JPEG", "rgb", 300).shape[2] == 3


def test_kaggle_files_and_synset_folders_give_the_same_labels(tree, tmp_path):
    expected = [WNIDS.index(w) for w in VAL_TRUTH]
    kaggle = tmp_path / "kaggle"
    shutil.copytree(tree / "ilsvrc2012" / "train", kaggle / "train")
    shutil.copytree(tree / "ilsvrc2012" / "val", kaggle / "val")
    (kaggle / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "".join(
        f"ILSVRC2012_val_{i:08d},{w} 1 2 30 40 {w} 5 6 70 80\n" for i, w in enumerate(VAL_TRUTH, 1)))
    (kaggle / "LOC_synset_mapping.txt").write_text("".join(f"{w} {WORDS[w]}\n" for w in WNIDS))
    data = ImageNetDataset(kaggle, 2012)
    np.testing.assert_array_equal(data.splits()[0].test_labels, expected)
    assert data.class_names[2] == "chain saw, chainsaw"

    folders = tmp_path / "folders"
    shutil.copytree(tree / "ilsvrc2012" / "train", folders / "train")
    for i, w in enumerate(VAL_TRUTH, 1):
        _copy(tree / "ilsvrc2012" / "val" / f"ILSVRC2012_val_{i:08d}.JPEG", folders / "val" / w / f"v{i}.JPEG")
    split = ImageNetDataset(folders, 2012).splits()[0]
    assert sorted(split.test_labels.tolist()) == sorted(expected)
    assert all(ref.split("/")[1] == WNIDS[label] for ref, label in zip(split.test, split.test_labels))
    assert ImageNetDataset(folders, 2012).class_names == WNIDS          # no meta.mat, no mapping: WNIDs


def test_ilsvrc2010_test_set_and_its_ground_truth(tree):
    split = ImageNetDataset(tree / "ilsvrc2010", 2010, test_set="test").splits()[0]
    assert split.name == "ilsvrc2010-test" and split.test[0] == "test/ILSVRC2010_test_00000001.JPEG"
    np.testing.assert_array_equal(split.test_labels, [WNIDS.index(w) for w in VAL_TRUTH])
    with pytest.raises(ValueError, match="test_set"):
        ImageNetDataset(tree / "ilsvrc2012", 2012, test_set="test")


def test_subsets_of_classes_and_images(tree):
    first = ImageNetDataset(tree / "ilsvrc2012", 2012, n_classes=2, n_train=3, n_test=1)
    split = first.splits()[0]
    assert first.wnids == WNIDS[:2]
    assert np.bincount(split.train_labels).tolist() == [3, 3] and np.bincount(split.test_labels).tolist() == [1, 1]
    random = ImageNetDataset(tree / "ilsvrc2012", 2012, n_classes=2, class_subset="random", seed=5)
    assert len(random.wnids) == 2 and set(random.wnids) <= set(WNIDS)
    kept = [VAL_TRUTH[i] for i in range(6) if VAL_TRUTH[i] in random.wnids]
    np.testing.assert_array_equal(random.splits()[0].test_labels, [random.wnids.index(w) for w in kept])


def test_missing_labels_and_folders_say_what_to_do(tree, tmp_path):
    with pytest.raises(DatasetNotFound, match="train"):
        open_dataset("ilsvrc2012", tmp_path)
    bare = tmp_path / "ilsvrc2012"
    shutil.copytree(tree / "ilsvrc2012" / "train", bare / "train")
    shutil.copytree(tree / "ilsvrc2012" / "val", bare / "val")
    with pytest.raises(DatasetNotFound, match="devkit"):
        ImageNetDataset(bare, 2012)


def test_a_run_on_the_ilsvrc_tree(tree, tmp_path):
    from conftest import TINY
    from conftest import run_experiment as run
    overrides = [t for t in TINY if not t.startswith(("data.", "encoder.sample_images"))] + [
        "data.dataset=ilsvrc2012", "data.n_train=null", "data.n_test=null", "encoder.sample_images=12",
        "encoder.n_components=2", "data.max_side=120"]
    runner, metrics = run(tmp_path, overrides, data_root=tree)
    assert metrics["n_classes"] == 3 and metrics["n_train"] == 12 and metrics["n_test"] == 6
    assert not runner.skipped                                          # every trap image decoded
