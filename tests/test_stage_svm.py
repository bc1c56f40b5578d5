"""Stage svm: the streaming solvers read the store, with no kernel stage."""
import numpy as np
import pytest

from conftest import TINY
from conftest import run_experiment as run


@pytest.mark.parametrize("solver", ["sgd", "dcd"])
def test_streaming_solvers_read_the_store_without_a_kernel_stage(tmp_path, solver):
    from classic.experiment.trained import TrainedPipeline
    runner, metrics = run(tmp_path, TINY + [f"svm.solver={solver}", "svm.max_epochs=15", "svm.loss=hinge"])
    assert [s["stage"] for s in runner.stages] == ["sample", "pca", "gmm", "encode", "svm", "model"]
    assert metrics["mean_class_accuracy"] > 0.6
    keys = {s["stage"]: s["key"] for s in runner.stages}
    pipeline = TrainedPipeline(tmp_path / "run")                        # an SGD model explains images too
    shards = sorted((tmp_path / "cache" / "encode" / keys["encode"]).glob("shard_*.npy"))
    first_test = np.concatenate([np.load(s) for s in shards])[80].astype(np.float32)
    saved = np.load(tmp_path / "cache" / "svm" / keys["svm"] / "scores.npy")[0]
    np.testing.assert_allclose(pipeline.scores(first_test), saved, rtol=1e-2, atol=1e-2)  # float16 weights


def test_an_option_at_its_neutral_value_leaves_the_svm_key_as_before_it_existed():
    """asgd_warmup and asgd_implicit came after ASGD runs were cached: at 0 / false they are not in the
    identity (their keys hold); any other value is, and only for the asgd solver."""
    from dataclasses import replace

    from classic.experiment.config import SVMConfig
    from classic.experiment.stages.svm import solver_identity
    asgd = replace(SVMConfig(), solver="asgd")
    assert "asgd_warmup" not in solver_identity(asgd)
    assert solver_identity(replace(asgd, asgd_warmup=2.0))["asgd_warmup"] == 2.0
    assert "asgd_warmup" not in solver_identity(replace(asgd, solver="kernel", asgd_warmup=2.0))
    assert "asgd_implicit" not in solver_identity(asgd)
    assert solver_identity(replace(asgd, asgd_implicit=True))["asgd_implicit"] is True
