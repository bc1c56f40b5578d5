"""Experiment configuration: a YAML file -> nested dataclasses, with ``--set key=value`` overrides.

Every field has a default, so a config file only states what differs.  Unknown keys are errors
(a typo must not silently run the default), and so are duplicate keys.  Every value is checked when
the configuration is built (:func:`validate`), before any work, for ``run``, ``sweep`` and
``estimate`` alike: the first value that the pipeline cannot take is refused in one line naming the
key, the value and what is allowed.  The resolved configuration is saved with each run, and each
stage's cache key is a hash of the part of it that the stage depends on.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import numpy as np

from ..backend import BACKENDS
from ..encoding.bow import KERNEL_MAPS
from ..features.dsift import frame_extent
from ..features.hog import HOG_VARIANTS
from ..learn.fusion import FUSION_METHODS
from ..learn.streaming import LOSSES
from .build import DESCRIPTORS, ENCODERS, encoded_dimension, make_extractor


class ConfigError(ValueError):
    """A configuration the pipeline cannot run; the message names the key, the value and what is allowed."""
    pass


DATASETS = ("caltech101", "ilsvrc2012", "ilsvrc2010", "digits", "folder")
FEATURE_KINDS = tuple(DESCRIPTORS)          # the registries of build.py
ENCODER_KINDS = tuple(ENCODERS)
STORE_DTYPES = ("float16", "float32", "pq")
SOLVERS = ("kernel", "sgd", "asgd", "dcd")   # LIBLINEAR on the Gram matrix | streaming SGD | averaged SGD | dual coordinate descent
ENCODE_ON = ("auto", "workers", "backend")  # where the per-image stages run; auto: backend on the GPU


@dataclass
class DataConfig:
    """``data:``: which dataset, which images, how they are split and resized."""
    dataset: str = "caltech101"          # caltech101 | ilsvrc2012 | ilsvrc2010 | digits | folder
    root: str | None = None              # folder dataset: class-per-folder tree (relative: the current directory, else the data root)
    test_root: str | None = None         # folder dataset: separate test tree with the same classes
    n_train: int | None = 30             # training images per class (ILSVRC: at most; null = all)
    n_test: int | None = 50              # at most this many test images per class (None: all the rest)
    n_splits: int = 1                    # random splits, seeds seed, seed+1, ...
    split_file: str | None = None        # explicit first split: lines "train|test <class>/<file> <class>"
    include_background: bool = True      # caltech101: keep BACKGROUND_Google as the 102nd class
    n_classes: int | None = None         # ILSVRC: a subset of the classes (null = all 1,000) ...
    class_subset: str = "first"          # ... the first ones in WNID order, or "random" (by seed)
    test_set: str = "val"                # ILSVRC: val, or test (ILSVRC-2010, whose test labels are public)
    max_side: int | None = 300           # images are resized so that their longest side is at most this
    size: int = 32                       # digits: side of the upsampled image


@dataclass
class FeatureConfig:
    """``features:``: the local descriptors and their dense grid."""
    kind: str = "dsift"                  # dsift | opponent_sift (SIFT of the 3 opponent colour channels, 384-D)
                                         # | colour (local colour statistics, 96-D, same grid)
                                         # | hog (2 x 2 cells) | lbp (2 x 2 cells of 59-bin histograms)
    bin_sizes: list[int] = field(default_factory=lambda: [4, 6, 8, 10])   # one scale each: SIFT bin, colour
                                         # cell, HOG or LBP cell size in pixels
    step: int = 3                        # dsift, colour: grid step (hog, lbp: one cell)
    hog_variant: str = "uoctti"          # hog: uoctti (124-D) | dalal_triggs (36-D)
    magnif: float = 6.0
    window_size: float = 1.5
    contrast_threshold: float = 0.005
    rootsift: bool = False


@dataclass
class EncoderConfig:
    """``encoder:``: PCA, the vocabulary, the encoding, the spatial pyramid and how the encodings are stored."""
    kind: str = "fisher"                 # fisher | supervector | llc | vlad | bow
    pca_dims: int | None = 80
    whiten: bool = False
    n_components: int = 256              # vocabulary size: GMM components (fisher) or k-means centres
    gmm_max_iter: int = 100
    gmm_tol: float = 1e-5
    variance_floor: float = 1e-3
    kmeans_max_iter: int = 25
    assignment: str = "hard"             # bow, supervector: hard | soft (localised kernel codebook)
    kernel_map: str = "chi2"             # bow: chi2 | hellinger | linear
    n_nearest: int = 5                   # soft assignment: codewords that share a descriptor's vote; llc: its codewords
    beta: float = 10.0                   # soft assignment: sharpness
    frequency_weight: float = 0.1        # supervector: the constant s before each codeword's sqrt(frequency)
    llc_lambda: float = 1e-4             # llc: regularisation of the local covariance, relative to its trace
    pyramid: list[list[int]] = field(default_factory=lambda: [[1, 1], [2, 2], [1, 3]])
    improved: bool = True
    drop_empty: bool = True
    sample_images: int = 1020            # training images whose descriptors are sampled for PCA + GMM
    sample_size: int = 300_000           # descriptors in that sample
    store_dtype: str = "float16"         # encoded features on disk: float16, float32, or pq (product quantisation)
    pq_subvector_dims: int = 8           # pq: dimensions per one-byte code
    pq_bits: int = 8                     # pq: 2^bits centroids per sub-quantiser
    pq_train_images: int = 4096          # pq: training images whose encodings fit the codebooks
    pq_max_iter: int = 10                # pq: Lloyd iterations


@dataclass
class SVMConfig:
    """``svm:``: the solver of the one-vs-rest linear SVMs and its settings."""
    solver: str = "kernel"               # kernel: LIBLINEAR on the Gram matrix | sgd: streaming mini-batch SGD
                                         # | asgd: streaming averaged SGD | dcd: streaming dual coordinate descent
    C: float = 10.0
    loss: str = "squared_hinge"          # squared_hinge | hinge (every solver)
    C_grid: list[float] = field(default_factory=list)   # if given, C is chosen by CV on the training set
    cv_folds: int = 3
    tol: float = 1e-4                    # kernel: LIBLINEAR's tolerance
    max_iter: int = 5000                 # kernel: LIBLINEAR's passes at most
    lam: float | None = 1e-5             # streaming: regularisation lambda (null: 1 / (C n_train), LIBLINEAR's C)
    balance: str = "equal"               # streaming: class weights, equal (positives and negatives weigh the same) | none
    batch_size: int = 256                # streaming: rows per step
    max_epochs: int = 30                 # streaming: passes over the training set at most
    patience: int = 5                    # streaming: stop after this many passes without held-out improvement
    validation_fraction: float = 0.1     # streaming: held-out slice of the training set (0: keep the last pass)
    sgd_eta0: float = 1.0                # sgd: initial step
    sgd_average: bool = True             # sgd: averaged iterates from the second pass on
    asgd_eta0: float | None = None       # asgd: initial step (null: calibrated on a sample, as Bottou's sgd does)
    asgd_average_start: float = 1.0      # asgd: passes of plain SGD before the averaging starts
    asgd_warmup: float = 0.0             # asgd: passes over which the step rises linearly to eta0 (0: none)
    asgd_implicit: bool = False          # asgd: implicit (proximal) steps, no overshoot past a margin (squared hinge)
    asgd_centre: bool = False            # asgd: rows centred on their mean, the bias unregularised with its own step
    dcd_tol: float = 0.1                 # dcd: stop when the optimality violation fell to this share of the first pass's


@dataclass
class RunConfig:
    """``run:``: where and how the work runs (processes, chunks, memory for the Gram matrix, a cluster)."""
    n_jobs: int = -1                     # worker processes (-1: all cores)
    chunk_size: int = 32                 # images per task and per feature-store shard
    kernel_block: int = 1024             # rows per Gram-matrix block read from the store
    kernel_memory_mb: int = 4096         # training rows held in memory while the store streams past them
    cluster: str | None = None           # Dask: "local:N" (LocalCluster) or "tcp://host:8786"; None: joblib
    encode_on: str = "auto"              # per-image stages: "workers" (CPU processes), "backend" (this process on
                                         # the array backend, n_jobs threads decoding), auto: backend if not numpy


@dataclass
class FusionConfig:
    """``fusion:``: how the channels of a config whose ``features:`` is a list are combined."""
    method: str = "late"                 # late: weighted average of per-channel SVM scores | early: one SVM on
                                         # the weighted concatenation of the encodings (sum of Gram matrices)
    weights: list[float] = field(default_factory=list)    # one per channel; empty: chosen by CV on training images
    weight_grid: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0])   # candidates of each
                                         # channel's weight after the first (whose weight is 1)


@dataclass
class ChannelConfig:
    """One descriptor channel of a multi-channel config: its descriptors and its own encoder."""
    name: str
    features: FeatureConfig
    encoder: EncoderConfig


@dataclass
class ExperimentConfig:
    """A whole experiment: name, seed, backend and the sections.

    A config with several descriptor channels lists them under ``features:``; each item is a features
    section that may hold ``name:`` and ``encoder:`` (overrides of the top-level ``encoder:``).  They
    are in ``channels``; ``features`` then keeps its defaults and ``encoder`` is the shared base.
    """
    name: str = "experiment"
    seed: int = 0
    backend: str = "numpy"
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    svm: SVMConfig = field(default_factory=SVMConfig)
    run: RunConfig = field(default_factory=RunConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    channels: list[ChannelConfig] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The configuration as nested plain dicts (a multi-channel config's channels as its ``features:`` list)."""
        values = dataclasses.asdict(self)
        channels = values.pop("channels")
        if channels:
            values["features"] = [{"name": c["name"], **c["features"], "encoder": c["encoder"]} for c in channels]
        else:
            values.pop("fusion")
        return values


def channel_name(features) -> str:
    """A channel's default name: its descriptor kind (and the HOG variant)."""
    return f"hog_{features.hog_variant}" if features.kind == "hog" else features.kind


def _build_channels(items, encoder_values) -> list[ChannelConfig]:
    if len(items) < 2:
        raise ConfigError("features: a list holds two or more channels (one channel: a mapping)")
    channels = []
    for i, item in enumerate(items):
        where = f"features[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping (a features section), got {item!r}")
        item = dict(item)
        overrides, name = item.pop("encoder", None) or {}, item.pop("name", None)
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}.encoder: expected a mapping, got {overrides!r}")
        features = _build(FeatureConfig, item, f"{where}.")
        encoder = _build(EncoderConfig, {**(encoder_values or {}), **overrides}, f"{where}.encoder.")
        name = channel_name(features) if name is None else name
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ConfigError(f"{where}.name = {name!r}: must be letters, digits, _ . or -")
        if name in [c.name for c in channels]:
            raise ConfigError(f"{where}.name = {name!r}: two channels with one name; give each a name:")
        channels.append(ChannelConfig(name, features, encoder))
    return channels


def channel_configs(config: ExperimentConfig) -> list[tuple[str, ExperimentConfig]]:
    """(name, single-channel config) of each channel: the config with that channel's features and
    encoder (its stages' keys are those of the same single-channel run, so they share its cache)."""
    return [(c.name, dataclasses.replace(config, features=c.features, encoder=c.encoder, channels=[]))
            for c in config.channels]


def _build(cls, values: dict, where: str):
    section = where.rstrip(".") or "config"
    if not isinstance(values, dict):
        raise ConfigError(f"{section}: expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) in {section}: {', '.join(unknown)}; "
                          f"known: {', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value or {}, f"{where}{name}.")
        else:
            kwargs[name] = _coerce(value, default, f"{where}{name}")
    return cls(**kwargs)


def _coerce(value, default, where):
    """Light type check against the default: ints may stand for floats, None is allowed where the default is None."""
    if value is None or default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, str):          # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    elif isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    elif isinstance(default, list) and not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    elif isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def apply_override(values: dict, assignment: str) -> None:
    """Apply one ``dotted.key=value`` (value parsed as YAML) to a nested dict, in place."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    parts = key.strip().split(".")
    node = values
    for part in parts[:-1]:
        if isinstance(node, list):              # features.1.kind: the second channel's
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {key}: {part} is not the index of one of the {len(node)} channels")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {key}: {part} is not a section")
    if isinstance(node, list):
        raise ConfigError(f"--set {key}: name a channel's key, e.g. {'.'.join(parts[:-1])}.0.{parts[-1]}")
    node[parts[-1]] = parse_yaml(raw, f"--set {key}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no ``!!python/...`` objects), refusing a key given twice in one mapping:
    YAML would silently keep the last, and a config would run what its reader did not see."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str):
    """``text`` read as YAML (safe: plain data only); an error is one line saying where."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML{at}: {problem}") from None


def read_config_file(path: str | Path) -> dict:
    """The raw values of a YAML config file (``name`` defaults to the file's stem)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as a UTF-8 text file ({exc})") from None
    values = parse_yaml(text, str(path)) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections")
    values.setdefault("name", path.stem)
    return values


def build_config(values: dict, overrides=()) -> ExperimentConfig:
    """Config from raw values and ``key=value`` overrides (the values are not modified), validated."""
    values = copy.deepcopy(values)
    if "sweep" in values:
        raise ConfigError("this file describes a sweep (it has a `sweep:` section): run it with `classic sweep`")
    for assignment in overrides:
        apply_override(values, assignment)
    if "channels" in values:
        raise ConfigError("unknown key(s) in config: channels; several channels are a list under features:")
    items = values.pop("features") if isinstance(values.get("features"), list) else None
    if items is None and "fusion" in values:
        raise ConfigError("fusion: needs several channels (a list under features:)")
    config = _build(ExperimentConfig, values, "")
    if items is not None:
        config.channels = _build_channels(items, values.get("encoder"))
    return validate(config)


# -- validation ------------------------------------------------------------------------------------
# Each rule: (dotted key, test of the value, what is allowed).  The type checks of ``_coerce`` come
# first (a value of the wrong type never reaches these); here are the ranges and choices.

def _integer(low=None, high=None, optional=False):
    def test(v):
        if v is None:
            return optional
        return isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low) and (high is None or v <= high)
    bounds = (f"an integer >= {low}" if high is None else f"an integer from {low} to {high}") if low is not None \
        else "an integer"
    return test, bounds + (" or null" if optional else "")


def _number(low=0.0, strict=True, high=None, high_strict=False, optional=False):
    def test(v):
        if v is None and optional:
            return True
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > low if strict else v >= low) and (high is None or (v < high if high_strict else v <= high))
    allowed = f"a finite number {'>' if strict else '>='} {low:g}"
    if high is not None:
        allowed += f" and {'<' if high_strict else '<='} {high:g}"
    return test, allowed + (" or null" if optional else "")


def _choice(options):
    return (lambda v: v in options), "one of " + ", ".join(map(str, options))


def _int_list(pair=False):
    def ok(item):
        if pair:
            return isinstance(item, list) and len(item) == 2 and all(_integer(1)[0](x) for x in item)
        return _integer(1)[0](item)
    return (lambda v: isinstance(v, list) and len(v) > 0 and all(ok(x) for x in v)), \
        ("a non-empty list of [columns, rows] pairs of integers >= 1" if pair else "a non-empty list of integers >= 1")


def _optional_path(v):
    return v is None or (isinstance(v, str) and v.strip() != "")


def _cluster(v):
    return v is None or (isinstance(v, str) and (re.fullmatch(r"local:[1-9]\d*", v) is not None
                                                 or re.fullmatch(r"[a-z]+://\S+", v) is not None))


_RULES = [
    ("name", (lambda v: isinstance(v, str) and v.strip() != ""), "a non-empty string"),
    ("seed", *_integer(0)),
    ("backend", *_choice(BACKENDS)),
    ("data.dataset", *_choice(DATASETS)),
    ("data.root", _optional_path, "a folder path or null"),
    ("data.test_root", _optional_path, "a folder path or null"),
    ("data.split_file", _optional_path, "a file path or null"),
    ("data.n_train", *_integer(1, optional=True)),
    ("data.n_test", *_integer(1, optional=True)),
    ("data.n_splits", *_integer(1)),
    ("data.n_classes", *_integer(1, optional=True)),
    ("data.class_subset", *_choice(("first", "random"))),
    ("data.test_set", *_choice(("val", "test"))),
    ("data.max_side", *_integer(1, optional=True)),
    ("data.size", *_integer(1)),
    ("features.kind", *_choice(tuple(FEATURE_KINDS))),
    ("features.bin_sizes", *_int_list()),
    ("features.step", *_integer(1)),
    ("features.hog_variant", *_choice(HOG_VARIANTS)),
    ("features.magnif", *_number()),
    ("features.window_size", *_number()),
    ("features.contrast_threshold", *_number(strict=False)),
    ("encoder.kind", *_choice(ENCODER_KINDS)),
    ("encoder.pca_dims", *_integer(1, optional=True)),
    ("encoder.n_components", *_integer(1)),
    ("encoder.gmm_max_iter", *_integer(1)),
    ("encoder.gmm_tol", *_number(strict=False)),
    ("encoder.variance_floor", *_number()),
    ("encoder.kmeans_max_iter", *_integer(1)),
    ("encoder.assignment", *_choice(("hard", "soft"))),
    ("encoder.kernel_map", *_choice(KERNEL_MAPS)),
    ("encoder.n_nearest", *_integer(1)),
    ("encoder.beta", *_number()),
    ("encoder.frequency_weight", *_number(strict=False)),
    ("encoder.llc_lambda", *_number(strict=False)),
    ("encoder.pyramid", *_int_list(pair=True)),
    ("encoder.sample_images", *_integer(1)),
    ("encoder.sample_size", *_integer(2)),
    ("encoder.store_dtype", *_choice(STORE_DTYPES)),
    ("encoder.pq_subvector_dims", *_integer(1)),
    ("encoder.pq_bits", *_integer(1, 8)),
    ("encoder.pq_train_images", *_integer(1)),
    ("encoder.pq_max_iter", *_integer(1)),
    ("svm.solver", *_choice(SOLVERS)),
    ("svm.C", *_number()),
    ("svm.loss", *_choice(LOSSES)),
    ("svm.C_grid", (lambda v: all(_number()[0](c) for c in v)), "a list of finite numbers > 0"),
    ("svm.cv_folds", *_integer(2)),
    ("svm.tol", *_number()),
    ("svm.max_iter", *_integer(1)),
    ("svm.lam", *_number(optional=True)),
    ("svm.balance", *_choice(("equal", "none"))),
    ("svm.sgd_eta0", *_number()),
    ("svm.asgd_eta0", *_number(optional=True)),
    ("svm.asgd_average_start", *_number(strict=False)),
    ("svm.asgd_warmup", *_number(strict=False)),
    ("svm.batch_size", *_integer(1)),
    ("svm.max_epochs", *_integer(1)),
    ("svm.patience", *_integer(1)),
    ("svm.validation_fraction", *_number(strict=False, high=1, high_strict=True)),
    ("svm.dcd_tol", *_number(high=1)),
    ("run.n_jobs", (lambda v: v != 0), "a non-zero integer (-1: all cores, -2: all but one, ...)"),
    ("run.chunk_size", *_integer(1)),
    ("run.kernel_block", *_integer(1)),
    ("run.kernel_memory_mb", *_integer(0)),
    ("run.cluster", _cluster, "null, local:N (N >= 1 worker processes) or a scheduler address such as tcp://host:8786"),
    ("run.encode_on", *_choice(ENCODE_ON)),
    ("fusion.method", *_choice(FUSION_METHODS)),
    ("fusion.weights", (lambda v: all(_number(strict=False)[0](w) for w in v) and (not v or sum(v) > 0)),
     "a list of finite numbers >= 0, not all 0 (or empty: chosen by cross-validation)"),
    ("fusion.weight_grid", (lambda v: len(v) > 0 and all(_number(strict=False)[0](w) for w in v)),
     "a non-empty list of finite numbers >= 0"),
]


def _value(config, key):
    node = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _refuse(key, value, allowed):
    raise ConfigError(f"{key} = {value!r}: {allowed}")


def validate(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` if the pipeline can run it; else :class:`ConfigError` naming the first bad value.

    Beyond each value's own range: what the values must satisfy together (a folder dataset names its
    root, PCA keeps at most the descriptor's dimensions, the images hold at least one frame of the
    largest bin, ...).  What depends on the dataset's contents (class sizes) is checked when the
    dataset is opened, still before any work (:func:`check_splits`).
    """
    for key, test, allowed in _RULES:
        value = _value(config, key)
        if not test(value):
            _refuse(key, value, f"must be {allowed}")
    if config.channels:
        return _validate_channels(config)
    d, f, e, s = config.data, config.features, config.encoder, config.svm
    if d.dataset == "folder" and not d.root:
        _refuse("data.root", d.root, "the folder dataset needs data.root, its class-per-folder tree")
    if d.test_set == "test" and d.dataset != "ilsvrc2010":
        _refuse("data.test_set", d.test_set, "'test' only for ilsvrc2010 (whose test labels are public); use val")
    if d.n_train is None and not (d.dataset.startswith("ilsvrc") or d.test_root):
        _refuse("data.n_train", None, "must be an integer >= 1: a random split needs images left for testing "
                                      "(null, all images, only where the test set is separate)")
    frame = frame_extent(max(f.bin_sizes))        # the smallest image with a frame of the largest bin
    if d.max_side is not None and d.max_side < frame:
        _refuse("data.max_side", d.max_side, f"must be at least {frame} px, the extent of a frame of bin size "
                                             f"{max(f.bin_sizes)} (else no image has a descriptor)")
    if d.dataset == "digits" and d.size < frame:
        _refuse("data.size", d.size, f"must be at least {frame} px, the extent of a frame of bin size {max(f.bin_sizes)}")
    dimension = make_extractor(config).descriptor_size
    if e.pca_dims is not None and e.pca_dims > dimension:
        _refuse("encoder.pca_dims", e.pca_dims, f"must be at most {dimension}, the dimension of {f.kind} descriptors "
                                                f"(or null: no PCA)")
    if e.whiten and e.pca_dims is None:
        _refuse("encoder.whiten", e.whiten, "whitening is part of PCA: set encoder.pca_dims too")
    if ((e.kind in ("bow", "supervector") and e.assignment == "soft") or e.kind == "llc") and e.n_nearest > e.n_components:
        _refuse("encoder.n_nearest", e.n_nearest, f"must be at most encoder.n_components ({e.n_components})")
    if e.sample_size < e.n_components:
        _refuse("encoder.sample_size", e.sample_size, f"must be at least encoder.n_components ({e.n_components}): "
                                                      "the vocabulary is fitted on this many descriptors")
    if e.store_dtype == "pq":
        encoded = encoded_dimension(config)
        if encoded % e.pq_subvector_dims:
            _refuse("encoder.pq_subvector_dims", e.pq_subvector_dims,
                    f"must divide the encoding's {encoded:,} dimensions")
        if e.pq_train_images < 2 ** e.pq_bits:
            _refuse("encoder.pq_train_images", e.pq_train_images,
                    f"must be at least 2^pq_bits = {2 ** e.pq_bits}: each sub-quantiser has that many centroids")
    if s.C_grid and s.solver != "kernel":
        _refuse("svm.C_grid", s.C_grid, "cross-validating C needs svm.solver=kernel (the streaming solvers stop early "
                                        "on a held-out slice instead)")
    if s.asgd_implicit and s.solver == "asgd" and s.loss != "squared_hinge":
        _refuse("svm.asgd_implicit", s.asgd_implicit, "implicit steps need svm.loss=squared_hinge (the hinge's "
                                                      "proximal step is not implemented)")
    return config


def _validate_channels(config: ExperimentConfig) -> ExperimentConfig:
    """A multi-channel config: each channel as a single-channel config, and what fusion needs."""
    n = len(config.channels)
    if config.svm.solver != "kernel" and config.fusion.method != "early":
        _refuse("fusion.method", config.fusion.method, f"with svm.solver={config.svm.solver} the channels are fused "
                                                       "early (one SVM on their weighted concatenation): set "
                                                       "fusion.method=early, or svm.solver=kernel for late fusion")
    if config.fusion.weights and len(config.fusion.weights) != n:
        _refuse("fusion.weights", config.fusion.weights, f"must hold one weight per channel ({n}), or be empty")
    for i, (name, single) in enumerate(channel_configs(config)):
        try:
            validate(single)
        except ConfigError as exc:
            raise ConfigError(f"features[{i}] ({name}): {exc}") from None
    return config


def check_splits(config: ExperimentConfig, dataset, splits) -> None:
    """Refuse, once the dataset is listed and before any work, splits that the run cannot use: a class
    without training or test images (it could not be learnt, or its accuracy would be NaN), fewer
    training images than PQ centroids or than cross-validation folds per class."""
    d, e, s = config.data, config.encoder, config.svm
    names = dataset.class_names
    if not names:
        raise ConfigError(f"the {dataset.name} dataset holds no class with an image")
    for split in splits:
        train = np.bincount(split.train_labels, minlength=len(names))
        test = np.bincount(split.test_labels, minlength=len(names))
        for counts, role in ((train, "training"), (test, "test")):
            missing = np.flatnonzero(counts == 0)
            if not len(missing):
                continue
            listed = ", ".join(names[c] for c in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            hint = ""
            labels = getattr(dataset, "labels", None)
            if role == "test" and d.n_train is not None and labels is not None:
                sizes = np.bincount(labels, minlength=len(names))
                hint = (f": data.n_train = {d.n_train} takes all the images of classes with {d.n_train} or fewer "
                        f"(smallest: {names[int(np.argmin(sizes))]}, {int(sizes.min())} images); "
                        f"use data.n_train <= {max(1, int(sizes.min()) - 1)}")
            raise ConfigError(f"split {split.name}: {len(missing)} class(es) without {role} images ({listed}){hint}")
        if e.store_dtype == "pq" and min(e.pq_train_images, len(split.train)) < 2 ** e.pq_bits:
            raise ConfigError(f"encoder.pq_bits = {e.pq_bits}: split {split.name} has {len(split.train)} training "
                              f"images, fewer than the {2 ** e.pq_bits} centroids of each sub-quantiser; use "
                              f"encoder.pq_bits <= {int(math.log2(min(e.pq_train_images, len(split.train))))}")
        if s.C_grid and s.cv_folds > train.min():
            raise ConfigError(f"svm.cv_folds = {s.cv_folds}: split {split.name} has only {int(train.min())} training "
                              f"images in its smallest class; use svm.cv_folds <= {max(2, int(train.min()))}")


def load_config(path: str | Path | None = None, overrides=()) -> ExperimentConfig:
    """Read a YAML config (or start from the defaults) and apply ``key=value`` overrides."""
    return build_config(read_config_file(path) if path is not None else {}, overrides)


def data_description(config: ExperimentConfig) -> str:
    """Which data a run used, for its title: the dataset's name, or a folder dataset's tree(s).

    >>> from classic.experiment.config import build_config
    >>> data_description(build_config({"data": {"dataset": "folder", "root": "mydata/train", "test_root": "mydata/val"}}))
    'folder mydata/train + mydata/val'
    """
    d = config.data
    if d.dataset != "folder":
        return d.dataset
    return f"folder {d.root}" + (f" + {d.test_root}" if d.test_root else "")


def dump_config(config: ExperimentConfig) -> str:
    """The configuration as YAML, every value spelled out (what ``config.yaml`` of a run holds)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
