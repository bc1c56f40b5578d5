"""Reports: reference rows, comparison tables in four formats, figures in the run folder."""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from classic.report.references import BENCHMARKS, benchmark_of, references
from classic.report.tables import latex_escape
from conftest import TINY
from conftest import run_experiment as run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    run(tmp, TINY)
    return tmp / "run"


def test_every_reference_has_a_source_and_a_known_benchmark():
    entries = references()
    assert len(entries) >= 20
    for e in entries:
        assert e["source"] and e["benchmark"] in BENCHMARKS and e["metrics"]
    caltech = {e["method"]: e for e in references("caltech101-30train")}
    vlfeat = next(e for m, e in caltech.items() if m.startswith("VLFeat"))
    assert vlfeat["same_data"] == "same split" and vlfeat["metrics"]["mean_class_accuracy"] == 76.77
    winners = sorted((e["year"], e["metrics"]["top5_error"]) for e in references("ilsvrc-test") if e.get("winner"))
    assert winners[0] == (2010, 28.2) and winners[-1] == (2017, 2.25) and len(winners) == 8


def test_run_folder_has_figures_embedded_in_its_report(digits_run):
    for name in ("confusion", "per_class"):
        assert (digits_run / f"{name}.png").stat().st_size > 5000 and (digits_run / f"{name}.svg").exists()
    text = (digits_run / "report.md").read_text()
    assert "](confusion.png)" in text and "](per_class.png)" in text
    assert json.loads((digits_run / "classes.json").read_text())[:2] == ["0", "1"]


def _as_caltech(digits_run, tmp_path):
    """The digits run relabelled as a Caltech-101 30-train run, to exercise the reference-row matching."""
    folder = tmp_path / "as_caltech"
    shutil.copytree(digits_run, folder)
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config["data"].update(dataset="caltech101", n_train=30)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_report_writes_four_formats_with_reference_rows(digits_run, tmp_path):
    from classic.cli import main
    caltech_like = _as_caltech(digits_run, tmp_path)
    assert main(["report", str(digits_run), str(caltech_like), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    md = (out / "comparison.md").read_text()
    assert "Caltech-101, 30 training images" in md and "runs without published reference results" in md
    assert "Chatfield" in md and "| 77.78 |" in md and "76.77" in md and "](trajectory.png)" in md
    tables = json.loads((out / "comparison.json").read_text())
    caltech = next(t for t in tables if t["benchmark"] == "caltech101-30train")
    kinds = [r["kind"] for r in caltech["rows"]]
    assert kinds[0] == "ours" and kinds.count("reference") == len(references("caltech101-30train"))
    ours = caltech["rows"][0]
    assert ours["dims"] == 5 * 2 * 4 * 16 and 0 < ours["mean_class_accuracy"] <= 100
    assert "config.yaml" in ours["source"] and ours["time_seconds"] > 0     # computed from an empty cache
    csv_lines = (out / "comparison.csv").read_text().splitlines()
    assert csv_lines[0].startswith("benchmark,kind,method") and len(csv_lines) == 1 + sum(len(t["rows"]) for t in tables)
    assert (out / "trajectory.png").exists()
    check_latex((out / "comparison.tex").read_text(), tmp_path)


def test_rows_of_one_config_name_show_the_settings_that_differ(digits_run, tmp_path):
    from classic.experiment.run_folder import load_run
    from classic.report.tables import comparison_tables
    other = tmp_path / "other_C"
    shutil.copytree(digits_run, other)
    config = yaml.safe_load((other / "config.yaml").read_text())
    config["svm"]["C"] = 1.0
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    (table,) = comparison_tables([load_run(digits_run), load_run(other)], with_references=False)
    names = [r["method"] for r in table["rows"]]
    assert names[1] == f"classic ({config['name']}; svm.C = 1.0)" and names[0].endswith("; svm.C = 10.0)")


def check_latex(tex: str, folder):
    """booktabs structure, the same number of cells on every row, and no unescaped special character."""
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 2
    for block in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, re.S):
        columns, body = len(block[0]), block[1]
        assert r"\toprule" in body and r"\midrule" in body and r"\bottomrule" in body
        rows = [line for line in body.splitlines() if line.endswith(r"\\")]
        assert rows and all(len(re.findall(r"(?<!\\)&", line)) == columns - 1 for line in rows)
    assert not re.search(r"(?<!\\)[%_#]", tex)
    if shutil.which("pdflatex"):
        # where a TeX engine is installed, the table must also compile inside a minimal document
        document = "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + tex + "\\end{document}\n"
        (folder / "table.tex").write_text(document)
        compiled = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"],
                                  text=True, capture_output=True, cwd=folder)
        assert compiled.returncode == 0, compiled.stdout[-2000:]
        assert (folder / "table.pdf").stat().st_size > 1000


def test_latex_escape():
    assert latex_escape("a_b & 5% ± 1") == r"a\_b \& 5\% $\pm$ 1"


def test_benchmark_of():
    assert benchmark_of({"data": {"dataset": "caltech101", "n_train": 30}}) == "caltech101-30train"
    assert benchmark_of({"data": {"dataset": "caltech101", "n_train": 15}}) is None
    assert benchmark_of({"data": {"dataset": "digits", "n_train": 30}}) is None


def test_report_on_a_missing_run_says_what_to_do(tmp_path, capsys):
    from classic.cli import main
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    assert "not a finished run folder" in capsys.readouterr().err


def test_same_split_only_beside_a_run_whose_split_digest_matches(digits_run, tmp_path):
    """The VLFeat row was measured on one split file: "=" beside a run holding that very split (its
    digest), "†" (other random splits) beside any other run, e.g. a random seed-0 split."""
    from classic.data.datasets import read_split_file
    from classic.experiment.run_folder import load_run
    from classic.report.tables import comparison_tables, to_markdown
    from conftest import CALTECH, SPLIT_FILE
    vlfeat = next(e for e in references("caltech101-30train") if e["method"].startswith("VLFeat"))
    if SPLIT_FILE.is_file():         # the digest in references.yaml is the split file's
        names = sorted(p.name for p in CALTECH.iterdir() if p.is_dir())
        assert read_split_file(SPLIT_FILE, names).digest() == vlfeat["split_digest"]
    folder = _as_caltech(digits_run, tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["splits"][0]["split_digest"] != vlfeat["split_digest"]

    def vlfeat_row():
        table = next(t for t in comparison_tables([load_run(folder)]) if t["benchmark"] == "caltech101-30train")
        return next(r for r in table["rows"] if r["method"] == vlfeat["method"]), to_markdown([table])
    row, md = vlfeat_row()
    assert row["data"] == "same protocol" and "the same train/test images" not in md
    metrics["splits"][0]["split_digest"] = vlfeat["split_digest"]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    row, md = vlfeat_row()
    assert row["data"] == "same split" and "= the same train/test images as a split of our run" in md
