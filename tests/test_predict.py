"""classic predict (classic.experiment.predict): the run's own test scores on its test images, unreadable
files skipped and reported, the CSV, folders searched."""
import csv

import numpy as np
import pytest

from classic.cli import main
from classic.experiment.predict import image_files, predict_images
from test_model import _run


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_predict_gives_the_runs_test_scores_and_skips_what_is_not_an_image(tmp_path, n_jobs):
    scores, paths = _run(tmp_path)
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    predicted = predict_images(tmp_path / "run", paths + [bad], n_jobs=n_jobs, chunk_size=3, progress=False)
    assert predicted["files"] == [str(p) for p in paths] and predicted["classes"] == ["a", "b", "c"]
    np.testing.assert_allclose(predicted["scores"], scores, atol=2e-3 * np.ptp(scores))
    assert [e["file"] for e in predicted["errors"]] == [str(bad)] and "not a readable image" in predicted["errors"][0]["reason"]


def test_the_command_prints_the_top_class_and_writes_the_csv(tmp_path, capsys):
    scores, paths = _run(tmp_path)
    folder = tmp_path / "new"
    folder.mkdir()
    for i, p in enumerate(paths):
        (folder / f"{i:02d}.png").write_bytes(p.read_bytes())
    (folder / ".hidden.png").write_bytes(b"")
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(folder), "--run", str(tmp_path / "run"), "--top", "2", "--out", str(out),
                 "--n-jobs", "1", "--quiet"]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    classes = ["a", "b", "c"]
    for i in range(len(paths)):
        assert lines[i].split("\t")[:2] == [str(folder / f"{i:02d}.png"), classes[int(np.argmax(scores[i]))]]
    assert "broken.png" in printed.err and f"{len(paths)} image(s) classified, 1 file(s) skipped" in printed.err
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["path", "class_1", "score_1", "class_2", "score_2", "error"]
    for i, row in enumerate(rows[:len(paths)]):
        best = np.argsort(-scores[i])[:2]
        assert [row["class_1"], row["class_2"]] == [classes[j] for j in best]
        assert float(row["score_1"]) == pytest.approx(scores[i, best[0]], abs=float(2e-3 * np.ptp(scores)))
    assert rows[-1]["path"].endswith("broken.png") and rows[-1]["class_1"] == "" and rows[-1]["error"]


def test_the_command_refuses_what_it_cannot_use_in_one_line(tmp_path, capsys):
    for args, words in ((["missing.png", "--run", str(tmp_path)], "no such file or folder"),
                        ([str(tmp_path), "--run", str(tmp_path)], "no files in"),
                        ([str(__file__), "--run", str(tmp_path)], "holds no trained model"),
                        ([str(__file__), "--run", str(tmp_path), "--top", "0"], "--top 0")):
        assert main(["predict", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("classic predict: ") and words in err and err.count("\n") == 1


def test_image_files_walks_folders_in_order_and_leaves_hidden_files_out(tmp_path):
    for name in ("b/2.jpg", "a/1.jpg", "a/.x/3.jpg", ".4.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert image_files([tmp_path]) == [tmp_path / "a/1.jpg", tmp_path / "b/2.jpg"]
