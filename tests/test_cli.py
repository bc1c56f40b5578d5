"""The classic command: datasets, run, usage errors, the backend's errors."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

from classic.cli import main


def test_datasets_command_lists_presence(data_root, capsys):
    assert main(["datasets", "--data-root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"caltech101\s+present", out) and re.search(r"digits\s+bundled", out)


def test_datasets_command_reports_missing(tmp_path, capsys):
    main(["datasets", "--data-root", str(tmp_path)])
    assert re.search(r"caltech101\s+missing", capsys.readouterr().out)


def test_run_with_missing_dataset_fails_with_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from conftest import REPO
    code = main(["run", str(REPO / "experiments/caltech101_quick.yaml"), "--data-root", str(tmp_path / "nowhere"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "classic download caltech101" in err and str(tmp_path / "nowhere") in err


def test_run_command_writes_metrics(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLASSIC_CACHE", str(tmp_path / "cache"))
    from conftest import REPO
    args = ["run", str(REPO / "experiments/digits.yaml"), "--out", "runs/d", "--quiet", "--n-jobs", "1",
            "--set", "data.n_train=5", "--set", "encoder.n_components=4", "--set", "encoder.gmm_max_iter=5",
            "--set", "encoder.sample_images=50"]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "runs/d/metrics.json").read_text())
    assert metrics["n_train"] == 50
    out = capsys.readouterr().out
    # the terminal gets text: the figures as paths, not Markdown image links
    assert "mean class accuracy" in out and "![" not in out and "**" not in out
    assert f"figure: {Path('runs/d') / 'per_class.png'} (Per-class accuracy)" in out


def test_bad_override_is_a_usage_error(capsys):
    from conftest import REPO
    assert main(["run", str(REPO / "experiments/digits.yaml"), "--set", "svm.Cee=1"]) == 2
    assert "unknown key" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cuda_device_without_cupy_is_a_clear_error(capsys):
    from conftest import REPO
    assert main(["run", str(REPO / "experiments/digits.yaml"), "--device", "cuda"]) == 2
    assert "CuPy" in capsys.readouterr().err


def test_logging_goes_to_stderr_and_verbose_and_quiet_set_how_much(tmp_path, capsys, monkeypatch):
    """Default: the stages, every tenth EM iteration and the results' lines on stderr; -v: every EM
    iteration too; -q: nothing but warnings.  The report goes to stdout in all three."""
    monkeypatch.chdir(tmp_path)
    from conftest import REPO, TINY
    sets = [a for o in TINY for a in ("--set", o)]
    seen = {}
    for flag in ("", "-v", "-q"):
        monkeypatch.setenv("CLASSIC_CACHE", str(tmp_path / f"cache{flag}"))        # every stage computed
        args = ["run", str(REPO / "experiments/digits.yaml"), *sets, "--out", f"runs/{flag or 'default'}"]
        assert main(args + ([flag] if flag else [])) == 0
        seen[flag] = capsys.readouterr()
        assert "# digits" in seen[flag].out and "GMM K" not in seen[flag].out
    assert "  sample  done" in seen[""].err and "EM iteration 1 / 10" in seen[""].err
    assert "EM iteration 2 / 10" not in seen[""].err and "EM iteration 2 / 10" in seen["-v"].err
    assert seen["-q"].err == ""
