"""The fusion stage and multi-channel runs: each channel's stages are its single-channel run's, each
channel alone is reported, and the fusion uses the training images only."""
import numpy as np
import pytest
import yaml

from classic.experiment.stages.fusion import _aligned
from conftest import REPO, TINY, run_experiment

CHANNELS = [{"kind": "dsift", "bin_sizes": [3], "step": 3}, {"kind": "lbp", "bin_sizes": [4]}]


def _multi_config(tmp_path, fusion):
    values = yaml.safe_load((REPO / "experiments/digits.yaml").read_text())
    values.update(features=CHANNELS, fusion=fusion, name="multi")
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _tiny(overrides=()):
    return [o for o in TINY if not o.startswith("features.")] + list(overrides)


def test_a_multi_channel_run_shares_the_single_channel_stages_and_reports_each_channel(tmp_path):
    _, sift = run_experiment(tmp_path, TINY, render=False)              # the same SIFT channel, run alone
    runner, metrics = run_experiment(tmp_path, _tiny(), config=_multi_config(tmp_path, {"method": "late"}))
    sift_records = [r for r in runner.stages if r.get("channel") == "dsift"]
    assert {r["stage"] for r in sift_records} == {"sample", "pca", "gmm", "encode", "kernel"}
    assert all(r["cached"] for r in sift_records)                        # nothing recomputed for that channel
    assert not any(r["cached"] for r in runner.stages if r.get("channel") == "lbp")
    channels = metrics["channels"]
    assert channels["names"] == ["dsift", "lbp"] and channels["method"] == "late"
    # the channel alone is the single-channel run: same Gram matrix, same C, same SVM
    assert channels["per_channel"]["dsift"]["mean_class_accuracy"] == pytest.approx(sift["mean_class_accuracy"])
    assert 0.3 < channels["per_channel"]["lbp"]["mean_class_accuracy"] <= 1
    assert sum(channels["weights"]) == pytest.approx(1)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Channels (late fusion)" in report and "| lbp |" in report and "cross-validation" in report


@pytest.mark.parametrize("method", ["early", "late"])
def test_given_weights_one_and_zero_give_the_first_channel_alone(tmp_path, method):
    _, metrics = run_experiment(tmp_path, _tiny(), config=_multi_config(tmp_path, {"method": method,
                                                                                   "weights": [1, 0]}),
                                render=False)
    assert metrics["channels"]["weights"] == [1.0, 0.0] and metrics["channels"]["chosen_by"] == "given"
    alone = metrics["channels"]["per_channel"]["dsift"]
    assert metrics["mean_class_accuracy"] == pytest.approx(alone["mean_class_accuracy"], abs=1e-9)


def test_changing_the_fusion_recomputes_the_fusion_stage_only(tmp_path):
    run_experiment(tmp_path, _tiny(), config=_multi_config(tmp_path, {"method": "late"}), render=False)
    runner, metrics = run_experiment(tmp_path, _tiny(), config=_multi_config(tmp_path, {"method": "early"}),
                                     render=False)
    computed = {r["stage"] for r in runner.stages if not r["cached"]}
    assert computed == {"fusion", "model"}
    assert metrics["channels"]["method"] == "early" and metrics["mean_class_accuracy"] > 0.5


def test_channels_are_aligned_on_common_rows_with_zeros_where_a_channel_has_no_descriptor():
    # channel rows: training images 0 and 2 (image 1 has no descriptor there), test image 4
    gram = np.array([[1.0, 0.5], [0.5, 2.0], [0.3, 0.7]], dtype=np.float32)
    index = {"train": np.array([0, 2]), "everything": np.array([0, 2, 4])}
    out = _aligned(gram, index, everything=np.array([0, 1, 2, 3, 4]), train=np.array([0, 1, 2]))
    np.testing.assert_allclose(out, [[1, 0, 0.5], [0, 0, 0], [0.5, 0, 2], [0, 0, 0], [0.3, 0, 0.7]], rtol=1e-7)


def test_each_channels_C_is_chosen_on_the_same_folds_as_its_single_channel_run(tmp_path):
    grid = ["svm.C_grid=[0.01, 10]", "svm.cv_folds=2"]
    _, sift = run_experiment(tmp_path, TINY + grid, render=False)
    _, metrics = run_experiment(tmp_path, _tiny(grid), config=_multi_config(tmp_path, {"method": "late"}),
                                render=False)
    alone = metrics["splits"][0]["fusion"]["per_channel"]["dsift"]
    assert alone["C"] == sift["splits"][0]["C"] and len(alone["cv_C"]) == 2
    assert alone["mean_class_accuracy"] == pytest.approx(sift["mean_class_accuracy"])


def test_a_streaming_solver_fuses_the_channels_early_on_their_weighted_concatenated_stores(tmp_path):
    """svm.solver=asgd: one SVM on [sqrt(w1) x1, sqrt(w2) x2], read from the channels' own stores
    (the SIFT channel's stages are those of its single-channel run); the weights are the given ones."""
    from classic.experiment.store import ConcatenatedStore, FeatureStore
    _, sift = run_experiment(tmp_path, TINY + ["svm.solver=asgd", "svm.batch_size=4"], render=False)
    overrides = _tiny(["svm.solver=asgd", "svm.batch_size=4"])
    runner, metrics = run_experiment(tmp_path, overrides, config=_multi_config(tmp_path, {"method": "early",
                                                                                         "weights": [3, 1]}))
    assert all(r["cached"] for r in runner.stages if r.get("channel") == "dsift")
    assert metrics["channels"]["weights"] == [0.75, 0.25] and metrics["channels"]["method"] == "early"
    assert metrics["mean_class_accuracy"] > 0.5
    assert "| lbp | 0.250 | — |" in (tmp_path / "run" / "report.md").read_text()
    folders = [r for r in runner.stages if r["stage"] == "encode"]
    stores = [FeatureStore(tmp_path / "cache" / "encode" / r["key"]) for r in folders]
    both = ConcatenatedStore(stores, np.sqrt([0.75, 0.25]))
    rows = np.arange(3)
    np.testing.assert_allclose(both[rows], np.concatenate([np.sqrt(0.75) * stores[0][rows],
                                                           0.5 * stores[1][rows]], axis=1), rtol=1e-6)
