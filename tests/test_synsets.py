"""WordNet words for WNID class names (classic.data.synsets): the bundled ILSVRC-2012 table and where
the words are shown."""
from classic.data.synsets import ilsvrc2012_words, readable_name
from conftest import FOLDER_TINY, make_image_folder, run_experiment


def test_the_bundled_table_holds_the_1000_ilsvrc2012_classes_in_index_order():
    words = ilsvrc2012_words()
    assert len(words) == 1000 and list(words) == sorted(words)
    assert list(words)[0] == "n01440764" and words["n01440764"].startswith("tench")
    assert words["n03425413"].startswith("gas pump")


def test_only_known_wnids_are_rewritten():
    assert readable_name("n03000684") == "chain saw (n03000684)"
    assert readable_name("n99999999") == "n99999999" and readable_name("xn03000684") == "xn03000684"


def test_a_run_on_wnid_folders_reports_its_classes_with_their_words(tmp_path, capsys):
    from classic.cli import main
    make_image_folder(tmp_path / "tiny", {"n03000684": 8, "n03425413": 8})
    run_experiment(tmp_path, FOLDER_TINY + ["data.n_train=4", "data.n_test=4"], config="experiments/folder.yaml",
                   data_root=tmp_path)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "chain saw (n03000684)" in report and "gas pump (n03425413)" in report
    image = next((tmp_path / "tiny" / "n03000684").iterdir())
    assert main(["predict", str(image), "--run", str(tmp_path / "run"), "--n-jobs", "1", "--quiet"]) == 0
    assert capsys.readouterr().out.split("\t")[1] in ("chain saw (n03000684)", "gas pump (n03425413)")
