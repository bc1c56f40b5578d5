"""The stage contract: only what changed reruns, and runs share one cache under locks."""
import json

import numpy as np
import pytest

from conftest import TINY
from conftest import run_experiment as run


def test_changing_only_svm_C_reruns_only_the_svm(tmp_path):
    run(tmp_path, TINY)
    runner, _ = run(tmp_path, TINY + ["svm.C=0.1"])
    cached = {s["stage"]: s["cached"] for s in runner.stages}
    assert cached == {"sample": True, "pca": True, "gmm": True, "encode": True, "kernel": True, "svm": False,
                      "model": False}
    runner, _ = run(tmp_path, TINY + ["encoder.n_components=5"])
    cached = {s["stage"]: s["cached"] for s in runner.stages}
    assert cached == {"sample": True, "pca": True, "gmm": False, "encode": False, "kernel": False, "svm": False,
                      "model": False}


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
    assert recomputed == {"encode", "kernel", "svm", "model"}                     # a test image: not in the sample
    skipped = json.loads((tmp_path / "run" / "manifest.json").read_text())["skipped_files"]
    assert [s["file"] for s in skipped] == [split.test[0]]
    victim.write_bytes(good)
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10 ** 9))
    runner, metrics = run(tmp_path, overrides, data_root=tmp_path / "data")
    assert {s["stage"] for s in runner.stages if not s["cached"]} == {"encode", "kernel", "svm", "model"}
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
