"""Reading run folders (written by the runner) back for reports, sweeps and figures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..experiment.cache import load_json


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
    return [np.load(p, allow_pickle=False) for p in sorted(Path(folder).glob("confusion_*.npy"))]
