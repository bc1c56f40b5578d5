"""Late fusion: one classifier per feature channel (dense SIFT, local colour statistics), their test
scores averaged with weights (the XRCE and Oxford VGG entries of ILSVRC 2010-2012 fused their SIFT
and colour channels this way).  ``classic fuse RUN RUN ... --out DIR`` writes a run folder whose
metrics are those of the fused scores; the runs must share splits and test images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..io import load_json, load_npy
from ..learn import evaluate
from .run_folder import summarise, write_run_folder


class FusionError(ValueError):
    """Runs that cannot be fused (different splits or test images, unfinished folders, bad weights)."""
    pass


def _array(path: Path) -> np.ndarray:
    try:
        return load_npy(path)
    except (OSError, ValueError) as exc:
        raise FusionError(f"{path}: not a plain array file written by classic ({exc})") from None


def fuse_runs(folders, out, weights=None) -> dict:
    """Late fusion of finished runs into the run folder ``out``: their test scores averaged with ``weights`` (equal by default); returns the fused metrics."""
    folders = [Path(f) for f in folders]
    if len(folders) < 2:
        raise FusionError("late fusion needs at least two runs")
    weights = np.asarray(weights if weights is not None else [1.0] * len(folders), dtype=np.float64)
    if len(weights) != len(folders) or weights.sum() <= 0:
        raise FusionError(f"{len(weights)} weights for {len(folders)} runs")
    weights = weights / weights.sum()
    unfinished = [str(f) for f in folders if not (f / "metrics.json").is_file()]
    if unfinished:
        raise FusionError(f"not finished run folders (no metrics.json): {', '.join(unfinished)}")
    metrics = [load_json(f / "metrics.json") for f in folders]
    splits = [s["split"] for s in metrics[0]["splits"]]
    if any([s["split"] for s in m["splits"]] != splits for m in metrics):
        raise FusionError("the runs do not have the same splits")
    class_names = load_json(folders[0] / "classes.json")
    results = []
    for split in splits:
        labels = [_array(f / f"test_labels_{split}.npy") for f in folders]
        if any(not np.array_equal(labels[0], other) for other in labels[1:]):
            raise FusionError(f"split {split}: the runs' test images differ")
        scores = sum(w * _array(f / f"scores_{split}.npy").astype(np.float64) for w, f in zip(weights, folders))
        result = evaluate(scores, labels[0], len(class_names))
        member = next(s for s in metrics[0]["splits"] if s["split"] == split)
        result.update(split=split, n_train=member["n_train"], n_test=member["n_test"], C=member["C"],
                      scores=scores.astype(np.float32), test_labels=labels[0])
        results.append(result)
    stages = [{"stage": f"member {i + 1}", "seconds": 0.0, "compute_seconds": m.get("compute_seconds"), "peak_mb": 0.0,
               "worker_peak_mb": 0.0} for i, m in enumerate(metrics)]
    summary = summarise(results, stages, len(class_names), 0.0, metrics[0].get("dimension"))
    summary["fusion"] = {"members": [str(f) for f in folders], "weights": weights.tolist(),
                         "member_mean_class_accuracy": [m["mean_class_accuracy"] for m in metrics]}
    out = Path(out)
    config = yaml.safe_load((folders[0] / "config.yaml").read_text())
    config["name"] = out.name
    write_run_folder(out, yaml.safe_dump(config, sort_keys=False),
                     {**load_json(folders[0] / "manifest.json"), "fusion": summary["fusion"]}, summary, results,
                     class_names)
    return summary
