"""``classic predict`` on a run's own test images: agreement with the run's test scores, and speed.

    .venv/bin/python benchmarks/predict.py RUN --data-root ../shared/datasets [--n-jobs N] [--json OUT]

RUN is a finished run folder with ``model/``.  The test images of its first split (the split the
model was trained on) are classified from their files by the model alone, as ``classic predict``
does (worker processes, one thread each); printed: images, wall time, images per second, the
largest score difference from the run's ``scores_<split>.npy`` (absolute, and as a share of the
scores' range), the share of images whose top class agrees, and the model folder's size.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from classic.experiment.build import build_dataset
    from classic.experiment.config import load_config
    from classic.experiment.predict import predict_images
    from classic.experiment.model import read_model
    from classic.io import format_bytes, save_json
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    info = read_model(args.run)
    dataset = build_dataset(load_config(args.run / "config.yaml"), args.data_root)
    split = next(s for s in dataset.splits() if s.name == info["split"])
    paths = [dataset.path(ref) for ref in split.test]
    start = time.perf_counter()
    predicted = predict_images(args.run, paths, n_jobs=args.n_jobs)
    wall = time.perf_counter() - start
    # the run's scores have a column per class (-inf where untrained); the model's, per trained class
    run_scores = np.load(args.run / f"scores_{split.name}.npy")[:, info["trained_classes"]]
    decoded = {str(p): i for i, p in enumerate(paths)}
    rows = [decoded[f] for f in predicted["files"]]
    difference = np.abs(predicted["scores"] - run_scores[rows])
    result = {"run": str(args.run), "images": len(paths), "classified": len(rows), "wall_s": round(wall, 2),
              "images_per_s": round(len(rows) / wall, 2), "max_abs_difference": float(difference.max()),
              "max_difference_share_of_range": float(difference.max() / np.ptp(run_scores[rows])),
              "top1_agreement": float((predicted["scores"].argmax(1) == run_scores[rows].argmax(1)).mean()),
              "model_bytes": info["bytes"], "weights_dtype": info["weights_dtype"],
              "dimension": sum(c["dimension"] for c in info["channels"])}
    for k, v in result.items():
        print(f"{k:>32}: {format_bytes(v) if k == 'model_bytes' else v}")
    if args.json:
        save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
