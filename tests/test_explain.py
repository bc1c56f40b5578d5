"""classic explain: the trained pipeline read back from a run, and the teaching figure."""
import numpy as np
import pytest

from classic.report.explain import energy_per_word, explain
from classic.experiment.run_folder import RunNotFound
from classic.experiment.trained import TrainedPipeline
from conftest import CALTECH, SAMPLE_IMAGES, requires_caltech
from conftest import TINY
from conftest import run_experiment as run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    runner, _ = run(tmp, TINY)
    return tmp, runner


def test_pipeline_read_back_reproduces_the_runs_test_scores(trained):
    tmp, runner = trained
    pipeline = TrainedPipeline(tmp / "run")
    assert pipeline.class_names == [str(i) for i in range(10)]
    keys = {s["stage"]: s["key"] for s in runner.stages}
    shards = sorted((tmp / "cache" / "encode" / keys["encode"]).glob("shard_*.npy"))
    store = np.concatenate([np.load(s) for s in shards]).astype(np.float32)
    saved = np.load(tmp / "cache" / "svm" / keys["svm"] / "scores.npy")
    n_train = len(np.load(tmp / "cache" / "svm" / keys["svm"] / "index.npz")["train"])
    for i in (0, 7):                                  # test images follow the training images in the store
        # the model's weights are float16: scores within 1e-3 of their spread
        np.testing.assert_allclose(pipeline.scores(store[n_train + i]), saved[i], atol=1e-3 * np.ptp(saved))


@requires_caltech
def test_figure_for_an_image_from_outside_the_dataset(trained, tmp_path):
    tmp, _ = trained
    pipeline = TrainedPipeline(tmp / "run")
    written = explain(CALTECH / SAMPLE_IMAGES[0], tmp_path / "figure", pipeline)       # a Caltech photo through a digits model
    assert [p.suffix for p in written] == [".png", ".svg"] and written[0].stat().st_size > 50_000


def test_energy_per_region_of_an_improved_fisher_vector_sums_to_one(trained):
    tmp, _ = trained
    pipeline = TrainedPipeline(tmp / "run")
    rng = np.random.default_rng(0)
    from classic.features import LocalFeatures
    features = LocalFeatures(rng.random((500, 128)).astype(np.float32), rng.random((500, 2)).astype(np.float32))
    energy = energy_per_word(pipeline.encoder.encode(features), pipeline.encoder)
    assert energy.shape == (5, 4)                                           # 1x1 + 2x2 regions, K = 4
    np.testing.assert_allclose(energy.sum(axis=1), 1, atol=1e-5)             # each region is L2-normalised


@requires_caltech
def test_without_a_run_only_the_descriptor_panels(tmp_path):
    written = explain(CALTECH / SAMPLE_IMAGES[1], tmp_path / "plain")
    assert written[0].stat().st_size > 50_000


@requires_caltech
def test_cli_explain_errors(tmp_path, capsys):
    from classic.cli import main
    assert main(["explain", str(tmp_path / "missing.jpg")]) == 2
    assert "no such image" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    with pytest.raises(RunNotFound):
        TrainedPipeline(tmp_path / "run")
    assert main(["explain", str(CALTECH / SAMPLE_IMAGES[0]), "--run", str(tmp_path / "run")]) == 2


def test_an_image_without_descriptors_is_a_clear_message(trained, tmp_path, capsys):
    """Smaller than one frame (with or without a run), or uniform (with a run, whose encoder drops
    descriptors below the contrast threshold): one line saying why, exit status 2, no figure."""
    from PIL import Image
    from classic.cli import main
    tmp, _ = trained
    Image.fromarray((255 * np.random.default_rng(0).random((16, 16))).astype(np.uint8)).save(tmp_path / "small.png")
    Image.fromarray((255 * np.random.default_rng(1).random((6, 6))).astype(np.uint8)).save(tmp_path / "dot.png")
    Image.new("L", (200, 150)).save(tmp_path / "black.png")
    for image, run_args, words in (("small.png", [], "smaller than one frame (31 x 31 px at bin size 10)"),
                                   ("dot.png", ["--run", str(tmp / "run")], "smaller than one frame (10 x 10 px"),
                                   ("black.png", ["--run", str(tmp / "run")], "below the contrast threshold 0.005")):
        assert main(["explain", str(tmp_path / image), *run_args, "--out", str(tmp_path / "figure")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("classic explain: ") and words in err and "\n" not in err
        assert not list(tmp_path.glob("figure*"))


@requires_caltech
def test_hog_and_lbp_figures_are_written_from_the_command_line(tmp_path, capsys):
    from classic.cli import main
    image = CALTECH / "cup" / "image_0001.jpg"
    for descriptor in ("hog", "lbp"):
        assert main(["explain", str(image), "--descriptor", descriptor, "--out", str(tmp_path / descriptor)]) == 0
        assert (tmp_path / f"{descriptor}.png").stat().st_size > 10_000 and (tmp_path / f"{descriptor}.svg").is_file()
    assert main(["explain", str(image), "--descriptor", "hog", "--run", str(tmp_path)]) == 2
    assert "give one of the two" in capsys.readouterr().err


@requires_caltech
def test_figures_of_two_images_with_one_file_name_do_not_overwrite_each_other(tmp_path, monkeypatch):
    from classic.cli import main
    monkeypatch.chdir(tmp_path)
    for folder in ("airplanes", "Faces_easy"):
        assert main(["explain", str(CALTECH / folder / "image_0001.jpg"), "--descriptor", "lbp"]) == 0
    assert {p.name for p in (tmp_path / "explain").glob("*.png")} == {"airplanes_image_0001_lbp.png",
                                                                     "Faces_easy_image_0001_lbp.png"}


def test_the_drawn_patterns_are_the_58_uniform_ones_of_their_codes():
    from classic.report.explain_descriptors import _pattern_bits
    patterns = [_pattern_bits(code) for code in range(59)]
    assert patterns[58] is None                                       # the non-uniform code
    assert len({tuple(p) for p in patterns[:58]}) == 58
    for p in patterns[:58]:
        assert np.count_nonzero(p != np.roll(p, 1)) <= 2              # at most 2 changes round the circle
    assert patterns[1].tolist() == [True] + [False] * 7 and patterns[57].all()


def test_explaining_a_training_image_warns_and_every_explained_image_gets_its_prediction(tmp_path, capsys):
    import json
    from classic.cli import main
    from test_model import _run
    _, test_paths = _run(tmp_path)
    trained = json.loads((tmp_path / "run" / "model" / "train_images.json").read_text())[0]["path"]
    for image, warned in ((trained, True), (test_paths[0], False)):
        assert main(["explain", str(image), "--run", str(tmp_path / "run"), "--out", str(tmp_path / "figure")]) == 0
        printed = capsys.readouterr()
        assert printed.out.startswith(f"{image}: ") and printed.out.count(",") >= 2       # the top classes and scores
        assert ("is a training image of this model" in printed.err) == warned
