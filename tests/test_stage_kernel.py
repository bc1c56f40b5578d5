"""Stage kernel: the Gram matrix does not depend on the blocks held in memory."""
import numpy as np

from conftest import TINY
from conftest import run_experiment as run


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
