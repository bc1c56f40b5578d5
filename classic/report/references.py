"""Published results to set beside ours (``references.yaml``), and which benchmark a run is on.

A benchmark names a dataset and an evaluation rule; a reference row is shown next to a run only
when both are on the same benchmark, and every row says what it shares with our data: the very
same split, the same protocol on other random splits, the same test set, or another test set.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

BENCHMARKS = {
    "caltech101-30train": "Caltech-101, 30 training images per class, mean per-class accuracy",
    "ilsvrc2010-test": "ILSVRC-2010 test set (150,000 images, 1,000 classes)",
    "ilsvrc-test": "ILSVRC classification, each year's own test set",
    "imagenet1k-val": "ImageNet-1k (ILSVRC-2012) validation set (50,000 images)",
}
SAME_DATA = ("same split", "same protocol", "same test set", "other test set")
REQUIRED = ("method", "year", "era", "benchmark", "metrics", "same_data", "source")
METRICS = ("mean_class_accuracy", "top1_error", "top5_error")


@lru_cache(maxsize=1)
def _load() -> tuple:
    entries = yaml.safe_load((Path(__file__).with_name("references.yaml")).read_text())
    for entry in entries:
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            raise ValueError(f"references.yaml: {entry.get('method', entry)} lacks {', '.join(missing)}")
        if entry["benchmark"] not in BENCHMARKS or entry["same_data"] not in SAME_DATA:
            raise ValueError(f"references.yaml: {entry['method']}: unknown benchmark or same_data")
        if entry["same_data"] == "same split" and not entry.get("split_digest"):
            raise ValueError(f"references.yaml: {entry['method']}: 'same split' needs the split's split_digest")
        unknown = set(entry["metrics"]) - set(METRICS)
        if unknown:
            raise ValueError(f"references.yaml: {entry['method']}: unknown metric(s) {sorted(unknown)}")
    return tuple(entries)


def references(benchmark: str | None = None) -> list[dict]:
    """All reference entries, or those on one benchmark, oldest first."""
    return sorted((dict(e) for e in _load() if benchmark in (None, e["benchmark"])), key=lambda e: e["year"])


def benchmark_of(config: dict) -> str | None:
    """The benchmark a run's resolved config is on (None: no published numbers to compare with)."""
    data = config["data"]
    if data["dataset"] == "caltech101" and data["n_train"] == 30 and data.get("include_background", True):
        return "caltech101-30train"
    whole = data.get("n_classes") is None and data.get("n_train") is None and data.get("n_test") is None
    if data["dataset"] == "ilsvrc2010" and whole and data.get("test_set") == "test":
        return "ilsvrc2010-test"
    if data["dataset"] == "ilsvrc2012" and whole and data.get("test_set", "val") == "val":
        return "imagenet1k-val"
    return None
