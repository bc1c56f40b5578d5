"""Experiment configuration: a YAML file -> nested dataclasses, with ``--set key=value`` overrides.

Every field has a default, so a config file only states what differs.  Unknown keys are errors
(a typo must not silently run the default).  The resolved configuration is saved with each run,
and each stage's cache key is a hash of the part of it that the stage depends on.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ConfigError(ValueError):
    pass


@dataclass
class DataConfig:
    dataset: str = "caltech101"          # caltech101 | ilsvrc2012 | ilsvrc2010 | digits | folder
    root: str | None = None              # folder dataset: class-per-folder tree (relative to the data root)
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
    kind: str = "dsift"                  # dsift | colour (local colour statistics, 96-D, same grid)
    bin_sizes: list[int] = field(default_factory=lambda: [4, 6, 8, 10])
    step: int = 3
    magnif: float = 6.0
    window_size: float = 1.5
    contrast_threshold: float = 0.005
    rootsift: bool = False


@dataclass
class EncoderConfig:
    kind: str = "fisher"                 # fisher | vlad | bow
    pca_dims: int | None = 80
    whiten: bool = False
    n_components: int = 256              # vocabulary size: GMM components (fisher) or k-means centres
    gmm_max_iter: int = 100
    gmm_tol: float = 1e-5
    variance_floor: float = 1e-3
    kmeans_iter: int = 25
    assignment: str = "hard"             # bow: hard | soft (localised kernel codebook)
    kernel_map: str = "chi2"             # bow: chi2 | hellinger | linear
    n_nearest: int = 5                   # bow soft assignment: codewords that share a descriptor's vote
    beta: float = 10.0                   # bow soft assignment: sharpness
    pyramid: list[list[int]] = field(default_factory=lambda: [[1, 1], [2, 2], [1, 3]])
    improved: bool = True
    drop_empty: bool = True
    sample_images: int = 1020            # training images whose descriptors are sampled for PCA + GMM
    sample_size: int = 300_000           # descriptors in that sample
    store_dtype: str = "float16"         # encoded features on disk: float16, float32, or pq (product quantisation)
    pq_subvector_dims: int = 8           # pq: dimensions per one-byte code
    pq_bits: int = 8                     # pq: 2^bits centroids per sub-quantiser
    pq_train_images: int = 4096          # pq: training images whose encodings fit the codebooks
    pq_iter: int = 10                    # pq: Lloyd iterations


@dataclass
class SVMConfig:
    solver: str = "kernel"               # kernel: LIBLINEAR on the Gram matrix | sgd: streaming mini-batch SGD
                                         # | dcd: streaming dual coordinate descent (the sgd_* settings but eta0/average)
    C: float = 10.0
    loss: str = "squared_hinge"          # squared_hinge | hinge (every solver)
    C_grid: list[float] = field(default_factory=list)   # if given, C is chosen by CV on the training set
    cv_folds: int = 3
    tol: float = 1e-4
    max_iter: int = 5000
    sgd_lambda: float = 1e-5             # sgd: regularisation
    sgd_eta0: float = 1.0                # sgd: initial step
    sgd_batch_size: int = 256
    sgd_epochs: int = 30
    sgd_patience: int = 5                # sgd: stop after this many epochs without held-out improvement
    sgd_validation_fraction: float = 0.1
    sgd_average: bool = True             # sgd: averaged iterates (ASGD)
    dcd_tol: float = 0.1                 # dcd: stop when the optimality violation fell to this share of the first pass's


@dataclass
class RunConfig:
    n_jobs: int = -1                     # worker processes (-1: all cores)
    chunk_size: int = 32                 # images per task and per feature-store shard
    kernel_block: int = 1024             # rows per Gram-matrix block read from the store
    kernel_memory_mb: int = 4096         # training rows held in memory while the store streams past them
    cluster: str | None = None           # Dask: "local:N" (LocalCluster) or "tcp://host:8786"; None: joblib
    encode_on: str = "auto"              # per-image stages: "workers" (CPU processes), "backend" (this process on
                                         # the array backend, n_jobs threads decoding), auto: backend if not numpy


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    seed: int = 0
    backend: str = "numpy"
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    svm: SVMConfig = field(default_factory=SVMConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, values: dict, where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) in {where or 'config'}: {', '.join(unknown)}; "
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
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def read_config_file(path: str | Path) -> dict:
    """The raw values of a YAML config file (``name`` defaults to the file's stem)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections")
    values.setdefault("name", path.stem)
    return values


def build_config(values: dict, overrides=()) -> ExperimentConfig:
    """Config from raw values and ``key=value`` overrides (the values are not modified)."""
    values = copy.deepcopy(values)
    if "sweep" in values:
        raise ConfigError("this file describes a sweep (it has a `sweep:` section): run it with `classic sweep`")
    for assignment in overrides:
        apply_override(values, assignment)
    return _build(ExperimentConfig, values, "")


def load_config(path: str | Path | None = None, overrides=()) -> ExperimentConfig:
    """Read a YAML config (or start from the defaults) and apply ``key=value`` overrides."""
    return build_config(read_config_file(path) if path is not None else {}, overrides)


def dump_config(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
