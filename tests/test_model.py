"""A run's model/ folder (classic.experiment.model, stage ``model``): self-contained, no pickle, and the
pipeline it loads gives the run's own test scores on the run's test images, for every solver and
fusion, without the cache."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from classic import load_model
from classic.data import load_image
from classic.experiment import load_config
from classic.experiment.build import build_dataset
from classic.experiment.model import read_model, training_image
from classic.experiment.run_folder import RunNotFound
from conftest import FOLDER_TINY, REPO, make_image_folder, run_experiment

SPLIT = ["data.n_train=5", "data.n_test=4"]
CHANNELS = [{"kind": "dsift", "bin_sizes": [4], "step": 4}, {"kind": "colour", "bin_sizes": [4], "step": 4}]


def _config(tmp_path, fusion=None):
    """experiments/folder.yaml, or a two-channel version of it (gray SIFT + RGB colour statistics)."""
    if fusion is None:
        return REPO / "experiments/folder.yaml"
    values = yaml.safe_load((REPO / "experiments/folder.yaml").read_text())
    values.update(features=CHANNELS, fusion=fusion, name="multi")
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _run(tmp_path, overrides=(), fusion=None):
    """A tiny run of 3 textured classes; returns (the run's first-split test scores, that split's test image paths)."""
    make_image_folder(tmp_path / "tiny", {"a": 9, "b": 9, "c": 9})
    config = _config(tmp_path, fusion)
    options = [o for o in FOLDER_TINY if not (fusion and o.startswith("features."))] + SPLIT + list(overrides)
    run_experiment(tmp_path, options, config=config, data_root=tmp_path, render=False)
    dataset = build_dataset(load_config(config, options), tmp_path)
    split = dataset.splits()[0]
    return np.load(tmp_path / "run" / f"scores_{split.name}.npy"), [dataset.path(r) for r in split.test]


def _model_scores(tmp_path, paths):
    info = read_model(tmp_path / "run")
    model = load_model(tmp_path / "run")
    images = [load_image(p, info["image_mode"], info["max_side"]) for p in paths]
    return model, model.decision_function(images)


@pytest.mark.parametrize("solver", ["kernel", "sgd", "asgd", "dcd"])
def test_the_model_gives_the_runs_own_test_scores_without_the_cache(tmp_path, solver):
    scores, paths = _run(tmp_path, [f"svm.solver={solver}", "svm.max_epochs=3"])
    shutil.rmtree(tmp_path / "cache")                  # the model needs neither the cache nor the store
    model, predicted = _model_scores(tmp_path, paths)
    # float16 weights: the scores move by about 1e-3 of their range
    np.testing.assert_allclose(predicted, scores, atol=2e-3 * np.ptp(scores))
    assert list(model.classes_) == ["a", "b", "c"]
    assert list(model.predict([load_image(paths[0], "gray", 64)])) == [model.classes_[np.argmax(scores[0])]]


@pytest.mark.parametrize("method", ["early", "late"])
def test_a_fused_model_of_gray_and_colour_channels_gives_the_runs_scores(tmp_path, method):
    scores, paths = _run(tmp_path, ["fusion.weights=[1, 0.5]"], fusion={"method": method})
    info = read_model(tmp_path / "run")
    assert [c["image_mode"] for c in info["channels"]] == ["gray", "rgb"] and info["image_mode"] == "rgb"
    model, predicted = _model_scores(tmp_path, paths)       # RGB in; the SIFT channel converts to gray
    assert list(model.named_steps["channels"].named_transformers) == ["dsift", "colour"]
    np.testing.assert_allclose(predicted, scores, atol=2e-3 * np.ptp(scores))


def test_an_early_fusion_of_streamed_stores_gives_the_runs_scores(tmp_path):
    scores, paths = _run(tmp_path, ["fusion.weights=[1, 0.25]", "svm.solver=sgd", "svm.max_epochs=3"],
                         fusion={"method": "early"})
    np.testing.assert_allclose(_model_scores(tmp_path, paths)[1], scores, atol=2e-3 * np.ptp(scores))


def test_the_model_folder_is_plain_npz_and_json_of_the_stated_size(tmp_path):
    _run(tmp_path)
    info = read_model(tmp_path / "run")
    files = sorted(p.name for p in info["folder"].iterdir())
    assert files == ["dsift.npz", "model.json", "svm.npz", "train_images.json"]
    for name in ("dsift.npz", "svm.npz"):
        with np.load(info["folder"] / name, allow_pickle=False) as arrays:
            assert all(arrays[k].dtype != object for k in arrays.files)
    assert info["bytes"] == sum((info["folder"] / f).stat().st_size for f in files if f != "model.json")
    assert info["weights_dtype"] == "float16" and info["channels"][0]["dimension"] == 2 * 8 * 3
    assert load_model(info["folder"]).named_steps["encoder"].dimension == 48      # the model folder itself loads too


def test_a_folder_without_a_model_is_refused_in_one_line(tmp_path):
    for path, words in ((tmp_path / "missing", "does not exist"), (tmp_path, "holds no trained model")):
        with pytest.raises(RunNotFound, match=words) as error:
            load_model(path)
        assert "\n" not in str(error.value)


def test_a_training_image_is_recognised_by_its_file_or_a_copy_of_it(tmp_path):
    _, test_paths = _run(tmp_path)
    info = read_model(tmp_path / "run")
    listed = [e["path"] for e in json.loads((info["folder"] / "train_images.json").read_text())]
    assert len(listed) == 3 * 5 and not set(listed) & {str(p.resolve()) for p in test_paths}
    copy = tmp_path / "elsewhere" / Path(listed[0]).name
    copy.parent.mkdir()
    copy.write_bytes(Path(listed[0]).read_bytes())
    assert training_image(info, listed[0]) == listed[0] and training_image(info, copy) == listed[0]
    assert training_image(info, test_paths[0]) is None
