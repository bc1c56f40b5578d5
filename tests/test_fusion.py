"""Late fusion of runs (a colour channel with SIFT)."""
import json

import numpy as np
import pytest

from classic.experiment import Runner, load_config
from conftest import TINY


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
