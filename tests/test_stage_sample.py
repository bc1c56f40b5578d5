"""Stage sample: every split's sample drawn in one pass, each as it would be alone."""
import shutil

import numpy as np

from conftest import THREE_SPLITS, requires_caltech, run_three_splits
from conftest import run_experiment as run


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
