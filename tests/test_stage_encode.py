"""Stage encode: one pass for all splits, each image decoded once; PQ stores; the GPU path; disk checks."""
import json
import shutil

import numpy as np
import pytest

from conftest import THREE_SPLITS, TINY, requires_caltech, run_three_splits
from conftest import run_experiment as run


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


def test_pq_store_is_fitted_encoded_as_codes_and_decoded_for_training(tmp_path):
    pq = ["encoder.store_dtype=pq", "encoder.pq_bits=4", "encoder.pq_max_iter=5", "svm.solver=sgd", "svm.max_epochs=15"]
    runner, metrics = run(tmp_path, TINY + pq)
    assert [s["stage"] for s in runner.stages] == ["sample", "pca", "gmm", "pq", "encode", "svm", "model"]
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


def test_the_store_key_holds_each_encoders_own_settings():
    """Changing a super-vector or LLC setting changes the encoding's identity (a new store), and a key
    another encoder reads does not (its store is reused)."""
    from classic.experiment.config import load_config
    from classic.experiment.stages.encode import identity
    from conftest import REPO
    config = str(REPO / "experiments" / "caltech101_quick.yaml")

    def ident(*sets):
        return identity(load_config(config, list(sets)))
    base = ident("encoder.kind=supervector")
    assert ident("encoder.kind=supervector", "encoder.frequency_weight=1") != base
    assert ident("encoder.kind=supervector", "encoder.assignment=soft") != base
    assert ident("encoder.kind=supervector", "encoder.llc_lambda=0.1") == base
    llc = ident("encoder.kind=llc")
    assert llc != base and ident("encoder.kind=llc", "encoder.n_nearest=3") != llc
    assert ident("encoder.kind=llc", "encoder.frequency_weight=1") == llc
