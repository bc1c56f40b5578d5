"""Configuration: every value checked when the config is loaded, before any work, in one line naming
the key, the value and what is allowed; the same for `run`, `sweep` and `estimate` (exit status 2)."""
import pytest

from classic.cli import main
from classic.experiment.config import ConfigError, load_config
from conftest import REPO, TINY
from conftest import run_experiment as run


CONFIG = str(REPO / "experiments" / "caltech101_quick.yaml")

# (override, words the one-line message must hold): each a value the pipeline cannot take
BAD_VALUES = [
    ("encoder.n_components=-4", "encoder.n_components = -4: must be an integer >= 1"),
    ("encoder.n_components=0", "encoder.n_components = 0"),
    ("encoder.pca_dims=200", "at most 128"),
    ("run.chunk_size=0", "run.chunk_size = 0"),
    ("features.step=0", "features.step = 0"),
    ("features.bin_sizes=[]", "features.bin_sizes = []: must be a non-empty list"),
    ("features.bin_sizes=[4, x]", "features.bin_sizes"),
    ("encoder.pyramid=[[0, 1]]", "encoder.pyramid = [[0, 1]]"),
    ("encoder.pyramid=[[2]]", "[columns, rows] pairs"),
    ("data.n_splits=0", "data.n_splits = 0"),
    ("run.n_jobs=0", "run.n_jobs = 0: must be a non-zero integer"),
    ("backend=torch", "backend = 'torch': must be one of numpy, cupy"),
    ("svm.C=0", "svm.C = 0.0: must be a finite number > 0"),
    ("svm.C=-3", "svm.C = -3.0"),
    ("svm.C=.inf", "svm.C = inf"),
    ("svm.C=.nan", "svm.C = nan"),
    ("svm.loss=hinge2", "svm.loss = 'hinge2': must be one of hinge, squared_hinge"),
    ("svm.solver=newton", "svm.solver = 'newton'"),
    ("data.dataset=folder", "data.root = None: the folder dataset needs data.root"),
    ("data.dataset=cifar", "data.dataset = 'cifar'"),
    ("data.n_test=lots", "data.n_test: expected an integer"),
    ("data.split_file=5", "data.split_file = 5: must be a file path or null"),
    ("data.max_side=20", "data.max_side = 20: must be at least 25 px"),
    ("data.test_set=test", "data.test_set = 'test'"),
    ("encoder.kind=sparse_coding", "encoder.kind = 'sparse_coding'"),
    ("encoder.store_dtype=int8", "encoder.store_dtype = 'int8'"),
    ("encoder.pq_bits=9", "encoder.pq_bits = 9: must be an integer from 1 to 8"),
    ("encoder.sample_size=10", "encoder.sample_size = 10: must be at least encoder.n_components"),
    (["encoder.whiten=true", "encoder.pca_dims=null"], "encoder.whiten = True: whitening is part of PCA"),
    (["svm.solver=sgd", "svm.C_grid=[1, 10]"], "svm.C_grid = [1, 10]: cross-validating C needs svm.solver=kernel"),
    (["svm.solver=asgd", "svm.loss=hinge", "svm.asgd_implicit=true"],
     "svm.asgd_implicit = True: implicit steps need svm.loss=squared_hinge"),
    (["encoder.kind=bow", "encoder.assignment=soft", "encoder.n_nearest=100"], "encoder.n_nearest = 100"),
    (["encoder.kind=llc", "encoder.n_nearest=1000"], "encoder.n_nearest = 1000: must be at most encoder.n_components"),
    ("encoder.frequency_weight=-1", "encoder.frequency_weight = -1.0: must be a finite number >= 0"),
    ("encoder.llc_lambda=nan", "encoder.llc_lambda = nan"),
    (["encoder.store_dtype=pq", "encoder.pq_subvector_dims=7"], "must divide the encoding's"),
    ("svm.validation_fraction=1", "svm.validation_fraction = 1.0"),
    ("svm.cv_folds=1", "svm.cv_folds = 1"),
    ("run.cluster=local:0", "run.cluster = 'local:0'"),
    ("run.encode_on=gpu", "run.encode_on = 'gpu'"),
    ("seed=-1", "seed = -1"),
    ("features.kind=gist", "features.kind = 'gist'"),
    ("features.magnif=0", "features.magnif = 0.0"),
    ("svm.C=[1", "--set svm.C: not valid YAML"),
    ("svm.C=!!python/object/apply:os.system [ls]", "could not determine a constructor"),
]
BAD_PQ = (["encoder.store_dtype=pq", "encoder.pq_train_images=10"],
          "encoder.pq_train_images = 10: must be at least 2^pq_bits = 256")


def _overrides(override) -> list[str]:
    return [override] if isinstance(override, str) else override


@pytest.mark.parametrize("override, message", BAD_VALUES, ids=[" ".join(_overrides(o)) for o, _ in BAD_VALUES])
def test_bad_values_are_refused_in_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as refused:
        load_config(CONFIG, _overrides(override))
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("command", ["run", "sweep", "estimate"])
def test_every_command_refuses_before_any_work_with_exit_status_2(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLASSIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    extra = ["--grid", "svm.tol=1e-4,1e-3"] if command == "sweep" else []
    for override, expected in BAD_VALUES[::5] + [BAD_PQ]:
        sets = [a for o in _overrides(override) for a in ("--set", o)]
        assert main([command, CONFIG, "--data-root", str(tmp_path / "nowhere"), *sets, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"classic {command}: ") and expected in err and "\n" not in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()      # no work was done


@pytest.mark.parametrize("text, message", [
    ("data:\n  n_train: [1, 2\n", "not valid YAML at line"),
    ("data: !!python/object/apply:os.system ['echo hacked']\n", "could not determine a constructor"),
    ("svm:\n  C: 1\n  C: 10\n", "key 'C' given twice"),
    ("- just\n- a list\n", "expected a mapping"),
    ("svm: 3\n", "svm: expected a mapping"),
])
def test_bad_files_are_refused_in_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    assert main(["run", str(path), "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message.split(":")[0].strip(".") in err and "\n" not in err


def test_config_overrides_and_errors(tmp_path):
    from conftest import REPO
    cfg = load_config(REPO / "experiments/caltech101_fv.yaml", ["svm.C=3", "encoder.n_components=128"])
    assert cfg.svm.C == 3.0 and isinstance(cfg.svm.C, float) and cfg.encoder.n_components == 128
    assert cfg.name == "caltech101_fv"
    with pytest.raises(ConfigError, match="unknown key.*n_componets"):
        load_config(None, ["encoder.n_componets=3"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(None, ["encoder.n_components=lots"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["svm.C"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_unknown_encoder_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="encoder.kind"):
        run(tmp_path, TINY + ["encoder.kind=sparse_coding"])


def test_every_experiment_file_is_a_valid_config_or_sweep():
    from classic.experiment.sweep import load_sweep, sweep_points
    from classic.experiment.config import build_config
    from conftest import REPO
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        if "sweep:" in path.read_text():
            base, grid, variants = load_sweep(path)
            for point in sweep_points(grid, variants):
                build_config(base, point["overrides"])
        elif path.stem == "folder":          # the user's folder is given on the command line
            with pytest.raises(ConfigError, match="needs data.root"):
                load_config(path)
            assert load_config(path, ["data.root=photos"]).data.root == "photos"
        else:
            load_config(path)


def test_exponent_notation_without_a_dot_is_a_number():
    assert load_config(None, ["svm.lam=1e-4", "svm.C=2e1"]).svm.lam == 1e-4
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(None, ["svm.C=ten"])


def test_more_training_images_than_a_class_holds_is_refused_before_any_work(tmp_path, capsys):
    from classic.cli import main
    from conftest import FOLDER_TINY, REPO, make_image_folder
    make_image_folder(tmp_path / "data" / "tiny", {"a": 10, "b": 7})
    sets = [a for o in FOLDER_TINY + ["data.n_train=12"] for a in ("--set", o)]
    assert main(["run", str(REPO / "experiments" / "digits.yaml"), "--data-root", str(tmp_path / "data"), *sets,
                 "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "2 class(es) without test images (a, b)" in err and "use data.n_train <= 6" in err
    assert not (tmp_path / "run").exists()


MULTI = """
features:
  - {kind: dsift, rootsift: true}
  - {kind: hog, hog_variant: dalal_triggs, encoder: {pca_dims: 32}}
  - {kind: lbp, name: texture}
encoder: {pca_dims: 64, n_components: 32}
fusion: {method: early}
"""


def _multi(tmp_path, text=MULTI, overrides=()):
    path = tmp_path / "multi.yaml"
    path.write_text(text)
    return load_config(path, overrides)


def test_a_features_list_is_channels_with_their_own_encoders_and_round_trips(tmp_path):
    import yaml
    from classic.experiment.config import build_config, channel_configs, dump_config
    cfg = _multi(tmp_path)
    assert [(c.name, c.encoder.pca_dims, c.encoder.n_components) for c in cfg.channels] == \
        [("dsift", 64, 32), ("hog_dalal_triggs", 32, 32), ("texture", 64, 32)]
    assert cfg.channels[0].features.rootsift and cfg.fusion.method == "early"
    assert build_config(yaml.safe_load(dump_config(cfg))) == cfg
    name, single = channel_configs(cfg)[1]
    assert single.features.kind == "hog" and single.encoder.pca_dims == 32 and not single.channels
    # --set reaches a channel by its index
    assert _multi(tmp_path, overrides=["features.2.kind=colour"]).channels[2].features.kind == "colour"


@pytest.mark.parametrize("override, message", [
    ("features.1.encoder.pca_dims=100", "features[1] (hog_dalal_triggs): encoder.pca_dims = 100: must be at most 36"),
    ("features.0.kind=gist", "features[0] (gist)"),      # refused by the channel's own kind rule
    ("fusion.weights=[1, 2]", "fusion.weights = [1, 2]: must hold one weight per channel (3)"),
    ("fusion.weights=[0, 0, 0]", "not all 0"),
    ("fusion.method=average", "fusion.method = 'average': must be one of early, late"),
    ("features.7.kind=lbp", "7 is not the index of one of the 3 channels"),
    ("features.2.name=dsift", "two channels with one name"),
])
def test_bad_channel_and_fusion_values_are_refused_in_one_line(tmp_path, override, message):
    with pytest.raises(ConfigError) as caught:
        _multi(tmp_path, overrides=[override])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_one_channel_lists_and_fusion_without_channels_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="two or more channels"):
        _multi(tmp_path, "features:\n  - {kind: dsift}\n")
    with pytest.raises(ConfigError, match="fusion: needs several channels"):
        _multi(tmp_path, "fusion: {method: late}\n")


def test_streaming_solvers_fuse_channels_early_only(tmp_path):
    assert _multi(tmp_path, overrides=["svm.solver=asgd"]).svm.solver == "asgd"          # MULTI fuses early
    with pytest.raises(ConfigError, match="fusion.method = 'late': with svm.solver=asgd the channels are fused early"):
        _multi(tmp_path, overrides=["svm.solver=asgd", "fusion.method=late"])
