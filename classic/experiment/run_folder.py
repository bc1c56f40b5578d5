"""The run folder: what a run (or a late fusion of runs) writes for people and for the report layer.

``config.yaml`` (the resolved configuration), ``manifest.json`` (:mod:`provenance`), ``classes.json``,
per split ``confusion_<split>.npy``, ``scores_<split>.npy`` and ``test_labels_<split>.npy``, and last
``metrics.json``: every file is written atomically, so a folder holding ``metrics.json`` is complete
(a full disk or a kill before it leaves a folder that says it is not).  The report layer renders
``report.md`` and the figures from these files (:func:`classic.report.render.render_run`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..io import load_json, load_npy, save_json, save_npy, save_text

# per split: training images left out for want of a usable descriptor, test images scored as empty ones
WITHOUT_DESCRIPTORS = ("n_train_without_descriptors", "n_test_without_descriptors")
METRICS = ("top1_error", "top5_error", "mean_class_accuracy")


class RunNotFound(FileNotFoundError):
    """A folder that is not a finished run folder, or whose stages are no longer in the cache."""
    pass


def summarise(results: list[dict], stages: list[dict], n_classes: int, wall: float, dimension: int | None) -> dict:
    """``metrics.json``: the mean and standard deviation over the splits, the per-split rows, the time
    and peak memory of each stage, the encoding's dimension."""
    summary = {k: float(np.mean([r[k] for r in results])) for k in METRICS}
    summary.update({f"{k}_std": float(np.std([r[k] for r in results])) for k in METRICS})
    seconds, peaks = {}, {}
    for s in stages:
        seconds[s["stage"]] = round(seconds.get(s["stage"], 0) + s["seconds"], 3)
        peaks[s["stage"]] = max(peaks.get(s["stage"], 0), s["peak_mb"], s["worker_peak_mb"])
    summary.update(
        n_classes=n_classes, n_train=results[0]["n_train"], n_test=results[0]["n_test"], n_splits=len(results),
        dimension=dimension,
        splits=[{"split": r["split"], **{k: r[k] for k in METRICS}, "n_train": r["n_train"], "n_test": r["n_test"],
                 "C": r["C"], **{k: r[k] for k in WITHOUT_DESCRIPTORS + ("split_digest",) if k in r}}
                for r in results],
        seconds_per_stage=seconds, peak_memory_mb_per_stage=peaks,
        peak_memory_mb=max(peaks.values()) if peaks else 0.0, wall_seconds=round(wall, 1),
        # the cost from an empty cache (None when a cached stage predates the recording of its time)
        compute_seconds=None if any(s["compute_seconds"] is None for s in stages)
        else round(sum(s["compute_seconds"] for s in stages), 1))
    if "fusion" in results[0]:          # a multi-channel run: the fusion and each channel alone, per split and in the mean
        for row, r in zip(summary["splits"], results):
            row["fusion"] = {"weights": r["fusion"]["weights"], "cv_accuracy": r["fusion"]["cv_accuracy"],
                             "per_channel": r["fusion"]["per_channel"]}
        names = results[0]["fusion"]["channels"]
        summary["channels"] = {
            "method": results[0]["fusion"]["method"], "names": names, "chosen_by": results[0]["fusion"]["chosen_by"],
            "weights": [float(np.mean([r["fusion"]["weights"][i] for r in results])) for i in range(len(names))],
            "per_channel": {n: {f"{k}{suffix}": float(f([r["fusion"]["per_channel"][n][k] for r in results]))
                                for k in METRICS for suffix, f in (("", np.mean), ("_std", np.std))} for n in names
                            if n in results[0]["fusion"]["per_channel"]}}
    return summary


def write_run_folder(out: Path, config_text: str, manifest: dict, summary: dict, results: list[dict],
                     class_names: list[str]) -> None:
    """Write a run folder; ``metrics.json`` last."""
    out = Path(out)
    save_text(out / "config.yaml", config_text)
    save_json(out / "manifest.json", manifest)
    save_json(out / "classes.json", class_names)
    for r in results:
        save_npy(out / f"confusion_{r['split']}.npy", r["confusion"])
        # test scores and labels: what late fusion (`classic fuse`) and outside analyses need
        save_npy(out / f"scores_{r['split']}.npy", r["scores"])
        save_npy(out / f"test_labels_{r['split']}.npy", r["test_labels"])
    save_json(out / "metrics.json", summary)


def load_run(folder) -> dict:
    """{"path", "metrics", "config" (as a dict), "manifest", "class_names"} of a finished run folder."""
    folder = Path(folder)
    if not (folder / "metrics.json").is_file():
        raise RunNotFound(f"{folder} is not a finished run folder (no metrics.json): run `classic run CONFIG --out {folder}`")
    manifest = folder / "manifest.json"
    classes = folder / "classes.json"
    return {"path": folder, "metrics": load_json(folder / "metrics.json"),
            "config": yaml.safe_load((folder / "config.yaml").read_text()),
            "manifest": load_json(manifest) if manifest.is_file() else {},
            "class_names": load_json(classes) if classes.is_file() else None}


def confusion_matrices(folder) -> dict[str, np.ndarray]:
    """Split name -> confusion matrix of a run folder."""
    return {p.stem.removeprefix("confusion_"): load_npy(p) for p in sorted(Path(folder).glob("confusion_*.npy"))}
