"""classic estimate: a run's cost projected from measured images."""
import json

import pytest

from classic.cli import main
from conftest import CALTECH, REPO, requires_caltech


@requires_caltech
def test_estimate_projects_from_measured_images(tmp_path, capsys):
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


@requires_caltech
def test_a_multi_channel_config_is_estimated_channel_by_channel_each_on_its_own_image_mode(tmp_path, capsys):
    config = tmp_path / "multi.yaml"
    config.write_text("data: {dataset: ilsvrc2012, n_classes: 10}\n"
                      "features:\n  - {kind: dsift, bin_sizes: [4], step: 8}\n  - {kind: colour, bin_sizes: [4], step: 8}\n"
                      "encoder: {pca_dims: 16, n_components: 8, store_dtype: float16}\n")
    out = tmp_path / "estimate.json"
    assert main(["estimate", str(config), "--images", str(CALTECH / "airplanes"), "--n-images", "2", "--workers", "1",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"dsift", "colour"}           # the colour channel decodes RGB images
    assert all(r["measured"]["descriptors_per_image"] > 0 for r in result.values())
    printed = capsys.readouterr().out
    assert "== channel colour ==" in printed and "== all 2 channels ==" in printed
    total = sum(next(iter(r["projection_hours"].values()))["total"] for r in result.values())   # --workers 1
    assert f"{total:>12.2f} hours" in printed
