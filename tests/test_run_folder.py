"""The run folder: metrics.json last, so a folder without it says it is incomplete."""
import pytest

from conftest import TINY
from conftest import run_experiment as run


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
