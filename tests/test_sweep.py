"""Sweeps: grids and named variants, sharing cached stages, one table and one figure."""
import csv
import json

import pytest
import yaml

from classic.experiment import Runner
from classic.experiment.config import ConfigError, load_config
from classic.experiment.sweep import parse_grid, run_sweep, sweep_points
from conftest import REPO
from conftest import TINY
from classic.report.render import render_sweep


def test_parse_grid_reads_yaml_values_and_keeps_lists_whole():
    grid = parse_grid(["encoder.n_components=16,32", "features.bin_sizes=[4,8],[4, 6, 8]", "svm.loss=hinge"])
    assert grid == {"encoder.n_components": [16, 32], "features.bin_sizes": [[4, 8], [4, 6, 8]],
                    "svm.loss": ["hinge"]}
    with pytest.raises(ConfigError):
        parse_grid(["encoder.n_components"])


def test_points_cross_variants_with_the_grid():
    points = sweep_points({"a.k": [1, 2]}, {"FV": {"encoder.kind": "fisher"}, "VLAD": {"encoder.kind": "vlad"}})
    assert [p["label"] for p in points] == ["FV, k=1", "FV, k=2", "VLAD, k=1", "VLAD, k=2"]
    assert points[3]["overrides"] == ["encoder.kind=vlad", "a.k=2"]
    assert len({p["folder"] for p in points}) == 4


def _runner_factory(tmp_path, stages):
    def make_runner(config, folder):
        runner = Runner(config, tmp_path, tmp_path / "cache", folder, progress=False, log=lambda *a: None)
        stages.append(runner.stages)
        return runner
    return make_runner


def test_grid_sweep_shares_cached_stages_and_writes_table_and_figure(tmp_path):
    stages = []
    rows = run_sweep(REPO / "experiments/digits.yaml", ["encoder.n_components=2,4", "data.n_train=6,8"],
                     [t for t in TINY if not t.startswith("data.n_train")], tmp_path / "sweep",
                     _runner_factory(tmp_path, stages), log=lambda *a: None)
    assert len(rows) == 4 and all(0.1 < r["mean_class_accuracy"] <= 1 for r in rows)
    # points in product order: (K=2, n=6), (K=2, n=8), (K=4, n=6), ...; the third reuses the first's sample and PCA
    third = {s["stage"]: s["cached"] for s in stages[2]}
    assert third["sample"] and third["pca"] and not third["gmm"]
    out = tmp_path / "sweep"
    table = render_sweep(out).read_text()
    assert table.count("\n| ") == 4 and "encoder.n_components" in table and "](sweep.png)" in table
    assert (out / "sweep.png").stat().st_size > 5000 and (out / "sweep.svg").exists()
    # the CSV holds numbers a spreadsheet reads as numbers (no thousands separators, no "±")
    csv_rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(csv_rows) == 4 and all(int(r["dims"]) > 0 and 0 < float(r["mean_class_accuracy_pct"]) <= 100
                                      and float(r["compute_seconds"]) >= 0 for r in csv_rows)
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["grid"] == {"encoder.n_components": [2, 4], "data.n_train": [6, 8]}
    assert all((out / r["folder"] / "metrics.json").exists() for r in saved["rows"])


def test_named_variants_from_the_config_file(tmp_path):
    config = yaml.safe_load((REPO / "experiments/digits.yaml").read_text())
    config["sweep"] = {"variants": {"Fisher vector": {"encoder.kind": "fisher"}, "VLAD": {"encoder.kind": "vlad"}}}
    path = tmp_path / "variants.yaml"
    path.write_text(yaml.safe_dump(config))
    rows = run_sweep(path, [], TINY + ["encoder.n_components=8"], tmp_path / "sweep",
                     _runner_factory(tmp_path, []), log=lambda *a: None)
    assert [r["label"] for r in rows] == ["Fisher vector", "VLAD"]
    assert rows[0]["dims"] == 5 * 2 * 8 * 16 and rows[1]["dims"] == 5 * 8 * 16
    with pytest.raises(ConfigError, match="classic sweep"):
        load_config(path)


def test_a_bad_point_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError):
        run_sweep(REPO / "experiments/digits.yaml", ["encoder.n_components=2,two"], TINY, tmp_path / "sweep",
                  _runner_factory(tmp_path, []), log=lambda *a: None)
    assert not (tmp_path / "sweep").exists()
