"""Parallel execution: a Dask cluster gives the local run's results; freed memory is reused."""
import platform
import resource

import numpy as np
import pytest

from classic.experiment import Runner, load_config
from classic.experiment.parallel import keep_freed_memory
from conftest import REPO, TINY


def test_dask_local_cluster_gives_the_same_results_as_a_local_run(tmp_path):
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
