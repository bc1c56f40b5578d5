import importlib.util
import json
import re

import numpy as np
import pytest

from classic.backend import BackendUnavailable, array_module, get_backend, to_numpy
from classic.cli import main
from conftest import requires_caltech


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
    assert "mean class accuracy" in capsys.readouterr().out


def test_bad_override_is_a_usage_error(capsys):
    from conftest import REPO
    assert main(["run", str(REPO / "experiments/digits.yaml"), "--set", "svm.Cee=1"]) == 2
    assert "unknown key" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cuda_device_without_cupy_is_a_clear_error(capsys):
    from conftest import REPO
    assert main(["run", str(REPO / "experiments/digits.yaml"), "--device", "cuda"]) == 2
    assert "CuPy" in capsys.readouterr().err


def test_numpy_backend_and_missing_cupy():
    xp, ndi = get_backend("numpy")
    a = xp.ones(3)
    assert array_module(a) is np and to_numpy(a) is a
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("torch")
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(BackendUnavailable, match="CuPy"):
            get_backend("cupy")


@requires_caltech
def test_estimate_projects_from_measured_images(tmp_path, capsys):
    import json

    from classic.cli import main
    from conftest import CALTECH, REPO
    out = tmp_path / "estimate.json"
    assert main(["estimate", str(REPO / "experiments" / "ilsvrc2012_fv.yaml"), "--images", str(CALTECH / "airplanes"),
                 "--n-images", "3", "--set", "data.n_classes=100", "--set", "encoder.n_components=16",
                 "--set", "encoder.store_dtype=float16", "--workers", "1,4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_train"] == 128_116 and result["n_classes"] == 100 and result["measured"]["images"] == 3
    assert result["measured"]["seconds_per_image_decode_and_descriptors"] > 0
    one, four = result["projection_hours"].values()
    assert four["encode"] == pytest.approx(one["encode"] / 4) and four["svm"] == one["svm"]   # Dask helps per-image stages
    assert result["store_gib"] == pytest.approx((128_116 + 5_000) * 8 * 2 * 16 * 64 * 2 / 2 ** 30)
    assert "projection (hours)" in capsys.readouterr().out
    assert main(["estimate", str(REPO / "experiments" / "ilsvrc2012_fv.yaml"), "--images", str(CALTECH / "airplanes"),
                 "--n-images", "1", "--set", "data.n_classes=100", "--set", "encoder.n_components=16",
                 "--json", str(out)]) == 0                                     # the config's PQ store
    pq = json.loads(out.read_text())
    assert pq["store_gib"] == pytest.approx(result["store_gib"] / 16)                                # 1 byte per 8 dims
    assert pq["stage_seconds_one_thread"]["pq"] > 0                        # fitting the codebooks, timed
