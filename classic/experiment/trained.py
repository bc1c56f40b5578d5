"""A finished run's fitted stages read back from the cache, to score new images (``classic explain``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import cache_root
from ..io import load_npz
from ..learn import scores_for_classes
from .build import fitted_encoder, make_extractor, vocabulary_stage
from .cache import Cache
from .config import build_config
from .run_folder import RunNotFound, load_run
from .store import FeatureStore


class TrainedPipeline:
    """The fitted stages of a run's first split, read back from the cache: descriptor extractor, encoder
    (PCA + vocabulary), SVM (kernel form, with the training features it needs, or weights)."""

    def __init__(self, folder):
        run = load_run(folder)
        self.config = build_config(run["config"])
        if self.config.channels:
            raise RunNotFound(f"{folder} fuses {len(self.config.channels)} descriptor channels; a trained pipeline is "
                              f"read from a single-channel run (run one channel of its config alone)")
        if run["class_names"] is None:
            raise RunNotFound(f"{folder} has no classes.json (written by runs since the report layer): re-run "
                              f"`classic run {Path(folder) / 'config.yaml'} --out {folder}` (cached stages make it quick)")
        self.class_names = run["class_names"]
        split = run["metrics"]["splits"][0]["split"]
        keys = {s["stage"]: s["key"] for s in run["manifest"].get("stages", []) if s["split"] == split}
        cache = Cache(run["manifest"].get("cache_root") or cache_root())
        stage = vocabulary_stage(self.config)
        folders = {name: cache.folder(name, keys.get(name, "missing")) for name in ("pca", stage, "encode", "svm")}
        model = folders["svm"] / "model.npz"
        if not model.is_file() or not all(cache.done(n, keys.get(n, "missing")) for n in folders):
            raise RunNotFound(f"the trained stages of {folder} are not in the cache {cache.root} (or predate saved SVM "
                              f"models): re-run `classic run {Path(folder) / 'config.yaml'} --out {folder}` "
                              f"(cached stages make it quick)")
        self.extractor = make_extractor(self.config)
        self.encoder = fitted_encoder(self.config, load_npz(folders["pca"] / "pca.npz"),
                                      load_npz(folders[stage] / f"{stage}.npz"), np)
        self.model = load_npz(model)
        self.train_rows = load_npz(folders["svm"] / "index.npz")["train"]
        self.store = FeatureStore(folders["encode"])

    def scores(self, vector) -> np.ndarray:
        """SVM scores (n_classes,) of one encoded image: with a kernel-form model, one pass over the
        training features in the store; with a streaming (SGD or DCD) model, one product with its weights."""
        wanted = np.asarray(vector, dtype=np.float32)
        if "coef" in self.model:
            raw = self.model["coef"].astype(np.float32) @ wanted + self.model["intercept"]
        else:
            kernel_row = np.concatenate([self.store[part] @ wanted
                                         for part in np.array_split(self.train_rows, max(1, len(self.train_rows) // 512))])
            raw = self.model["dual_coef"] @ kernel_row + self.model["intercept"]
        return scores_for_classes(raw[None], self.model["classes"], len(self.class_names))[0]
