"""The runner end to end: the run folder, skipped files, images without descriptors, resuming."""
import json
import shutil

import numpy as np
import pytest
import yaml

from conftest import CALTECH, TINY, requires_caltech
from conftest import run_experiment as run


def test_digits_end_to_end_writes_the_run_folder(tmp_path):
    runner, metrics = run(tmp_path, TINY)
    out = tmp_path / "run"
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("top1_error", "top5_error", "mean_class_accuracy", "n_classes", "n_train", "n_test", "splits",
                "seconds_per_stage", "peak_memory_mb"):
        assert key in saved
    assert saved["n_classes"] == 10 and saved["n_train"] == 80 and saved["n_test"] == 60
    assert saved["mean_class_accuracy"] > 0.6          # 8 images per class, tiny model: far above chance (0.1)
    assert yaml.safe_load((out / "config.yaml").read_text())["encoder"]["n_components"] == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["versions"]["numpy"] == np.__version__
    assert "| seed0 |" in (out / "report.md").read_text()
    assert all(not s["cached"] for s in runner.stages)


def test_killed_encode_resumes_from_finished_shards(tmp_path):
    _, first = run(tmp_path, TINY)
    encode = next((tmp_path / "cache" / "encode").iterdir())
    shards = sorted(encode.glob("shard_*.npy"))
    assert len(shards) == 4                                    # 140 images in chunks of 40
    kept = {s.name: s.stat().st_mtime_ns for s in shards[:2]}
    # simulate a run killed during encoding: the stage never finished, two shards never written
    (encode / "done.json").unlink()
    for s in shards[2:]:
        s.unlink()
        s.with_suffix(".json").unlink()
    for later in ("kernel", "svm"):
        shutil.rmtree(tmp_path / "cache" / later)
    runner, second = run(tmp_path, TINY)
    assert {s.name: s.stat().st_mtime_ns for s in sorted(encode.glob("shard_*.npy"))[:2]} == kept
    assert len(list(encode.glob("shard_*.npy"))) == 4
    assert second["mean_class_accuracy"] == first["mean_class_accuracy"]


@requires_caltech
@pytest.mark.parametrize("encode_on", ["workers", "backend"])
def test_unreadable_images_are_skipped_and_recorded(tmp_path, encode_on):
    """A corrupt JPEG, a text file named .jpg and a non-image file: skipped, recorded, run completes."""
    root = tmp_path / "data" / "tiny"
    sources = {"airplanes": "airplanes", "Faces_easy": "Faces_easy"}
    for cls in sources:
        (root / cls).mkdir(parents=True)
        for i in range(1, 9):
            shutil.copy(CALTECH / cls / f"image_{i:04d}.jpg", root / cls / f"image_{i:04d}.jpg")
    (root / "airplanes" / "image_0002.jpg").write_bytes((CALTECH / "airplanes/image_0002.jpg").read_bytes()[:3000])
    (root / "Faces_easy" / "image_0003.jpg").write_text("<html>not found</html>")
    (root / "Faces_easy" / "README").write_text("stray file")
    overrides = ["data.dataset=folder", "data.root=tiny", "data.n_train=4", "data.n_test=4", "data.max_side=120",
                 "features.bin_sizes=[4, 6]", "features.step=4", "encoder.pca_dims=16", "encoder.n_components=4",
                 "encoder.gmm_max_iter=5", "encoder.sample_images=8", "encoder.sample_size=3000",
                 "run.n_jobs=1", "data.n_splits=1", f"run.encode_on={encode_on}", "run.chunk_size=3"]
    runner, metrics = run(tmp_path, overrides, data_root=tmp_path / "data")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    skipped = {s["file"]: s["reason"] for s in manifest["skipped_files"]}
    assert "Faces_easy/README" in skipped
    for name in ("airplanes/image_0002.jpg", "Faces_easy/image_0003.jpg"):
        assert "not a readable image" in skipped[name]
    assert metrics["n_train"] + metrics["n_test"] == 16 - 2


@pytest.mark.parametrize("encoder", [["encoder.kind=vlad"], ["encoder.kind=bow", "encoder.assignment=soft"],
                                     ["encoder.kind=supervector"], ["encoder.kind=supervector", "encoder.assignment=soft"],
                                     ["encoder.kind=llc", "encoder.pyramid=[[1, 1], [2, 2], [4, 4]]"]])
def test_kmeans_encoder_runs_fit_a_kmeans_vocabulary(tmp_path, encoder):
    runner, metrics = run(tmp_path, TINY + ["encoder.n_components=16"] + encoder)
    assert [s["stage"] for s in runner.stages] == ["sample", "pca", "kmeans", "encode", "kernel", "svm", "model"]
    assert metrics["mean_class_accuracy"] > 0.5            # chance: 0.1


def images_without_descriptors(root):
    """Images that decode but hold no frame of bin size 6 (19 px) or no contrast: 1 x 1, 16 x 16,
    3000 x 2 (64 x 1 once the longest side is 64) and all black; two of each per class."""
    from PIL import Image
    rng = np.random.default_rng(5)
    names = []
    for cls in ("a", "b"):
        for k in range(2):
            for name, size in (("dot", (1, 1)), ("small", (16, 16)), ("sliver", (3000, 2))):
                path = root / cls / f"{name}{k}.png"
                Image.fromarray((255 * rng.random(size[::-1])).astype(np.uint8)).save(path)
                names.append(f"{cls}/{path.name}")
            Image.new("L", (64, 48)).save(root / cls / f"black{k}.png")
            names.append(f"{cls}/black{k}.png")
    return names


EMPTY_RUN = ["features.bin_sizes=[6]", "data.n_train=8", "data.n_test=8", "data.n_splits=1"]


def test_images_without_descriptors_are_recorded_left_out_of_training_and_scored_as_empty(tmp_path):
    from classic.experiment.store import FeatureStore
    from conftest import FOLDER_TINY, make_image_folder
    root = make_image_folder(tmp_path / "data" / "tiny", {"a": 8, "b": 8})
    empty = images_without_descriptors(root)                   # 8 of the 16 images per class
    (root / "a" / "dir.jpg").mkdir()                           # recorded, not silently dropped
    (root / "b" / "gone.jpg").symlink_to(root / "b" / "missing.jpg")
    runner, metrics = run(tmp_path, FOLDER_TINY + EMPTY_RUN, data_root=tmp_path / "data")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    recorded = {e["file"]: e["reason"] for e in manifest["images_without_descriptors"]}
    assert sorted(recorded) == sorted(empty)
    assert "no usable descriptor in the decoded 64 x 1 image" in recorded["a/sliver0.png"]
    skipped = {e["file"]: e["reason"] for e in manifest["skipped_files"]}
    assert "a folder" in skipped["a/dir.jpg"] and "broken symbolic link" in skipped["b/gone.jpg"]
    split = metrics["splits"][0]
    left_out, scored = split["n_train_without_descriptors"], split["n_test_without_descriptors"]
    assert left_out + scored == len(empty) and left_out > 0 and scored > 0
    assert metrics["n_train"] == 16 - left_out and metrics["n_test"] == 16      # the test set keeps them
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"{left_out} training image(s) left out of training, {scored} test image(s)" in report
    assert report.splitlines()[0].endswith(" on folder tiny")       # the title says which data it ran on
    keys = {s["stage"]: s["key"] for s in runner.stages}
    store = FeatureStore(tmp_path / "cache" / "encode" / keys["encode"], 32)
    index = np.load(tmp_path / "cache" / "svm" / keys["svm"] / "index.npz")
    assert not store.empty[index["train"]].any()                          # training saw none of them
    test_rows = index["everything"][index["everything"] >= 16]
    scores = np.load(tmp_path / "cache" / "svm" / keys["svm"] / "scores.npy")
    assert len(scores) == 16
    empty_scores = scores[store.empty[test_rows]]                         # all the classifier's scores of zero
    assert len(empty_scores) == scored and np.allclose(empty_scores, empty_scores[0])
    assert not np.allclose(scores[~store.empty[test_rows]], empty_scores[0])


def test_a_run_removes_what_killed_writers_left_in_the_cache(tmp_path):
    import subprocess
    import sys
    from classic.io import owner_tag
    run(tmp_path, TINY)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    encode = next((tmp_path / "cache" / "encode").iterdir())
    stale = encode / f".shard_00001.npy.{dead.pid}@{owner_tag().split('@')[1]}.x1y2z3w4.tmp"
    stale.write_bytes(b"\0" * 1000)
    run(tmp_path, TINY)
    assert not stale.exists()
