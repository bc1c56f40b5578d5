"""The experiment layer: configs, caching (only changed stages rerun), skipped files, resuming."""
import json
import platform
import resource
import shutil

import numpy as np
import pytest
import yaml

from classic.experiment import Runner, load_config
from classic.experiment.config import ConfigError
from classic.experiment.parallel import keep_freed_memory
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


def test_changing_only_svm_C_reruns_only_the_svm(tmp_path):
    run(tmp_path, TINY)
    runner, _ = run(tmp_path, TINY + ["svm.C=0.1"])
    cached = {s["stage"]: s["cached"] for s in runner.stages}
    assert cached == {"sample": True, "pca": True, "gmm": True, "encode": True, "kernel": True, "svm": False}
    runner, _ = run(tmp_path, TINY + ["encoder.n_components=5"])
    cached = {s["stage"]: s["cached"] for s in runner.stages}
    assert cached == {"sample": True, "pca": True, "gmm": False, "encode": False, "kernel": False, "svm": False}


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


THREE_SPLITS = ["data.dataset=folder", "data.root=tiny", "data.n_train=4", "data.n_test=3", "data.max_side=64",
                "data.n_splits=3", "features.bin_sizes=[4]", "features.step=4", "encoder.pca_dims=8",
                "encoder.n_components=3", "encoder.gmm_max_iter=5", "encoder.sample_images=8",
                "encoder.sample_size=2000", "encoder.pyramid=[[1, 1], [1, 2]]", "encoder.store_dtype=float32",
                "run.n_jobs=1", "run.chunk_size=5"]


def run_three_splits(tmp_path, overrides):
    """3 splits of 2 classes x 10 real images; each split's stores checked against its own encoder
    applied image by image (``quantize``: through the store's PQ codebooks).  Returns (runner, splits)."""
    from classic.encoding import ProductQuantizer
    from classic.experiment.build import build_dataset, fitted_encoder, make_extractor
    from classic.experiment.store import FeatureStore
    root = tmp_path / "data" / "tiny"
    for cls in ("airplanes", "Faces_easy"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(1, 11):
            shutil.copy(CALTECH / cls / f"image_{i:04d}.jpg", root / cls / f"image_{i:04d}.jpg")
    runner, _ = run(tmp_path, THREE_SPLITS + overrides, data_root=tmp_path / "data")
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


@requires_caltech
@pytest.mark.parametrize("encode_on", ["workers", "backend"])
def test_splits_are_encoded_in_one_pass_each_image_described_once(tmp_path, monkeypatch, encode_on):
    """Every split's store equals its own encoder applied to its images, and re-encoding all three
    decodes each distinct image exactly once."""
    import classic.experiment.context as context_module
    overrides = [f"run.encode_on={encode_on}"]
    _, splits = run_three_splits(tmp_path, overrides)
    union = {ref for split in splits for ref in list(split.train) + list(split.test)}
    assert len(union) < sum(len(split.train) + len(split.test) for split in splits)

    decoded = []
    original = context_module.decode_chunk
    monkeypatch.setattr(context_module, "decode_chunk", lambda d, refs, *a: decoded.extend(refs) or original(d, refs, *a))
    for stage in ("encode", "kernel", "svm"):
        shutil.rmtree(tmp_path / "cache" / stage)
    run(tmp_path, THREE_SPLITS + overrides, data_root=tmp_path / "data")
    assert sorted(decoded) == sorted(union)


@requires_caltech
def test_splits_samples_are_drawn_in_one_pass_as_each_would_be_alone(tmp_path):
    """The first split's sample stage draws every split's sample in one pass; each equals, bit for
    bit, the sample drawn when that split's stage runs alone (the others done)."""
    runner, _ = run_three_splits(tmp_path, [])
    samples = [s for s in runner.stages if s["stage"] == "sample"]
    assert [s["cached"] for s in samples] == [False, True, True]
    folders = [tmp_path / "cache" / "sample" / s["key"] for s in samples]
    shared = [np.load(folder / "sample.npy") for folder in folders]
    for folder, drawn in zip(folders, shared):
        shutil.rmtree(folder)
        again, _ = run(tmp_path, THREE_SPLITS, data_root=tmp_path / "data")
        assert sum(not s["cached"] for s in again.stages) == 1
        np.testing.assert_array_equal(np.load(folder / "sample.npy"), drawn)


@requires_caltech
def test_pq_stores_of_several_splits_hold_each_splits_own_codes(tmp_path):
    """The shared pass quantises each split's vectors with that split's codebooks."""
    runner, _ = run_three_splits(tmp_path, ["encoder.store_dtype=pq", "encoder.pq_bits=2", "encoder.pq_max_iter=3"])
    keys = {(s["stage"], s["split"]): s["key"] for s in runner.stages}
    splits = [split for stage, split in keys if stage == "pq"]
    codebooks = [np.load(tmp_path / "cache" / "pq" / keys["pq", split] / "pq.npz")["codebooks"] for split in splits]
    assert len(codebooks) == 3 and not np.array_equal(codebooks[0], codebooks[1])
    for split, fitted in zip(splits, codebooks):
        stored = np.load(tmp_path / "cache" / "encode" / keys["encode", split] / "quantizer.npz")["codebooks"]
        np.testing.assert_array_equal(stored, fitted)


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


def test_config_overrides_and_errors(tmp_path):
    from conftest import REPO
    cfg = load_config(REPO / "experiments/caltech101_fv.yaml", ["svm.C=3", "encoder.n_components=128"])
    assert cfg.svm.C == 3.0 and isinstance(cfg.svm.C, float) and cfg.encoder.n_components == 128
    assert cfg.name == "caltech101_fv"
    with pytest.raises(ConfigError, match="unknown key.*n_componets"):
        load_config(None, ["encoder.n_componets=3"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(None, ["encoder.n_components=lots"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["svm.C"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("encoder", [["encoder.kind=vlad"], ["encoder.kind=bow", "encoder.assignment=soft"]])
def test_vlad_and_bow_runs_fit_a_kmeans_vocabulary(tmp_path, encoder):
    runner, metrics = run(tmp_path, TINY + ["encoder.n_components=16"] + encoder)
    assert [s["stage"] for s in runner.stages] == ["sample", "pca", "kmeans", "encode", "kernel", "svm"]
    assert metrics["mean_class_accuracy"] > 0.5            # chance: 0.1


def test_unknown_encoder_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="encoder.kind"):
        run(tmp_path, TINY + ["encoder.kind=sparse_coding"])


@pytest.mark.parametrize("solver", ["sgd", "dcd"])
def test_streaming_solvers_read_the_store_without_a_kernel_stage(tmp_path, solver):
    from classic.experiment.trained import TrainedPipeline
    runner, metrics = run(tmp_path, TINY + [f"svm.solver={solver}", "svm.max_epochs=15", "svm.loss=hinge"])
    assert [s["stage"] for s in runner.stages] == ["sample", "pca", "gmm", "encode", "svm"]
    assert metrics["mean_class_accuracy"] > 0.6
    keys = {s["stage"]: s["key"] for s in runner.stages}
    pipeline = TrainedPipeline(tmp_path / "run")                        # an SGD model explains images too
    shards = sorted((tmp_path / "cache" / "encode" / keys["encode"]).glob("shard_*.npy"))
    first_test = np.concatenate([np.load(s) for s in shards])[80].astype(np.float32)
    saved = np.load(tmp_path / "cache" / "svm" / keys["svm"] / "scores.npy")[0]
    np.testing.assert_allclose(pipeline.scores(first_test), saved, rtol=1e-2, atol=1e-2)  # float16 weights


def test_dask_local_cluster_gives_the_same_results_as_a_local_run(tmp_path):
    from classic.experiment import Runner
    from conftest import REPO
    results = {}
    # local worker processes, like Dask's, run a one-thread BLAS: the same arithmetic, so the same bits
    for name, extra in (("local", ["run.n_jobs=2"]), ("dask", ["run.cluster=local:2"])):
        cfg = load_config(REPO / "experiments/digits.yaml", TINY + extra)
        runner = Runner(cfg, tmp_path, tmp_path / name / "cache", tmp_path / name / "run", progress=False,
                        log=lambda *a: None)
        results[name] = (runner.run(), runner)
        assert runner.client is None                                   # the cluster is closed after the run
    (local, _), (dask, runner) = results["local"], results["dask"]
    assert dask["mean_class_accuracy"] == local["mean_class_accuracy"]
    keys = [{s["stage"]: s["key"] for s in r.stages} for _, r in results.values()]
    assert keys[0] == keys[1]
    encode = [tmp_path / n / "cache" / "encode" / keys[0]["encode"] for n in ("local", "dask")]
    for a in sorted(encode[0].glob("shard_*.npy")):
        np.testing.assert_array_equal(np.load(a), np.load(encode[1] / a.name))


def test_gram_matrix_is_the_same_whatever_the_blocks_held_in_memory(tmp_path):
    """Blocks of 7 rows held one at a time, all training rows held at once, one block: X X_train^T."""
    from classic.experiment.store import FeatureStore
    grams = []
    for i, extra in enumerate((["run.kernel_block=7", "run.kernel_memory_mb=0"], ["run.kernel_block=7"], [])):
        runner, _ = run(tmp_path / str(i), TINY + extra)
        keys = {s["stage"]: s["key"] for s in runner.stages}
        grams.append(np.load(tmp_path / str(i) / "cache" / "kernel" / keys["kernel"] / "gram.npy"))
        if i == 0:
            index = np.load(tmp_path / "0" / "cache" / "kernel" / keys["kernel"] / "index.npz")
            store = FeatureStore(tmp_path / "0" / "cache" / "encode" / keys["encode"])
            expected = store[index["everything"]] @ store[index["train"]].T
    assert expected.shape == (140, 80)
    for gram in grams:
        np.testing.assert_allclose(gram, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("store", ["float16", "pq"])
def test_encoding_on_the_backend_matches_the_worker_processes(tmp_path, store):
    """The GPU path (this process, whole chunks as one batch, threads decoding ahead), run on numpy:
    the same descriptor sample, the same store up to float rounding, the same keys (either resumes the other)."""
    from classic.experiment.store import FeatureStore
    extra = ["run.n_jobs=2", "run.chunk_size=16", f"encoder.store_dtype={store}", "encoder.pq_bits=4", "encoder.pq_max_iter=5"]
    stages, stores = {}, {}
    for mode in ("workers", "backend"):
        runner, _ = run(tmp_path / mode, TINY + extra + [f"run.encode_on={mode}"])
        assert runner.on_backend == (mode == "backend")
        stages[mode] = {s["stage"]: s["key"] for s in runner.stages}
        stores[mode] = FeatureStore(tmp_path / mode / "cache" / "encode" / stages[mode]["encode"])
    assert stages["workers"] == stages["backend"]
    sample = [np.load(tmp_path / m / "cache" / "sample" / stages[m]["sample"] / "sample.npy") for m in stages]
    # the same rows drawn; descriptors from one-thread (workers) and multi-thread (this process) BLAS
    # filter products, equal to float32 rounding
    np.testing.assert_allclose(sample[0], sample[1], rtol=1e-5, atol=1e-6)
    rows = np.arange(stores["workers"].shape[0])
    a, b = stores["workers"][rows], stores["backend"][rows]
    assert a.shape == (140, 640) and np.abs(a).max() > 0.05
    if store == "pq":          # rounding moves the codebooks' k-means by ~1e-6: centroids differ in the last bits
        assert np.linalg.norm(a - b) < 1e-3 * np.linalg.norm(a)
    else:
        np.testing.assert_allclose(a, b, atol=2e-3)


def test_colour_channel_and_late_fusion(tmp_path):
    from classic.experiment.fusion import FusionError, fuse_runs
    from classic.learn import evaluate
    from conftest import REPO
    folders = {}
    for kind in ("dsift", "colour"):
        cfg = load_config(REPO / "experiments/digits.yaml", TINY + [f"features.kind={kind}"])
        folders[kind] = tmp_path / kind
        Runner(cfg, tmp_path, tmp_path / "cache", folders[kind], progress=False, log=lambda *a: None).run()
    colour = json.loads((folders["colour"] / "metrics.json").read_text())
    assert colour["mean_class_accuracy"] > 0.2                        # gray digits: colour stats are a weak cue
    fused = fuse_runs([folders["dsift"], folders["colour"]], tmp_path / "fused", weights=[3, 1])
    scores = 0.75 * np.load(folders["dsift"] / "scores_seed0.npy") + 0.25 * np.load(folders["colour"] / "scores_seed0.npy")
    expected = evaluate(scores, np.load(folders["dsift"] / "test_labels_seed0.npy"), 10)
    assert fused["mean_class_accuracy"] == pytest.approx(expected["mean_class_accuracy"])
    from classic.report.render import render_run
    assert "**fused**" in render_run(tmp_path / "fused").read_text()
    assert (tmp_path / "fused" / "confusion.png").exists() and fused["fusion"]["weights"] == [0.75, 0.25]
    with pytest.raises(FusionError):
        fuse_runs([folders["dsift"]], tmp_path / "one")
    other = load_config(REPO / "experiments/digits.yaml", TINY + ["seed=5"])
    Runner(other, tmp_path, tmp_path / "cache", tmp_path / "other", progress=False, log=lambda *a: None).run()
    with pytest.raises(FusionError, match="splits"):
        fuse_runs([folders["dsift"], tmp_path / "other"], tmp_path / "bad")
    # a run folder whose scores were replaced by a pickle (an object array): refused, never unpickled
    import os
    sentinel = tmp_path / "pickle-ran"

    class Trap:
        def __reduce__(self):
            return os.mkdir, (str(sentinel),)
    np.save(folders["colour"] / "scores_seed0.npy", np.array([Trap()], dtype=object), allow_pickle=True)
    with pytest.raises(FusionError, match="scores_seed0.npy: not a plain array file"):
        fuse_runs([folders["dsift"], folders["colour"]], tmp_path / "fused2")
    assert not sentinel.exists()


def test_feature_store_reads_rows_across_shards(tmp_path):
    from classic.io import save_json, save_npy
    from classic.experiment.store import FeatureStore
    rng = np.random.default_rng(0)
    parts = [rng.random((n, 7)).astype(np.float16) for n in (5, 3, 6)]
    for i, part in enumerate(parts):
        save_npy(tmp_path / f"shard_{i:05d}.npy", part)
        save_json(tmp_path / f"shard_{i:05d}.json", {"valid": [True] * len(part), "errors": []})
    everything = np.concatenate(parts).astype(np.float32)
    store = FeatureStore(tmp_path, 14)
    assert store.shape == (14, 7)
    for index in ([0, 1, 2], [13, 4, 5, 6, 0], np.arange(14), [8]):
        np.testing.assert_array_equal(store[np.asarray(index)], everything[index])
    np.testing.assert_array_equal(store[3:9], everything[3:9])
    np.testing.assert_array_equal(store.subset([2, 9, 11])[[2, 0]], everything[[11, 2]])
    with pytest.raises(RuntimeError, match="holds 14 images"):
        FeatureStore(tmp_path, 15)


def test_every_experiment_file_is_a_valid_config_or_sweep():
    from classic.experiment.sweep import load_sweep, sweep_points
    from classic.experiment.config import build_config
    from conftest import REPO
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        if "sweep:" in path.read_text():
            base, grid, variants = load_sweep(path)
            for point in sweep_points(grid, variants):
                build_config(base, point["overrides"])
        else:
            load_config(path)


def test_exponent_notation_without_a_dot_is_a_number():
    assert load_config(None, ["svm.lam=1e-4", "svm.C=2e1"]).svm.lam == 1e-4
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(None, ["svm.C=ten"])


def test_pq_store_is_fitted_encoded_as_codes_and_decoded_for_training(tmp_path):
    pq = ["encoder.store_dtype=pq", "encoder.pq_bits=4", "encoder.pq_max_iter=5", "svm.solver=sgd", "svm.max_epochs=15"]
    runner, metrics = run(tmp_path, TINY + pq)
    assert [s["stage"] for s in runner.stages] == ["sample", "pca", "gmm", "pq", "encode", "svm"]
    keys = {s["stage"]: s["key"] for s in runner.stages}
    fit = json.loads((tmp_path / "cache" / "pq" / keys["pq"] / "fit.json").read_text())
    assert fit["images"] == 80 and fit["subquantizers"] == 640 // 8 and 0 < fit["relative_squared_error"] < 0.5
    assert not (tmp_path / "cache" / "pq" / keys["pq"] / "training_vectors").exists()
    encode = tmp_path / "cache" / "encode" / keys["encode"]
    shard = np.load(sorted(encode.glob("shard_*.npy"))[0])
    assert shard.dtype == np.uint8 and shard.shape[1] == 640 // 8 and shard.max() < 16
    from classic.experiment.store import FeatureStore
    store = FeatureStore(encode)
    assert store.shape == (140, 640) and store[[0, 1]].dtype == np.float32
    assert metrics["mean_class_accuracy"] > 0.6                      # chance: 0.1


def small_disk(monkeypatch, under: str, free: int):
    """shutil.disk_usage reports ``free`` bytes for paths containing ``under`` (a fake small disk)."""
    import collections
    import shutil as shutil_module
    usage, real = collections.namedtuple("usage", "total used free"), shutil_module.disk_usage
    monkeypatch.setattr(shutil_module, "disk_usage",
                        lambda path: usage(10 ** 9, 10 ** 9 - free, free) if under in str(path) else real(path))


def test_a_store_larger_than_the_free_disk_is_refused_before_encoding(tmp_path, monkeypatch):
    from classic.io import InsufficientSpace
    small_disk(monkeypatch, "encode", 1000)
    with pytest.raises(InsufficientSpace, match=r"feature store \(140 images x 640 dims\) needs 350.0 KiB but only "
                                                r"1000 B are free .*store_dtype=pq \(~10.9 KiB\)"):
        run(tmp_path, TINY)
    assert not list((tmp_path / "cache" / "encode").glob("*/shard_*.npy"))


def test_the_pq_codebooks_training_vectors_are_checked_with_their_own_advice(tmp_path, monkeypatch):
    from classic.io import InsufficientSpace
    small_disk(monkeypatch, "training_vectors", 1000)
    with pytest.raises(InsufficientSpace, match=r"fitting the PQ codebooks \(80 training images' vectors, held as "
                                                r"float16\) needs 100.0 KiB .*lower encoder.pq_train_images"):
        run(tmp_path, TINY + ["encoder.store_dtype=pq", "encoder.pq_bits=4"])


def test_a_full_cache_disk_is_one_clear_line_in_human_units(tmp_path, monkeypatch, capsys):
    from classic.cli import main
    from conftest import REPO
    small_disk(monkeypatch, "cache", 200_000)
    monkeypatch.setenv("CLASSIC_CACHE", str(tmp_path / "cache"))
    sets = [a for o in TINY for a in ("--set", o)]
    assert main(["run", str(REPO / "experiments" / "digits.yaml"), *sets, "--out", str(tmp_path / "run"), "--quiet",
                 "--data-root", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("classic run: ") and "needs 350.0 KiB but only 195.3 KiB are free" in err
    assert "\n" not in err and "0.0 GiB" not in err
    assert not [p for p in (tmp_path / "cache").rglob("*.tmp")]


def test_a_disk_that_fills_while_the_run_folder_is_written_leaves_no_metrics(tmp_path, monkeypatch):
    """metrics.json is written last: a folder holding it is complete, one without it says it is not."""
    import errno
    import classic.experiment.run_folder as run_folder
    from classic.io import InsufficientSpace, atomic_write, save_npy

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    def save_scores(path, array):
        return atomic_write(path, full) if path.name.startswith("scores_") else save_npy(path, array)
    monkeypatch.setattr(run_folder, "save_npy", save_scores)
    with pytest.raises(InsufficientSpace, match="the disk filled while writing .*scores_seed0.npy"):
        run(tmp_path, TINY)
    out = tmp_path / "run"
    assert (out / "config.yaml").exists() and not (out / "metrics.json").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc tuning is glibc's")
def test_freed_memory_is_reused_without_faulting_pages_in_again():
    """A worker's pattern: a chunk's 10 MB descriptor arrays held, MB-sized temporaries, all freed, again.
    With glibc's defaults the second round faults ~3,000 pages in afresh; after keep_freed_memory, none."""
    keep_freed_memory()

    def chunk():
        held = [np.ones(2_500_000, np.float32) for _ in range(4)]
        for _ in range(3):
            np.ones(400_000, np.float32), np.ones(650_000, np.float32)
        del held
    chunk()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    chunk()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 300


def test_float16_conversion_is_numpys_bit_for_bit():
    """The store's float32 -> float16 conversion (fast also for float16-subnormal values) gives numpy's bits:
    a sweep over every 4,099th float32 bit pattern (all exponents, both signs) and dense sweeps around
    the subnormal boundary, the smallest subnormal, 1 and the overflow threshold."""
    from classic.experiment.store import to_float16
    sweep = np.arange(0, 1 << 32, 4099, dtype=np.uint64).astype(np.uint32)
    dense = [np.arange(base - 4096, base + 4096, dtype=np.uint32) for base in (0x38800000, 0x33000000, 0x3F800000,
                                                                                 0x477FF000)]
    x = np.concatenate([sweep] + dense + [d | np.uint32(0x80000000) for d in dense]).view(np.float32)
    x = x[:len(x) // 7 * 7]
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16)
    ours = to_float16(x.reshape(-1, 7)).reshape(-1)         # any shape
    finite = ~np.isnan(x)
    np.testing.assert_array_equal(ours.view(np.uint16)[finite], expected.view(np.uint16)[finite])
    assert np.isnan(ours[~finite]).all()


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
    assert f"{left_out} training image(s) left out of training, {scored} test image(s)" in (
        tmp_path / "run" / "report.md").read_text()
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


def test_more_training_images_than_a_class_holds_is_refused_before_any_work(tmp_path, capsys):
    from classic.cli import main
    from conftest import FOLDER_TINY, REPO, make_image_folder
    make_image_folder(tmp_path / "data" / "tiny", {"a": 10, "b": 7})
    sets = [a for o in FOLDER_TINY + ["data.n_train=12"] for a in ("--set", o)]
    assert main(["run", str(REPO / "experiments" / "digits.yaml"), "--data-root", str(tmp_path / "data"), *sets,
                 "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "2 class(es) without test images (a, b)" in err and "use data.n_train <= 6" in err
    assert not (tmp_path / "run").exists()


def test_an_image_replaced_in_the_dataset_recomputes_what_depends_on_it(tmp_path):
    """A corrupt test image, then the same file replaced by a good one: the stages that read it run
    again (the others stay cached) and the manifest reports the file as it is now."""
    import os
    from conftest import FOLDER_TINY, make_image_folder
    root = make_image_folder(tmp_path / "data" / "tiny", {"a": 8, "b": 8})
    overrides = FOLDER_TINY + ["data.n_train=4", "data.n_test=4"]
    runner, _ = run(tmp_path, overrides, data_root=tmp_path / "data")
    split = runner_split(runner, tmp_path)
    victim = root / split.test[0]
    good = victim.read_bytes()
    victim.write_bytes(good[:40])                                          # truncated: cannot be decoded
    runner, _ = run(tmp_path, overrides, data_root=tmp_path / "data")
    recomputed = {s["stage"] for s in runner.stages if not s["cached"]}
    assert recomputed == {"encode", "kernel", "svm"}                       # a test image: not in the sample
    skipped = json.loads((tmp_path / "run" / "manifest.json").read_text())["skipped_files"]
    assert [s["file"] for s in skipped] == [split.test[0]]
    victim.write_bytes(good)
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10 ** 9))
    runner, metrics = run(tmp_path, overrides, data_root=tmp_path / "data")
    assert {s["stage"] for s in runner.stages if not s["cached"]} == {"encode", "kernel", "svm"}
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["skipped_files"] == []
    assert metrics["n_test"] == 8
    runner, _ = run(tmp_path, overrides, data_root=tmp_path / "data")     # nothing changed: all cached
    assert all(s["cached"] for s in runner.stages)


def runner_split(runner, tmp_path):
    from classic.experiment.build import build_dataset
    return build_dataset(runner.config, tmp_path / "data").splits()[0]


CONCURRENT = {"dcd": ["svm.solver=dcd", "svm.dcd_tol=1e-9", "svm.max_epochs=40", "svm.patience=40"],
              "pq": ["encoder.store_dtype=pq", "encoder.pq_bits=4", "encoder.pq_train_images=60", "encoder.pq_max_iter=5",
                     "svm.solver=sgd", "svm.max_epochs=5"]}


@pytest.mark.parametrize("case", sorted(CONCURRENT))
def test_two_runs_at_once_on_one_cache_give_the_lone_runs_results(tmp_path, case):
    """Two processes started together on one cache (with DCD's dual-variable file, PQ's training
    vectors): both finish, each stage is computed once, and the results are those of a lone run in a
    cache of its own (the same command, so the same arithmetic)."""
    import os
    import subprocess
    import sys
    from conftest import REPO
    sets = [a for o in TINY + CONCURRENT[case] for a in ("--set", o)]

    def start(cache, out):
        return subprocess.Popen([sys.executable, "-m", "classic.cli", "run", str(REPO / "experiments" / "digits.yaml"),
                                 *sets, "--out", str(tmp_path / out), "--quiet", "--data-root", str(tmp_path)],
                                env=dict(os.environ, CLASSIC_CACHE=str(tmp_path / cache)), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    runs = [start("alone", "lone")]
    runs[0].communicate(timeout=300)
    runs += [start("shared", f"run{i}") for i in (1, 2)]
    outputs = [r.communicate(timeout=300)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0, 0], outputs
    alone = json.loads((tmp_path / "lone" / "metrics.json").read_text())
    for i in (1, 2):
        shared = json.loads((tmp_path / f"run{i}" / "metrics.json").read_text())
        assert shared["mean_class_accuracy"] == alone["mean_class_accuracy"]
        np.testing.assert_allclose(np.load(tmp_path / f"run{i}" / "scores_seed0.npy"),
                                   np.load(tmp_path / "lone" / "scores_seed0.npy"), rtol=1e-6, atol=1e-7)
    for stage in ("sample", "encode", "svm"):                 # one folder each: computed once, by one of them
        assert len([f for f in (tmp_path / "shared" / stage).iterdir() if (f / "done.json").exists()]) == 1


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
