"""From a configuration to the library's objects: the dataset, the descriptor extractor, the encoder.

The two registries are where a descriptor kind or an encoder is added: one line each, mapping the
config's ``kind`` to a function of the config section that returns the unfitted estimator (see
``docs/architecture.md``).  Nothing else in the experiment layer names a descriptor or an encoder.
"""
from __future__ import annotations

from pathlib import Path

from ..data import Dataset, open_dataset
from ..encoding import (PCA, BagOfWordsEncoder, DiagonalGMM, FisherVectorEncoder, KMeans, LLCEncoder,
                        SuperVectorEncoder, VLADEncoder)
from ..features import DenseHOG, DenseLBP, DenseSIFT, LocalColourStatistics, OpponentSIFT


def _sift(kind):
    def make(f):
        return kind(tuple(f.bin_sizes), step=f.step, magnif=f.magnif, window_size=f.window_size,
                    contrast_threshold=f.contrast_threshold, rootsift=f.rootsift)
    return make


SIFT_KEYS = ("bin_sizes", "step", "magnif", "window_size", "contrast_threshold", "rootsift")


# features.kind -> (extractor from the ``features`` section, the keys of that section it reads)
DESCRIPTORS = {
    "dsift": (_sift(DenseSIFT), SIFT_KEYS),
    "opponent_sift": (_sift(OpponentSIFT), SIFT_KEYS),
    "colour": (lambda f: LocalColourStatistics(tuple(f.bin_sizes), step=f.step), ("bin_sizes", "step")),
    "hog": (lambda f: DenseHOG(tuple(f.bin_sizes), variant=f.hog_variant), ("bin_sizes", "hog_variant")),
    "lbp": (lambda f: DenseLBP(tuple(f.bin_sizes)), ("bin_sizes",)),
}


def descriptor_identity(features) -> dict:
    """What a ``features`` section's descriptors depend on: its kind and the keys that kind reads (the
    stages' cache keys hold this, so a key another kind reads does not invalidate them)."""
    return {"kind": features.kind, **{k: getattr(features, k) for k in DESCRIPTORS[features.kind][1]}}


def _common(e) -> dict:
    return dict(pca_dims=e.pca_dims, whiten=e.whiten, pyramid=[tuple(level) for level in e.pyramid],
                sample_size=e.sample_size, drop_empty=e.drop_empty)


# encoder.kind -> (unfitted encoder from the ``encoder`` section, its vocabulary's class)
ENCODERS = {
    "fisher": (lambda e: FisherVectorEncoder(e.n_components, gmm_max_iter=e.gmm_max_iter, variance_floor=e.variance_floor,
                                             improved=e.improved, **_common(e)), DiagonalGMM),
    "supervector": (lambda e: SuperVectorEncoder(e.n_components, s=e.frequency_weight, assignment=e.assignment,
                                                 n_nearest=e.n_nearest, beta=e.beta,
                                                 kmeans_max_iter=e.kmeans_max_iter, **_common(e)), KMeans),
    "llc": (lambda e: LLCEncoder(e.n_components, n_nearest=e.n_nearest, lam=e.llc_lambda,
                                 kmeans_max_iter=e.kmeans_max_iter, **_common(e)), KMeans),
    "vlad": (lambda e: VLADEncoder(e.n_components, kmeans_max_iter=e.kmeans_max_iter, **_common(e)), KMeans),
    "bow": (lambda e: BagOfWordsEncoder(e.n_components, assignment=e.assignment, kernel_map=e.kernel_map,
                                        n_nearest=e.n_nearest, beta=e.beta, kmeans_max_iter=e.kmeans_max_iter,
                                        **_common(e)), KMeans),
}


def build_dataset(config, data_root: Path) -> Dataset:
    """The dataset of a config's ``data`` section, under ``data_root``."""
    d = config.data
    if d.dataset in ("ilsvrc2012", "ilsvrc2010"):
        return open_dataset(d.dataset, data_root, n_train=d.n_train, n_test=d.n_test, seed=config.seed,
                            n_classes=d.n_classes, class_subset=d.class_subset, test_set=d.test_set)
    options = dict(n_train=d.n_train, n_test=d.n_test, n_splits=d.n_splits, seed=config.seed)
    if d.dataset == "caltech101":
        options.update(split_file=d.split_file, include_background=d.include_background)
    elif d.dataset == "digits":
        options.update(size=d.size)
    elif d.dataset == "folder":
        options.update(root=d.root, test_root=d.test_root, split_file=d.split_file)
    return open_dataset(d.dataset, data_root, **options)


def make_extractor(config):
    """The descriptor extractor of a config's ``features`` section."""
    return DESCRIPTORS[config.features.kind][0](config.features)


def make_encoder(config):
    """The unfitted encoder of a config's ``encoder`` section."""
    return ENCODERS[config.encoder.kind][0](config.encoder)


def vocabulary_stage(config) -> str:
    """The vocabulary stage's name, what it fits: ``gmm`` or ``kmeans``."""
    return "gmm" if ENCODERS[config.encoder.kind][1] is DiagonalGMM else "kmeans"


def fitted_encoder(config, pca_arrays: dict, vocabulary_arrays: dict, xp):
    """The config's encoder, fitted with the PCA and vocabulary arrays of their stages, on ``xp``."""
    encoder = make_encoder(config)
    pca_arrays, vocabulary_arrays = ({k: xp.asarray(v) for k, v in a.items()} for a in (pca_arrays, vocabulary_arrays))
    pca = PCA.from_arrays(pca_arrays, config.encoder.whiten) if pca_arrays else None
    return encoder.set_fitted(pca, ENCODERS[config.encoder.kind][1].from_arrays(vocabulary_arrays))


def encoded_dimension(config) -> int:
    """The length of the config's encoding (the encoder's own formula, on the extractor's descriptors)."""
    return make_encoder(config).output_dimension(make_extractor(config).descriptor_size)
