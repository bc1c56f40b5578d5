"""The run report: a Markdown page with the result table, per-split rows, timings and memory."""
from __future__ import annotations

import numpy as np

from ..experiment.config import ExperimentConfig


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def run_report(config: ExperimentConfig, summary: dict, class_names: list[str], results: list[dict]) -> str:
    f, e, s, d = config.features, config.encoder, config.svm, config.data
    dims = (e.pca_dims or 128) * e.n_components * 2 * sum(a * b for a, b in e.pyramid)
    lines = [
        f"# {config.name}",
        "",
        f"Dataset **{d.dataset}**: {summary['n_classes']} classes, {summary['n_train']} training / "
        f"{summary['n_test']} test images (split 1 of {summary['n_splits']}).",
        f"Features: dense SIFT, bins {f.bin_sizes}, step {f.step}{', RootSIFT' if f.rootsift else ''}; "
        f"encoding: {'improved ' if e.improved else ''}Fisher vector, PCA {e.pca_dims}, K = {e.n_components}, "
        f"pyramid {' + '.join(f'{a}x{b}' for a, b in e.pyramid)} (columns x rows) ({dims:,} dims, stored as {e.store_dtype}); "
        f"one-vs-rest linear SVM ({s.loss}, C = {s.C if not s.C_grid else 'by CV from ' + str(s.C_grid)}).",
        "",
        "| split | mean class accuracy (%) | top-1 error (%) | top-5 error (%) | train | test | C |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["splits"]:
        lines.append(f"| {r['split']} | {_pct(r['mean_class_accuracy'])} | {_pct(r['top1_error'])} | "
                     f"{_pct(r['top5_error'])} | {r['n_train']} | {r['n_test']} | {r['C']:g} |")
    if len(summary["splits"]) > 1:
        lines.append(f"| **mean ± std** | **{_pct(summary['mean_class_accuracy'])} ± "
                     f"{_pct(summary['mean_class_accuracy_std'])}** | {_pct(summary['top1_error'])} ± "
                     f"{_pct(summary['top1_error_std'])} | {_pct(summary['top5_error'])} ± "
                     f"{_pct(summary['top5_error_std'])} | | | |")
    lines += ["", "## Time and memory", "",
              "Stages computed in this invocation, summed over the splits (a stage found in the cache counts 0 s).", "",
              "| stage | seconds (all splits) | peak memory (MiB) |", "|---|---:|---:|"]
    for stage, seconds in summary["seconds_per_stage"].items():
        lines.append(f"| {stage} | {seconds:.1f} | {summary['peak_memory_mb_per_stage'][stage]:.0f} |")
    lines += ["", f"Wall time: {summary['wall_seconds']:.1f} s.", ""]
    per_class = np.nanmean([r["per_class_accuracy"] for r in results], axis=0)
    order = np.argsort(per_class)
    worst = ", ".join(f"{class_names[i]} {100 * per_class[i]:.0f}%" for i in order[:5] if not np.isnan(per_class[i]))
    best = ", ".join(f"{class_names[i]} {100 * per_class[i]:.0f}%" for i in order[::-1][:5] if not np.isnan(per_class[i]))
    lines += [f"Hardest classes: {worst}.", f"Easiest classes: {best}.", ""]
    return "\n".join(lines)
