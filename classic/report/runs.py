"""Reading run folders (written by the runner) back for reports, sweeps and figures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..experiment.cache import load_json, load_npy
from ..experiment.store import FeatureStore


class RunNotFound(FileNotFoundError):
    pass


def load_run(folder) -> dict:
    """{"path", "metrics", "config", "manifest"} of a finished run folder."""
    folder = Path(folder)
    if not (folder / "metrics.json").is_file():
        raise RunNotFound(f"{folder} is not a finished run folder (no metrics.json): run `classic run CONFIG --out {folder}`")
    manifest = folder / "manifest.json"
    return {"path": folder, "metrics": load_json(folder / "metrics.json"),
            "config": yaml.safe_load((folder / "config.yaml").read_text()),
            "manifest": load_json(manifest) if manifest.is_file() else {}}


def confusion_matrices(folder) -> list[np.ndarray]:
    return [load_npy(p) for p in sorted(Path(folder).glob("confusion_*.npy"))]


class TrainedPipeline:
    """The fitted stages of a run's first split, read back from the cache: descriptor extractor, encoder
    (PCA + vocabulary), SVM in kernel form and the training features it needs to score a new image."""

    def __init__(self, folder):
        from ..experiment.cache import Cache, load_npz
        from ..experiment.config import build_config
        from ..experiment.runner import descriptor_extractor, make_encoder, vocabulary_stage
        from ..encoding import PCA, DiagonalGMM, KMeans
        from dataclasses import asdict
        run = load_run(folder)
        self.config = build_config(run["config"])
        self.class_names = _class_names(Path(folder))
        split = run["metrics"]["splits"][0]["split"]
        keys = {s["stage"]: s["key"] for s in run["manifest"].get("stages", []) if s["split"] == split}
        cache = Cache(run["manifest"].get("cache_root") or _default_cache())
        stage = vocabulary_stage(self.config.encoder)
        folders = {name: cache.folder(name, keys.get(name, "missing")) for name in ("pca", stage, "encode", "svm")}
        model = folders["svm"] / "model.npz"
        if not model.is_file() or not all(cache.done(n, keys.get(n, "missing")) for n in folders):
            raise RunNotFound(f"the trained stages of {folder} are not in the cache {cache.root} (or predate saved SVM "
                              f"models): re-run `classic run {Path(folder) / 'config.yaml'} --out {folder}` "
                              f"(cached stages make it quick)")
        enc = self.config.encoder
        self.extractor = descriptor_extractor(self.config)
        self.encoder = make_encoder(asdict(enc))
        pca = load_npz(folders["pca"] / "pca.npz")
        self.encoder.pca_ = PCA.from_arrays(pca, enc.whiten) if pca else None
        self.encoder.vocabulary_ = (DiagonalGMM if stage == "gmm" else KMeans).from_arrays(
            load_npz(folders[stage] / f"{stage}.npz"))
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
        scores = np.full(len(self.class_names), -np.inf, dtype=np.float32)
        scores[self.model["classes"]] = raw
        return scores


def _class_names(folder: Path) -> list[str]:
    if not (folder / "classes.json").is_file():
        raise RunNotFound(f"{folder} has no classes.json (written by runs since the report layer): re-run "
                          f"`classic run {folder / 'config.yaml'} --out {folder}` (cached stages make it quick)")
    return load_json(folder / "classes.json")


def _default_cache() -> Path:
    from ..data import cache_root
    return cache_root()
