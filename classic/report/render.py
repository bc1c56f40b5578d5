"""Rendering a run folder (or a sweep folder) for people: ``report.md`` and the figures, from the data
the experiment layer wrote (:mod:`classic.experiment.run_folder`).  ``classic run``, ``classic fuse``
and ``classic sweep`` render their folders when they finish; :func:`render_run` renders any finished
run folder again."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import yaml

from ..data.synsets import readable_name
from ..experiment.config import ExperimentConfig, build_config, data_description
from ..experiment.run_folder import confusion_matrices, load_run
from ..io import load_json, save_text
from ..learn.metrics import per_class_accuracy
from .figures import confusion_figure, per_class_figure, sweep_figure
from .tables import encoding_text, features_text


def render_run(folder) -> Path:
    """Write ``report.md``, ``confusion.{png,svg}`` (summed over the splits) and ``per_class.{png,svg}``
    (mean over the splits) of a finished run folder; returns the report's path."""
    run = load_run(folder)
    folder, summary = Path(folder), run["metrics"]
    names = [readable_name(n) for n in run["class_names"]]        # WNID folders with their words
    confusions = confusion_matrices(folder)
    ordered = [confusions[s["split"]] for s in summary["splits"]]
    per_class = np.nanmean([per_class_accuracy(c) for c in ordered], axis=0)
    splits = f" ({len(ordered)} splits)" if len(ordered) > 1 else ""
    confusion_figure(sum(ordered), names, folder / "confusion", f"Confusion matrix{splits}, rows normalised")
    per_class_figure(per_class, names, folder / "per_class", f"Per-class accuracy{splits}")
    if "fusion" in summary:
        text = fusion_report(folder.name, summary)
    else:
        text = run_report(build_config(run["config"]), summary, names, per_class)
    return save_text(folder / "report.md", text)


def terminal_text(markdown: str, folder) -> str:
    r"""A report's Markdown as text for a terminal: each figure line becomes the path of its file,
    emphasis marks go; headings and tables stay (they read as they are).

    >>> print(terminal_text("**77.5%** mean\n\n![Per-class accuracy](per_class.png)", "runs/a"))
    77.5% mean
    <BLANKLINE>
    figure: runs/a/per_class.png (Per-class accuracy)
    """
    lines = []
    for line in markdown.splitlines():
        if line.startswith("![") and "](" in line and line.endswith(")"):
            title, name = line[2:-1].split("](", 1)
            line = f"figure: {Path(folder) / name} ({title})"
        lines.append(line.replace("**", ""))
    return "\n".join(lines) + ("\n" if markdown.endswith("\n") else "")


def fusion_report(name: str, summary: dict) -> str:
    """``report.md`` of a late fusion: the members, their weights and accuracies, the fused result."""
    fusion = summary["fusion"]
    lines = [f"# {name}: late fusion of {len(fusion['members'])} runs", "",
             "| run | weight | mean class accuracy (%) |", "|---|---:|---:|"]
    lines += [f"| {f} | {w:.2f} | {100 * a:.2f} |"
              for f, w, a in zip(fusion["members"], fusion["weights"], fusion["member_mean_class_accuracy"])]
    lines += [f"| **fused** | | **{100 * summary['mean_class_accuracy']:.2f}** |", "",
              f"top-1 error {100 * summary['top1_error']:.2f}%, top-5 error {100 * summary['top5_error']:.2f}%.", "",
              "![Per-class accuracy](per_class.png)", "", "![Confusion matrix](confusion.png)", ""]
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


STREAMING_SOLVERS = {"sgd": "SGD", "asgd": "averaged SGD", "dcd": "dual coordinate descent"}


def run_report(config: ExperimentConfig, summary: dict, class_names: list[str], per_class: np.ndarray) -> str:
    """``report.md`` of a run: ``per_class`` is the per-class accuracy averaged over the splits."""
    e, s, d, values = config.encoder, config.svm, config.data, config.to_dict()
    learner = (f"one-vs-rest linear SVM ({s.loss}, C = {s.C if not s.C_grid else 'by CV from ' + str(s.C_grid)})"
               if s.solver == "kernel" else f"one-vs-rest linear SVMs by mini-batch "
               f"{STREAMING_SOLVERS[s.solver]} ({s.loss}, lambda = "
               f"{f'{s.lam:g}' if s.lam is not None else f'1 / (C n), C = {s.C:g}'}, {s.balance} class weights)")
    dims = f"{summary['dimension']:,} dims, " if summary.get("dimension") else ""
    data = data_description(config)
    lines = [
        f"# {config.name}" + (f" on {data}" if data != config.name else ""),     # not "digits on digits"
        "",
        f"Dataset **{data}**: {summary['n_classes']} classes, {summary['n_train']} training / "
        f"{summary['n_test']} test images (split 1 of {summary['n_splits']}).",
        f"Features: {features_text(values)}; encoding: {encoding_text(values)} (pyramid levels as columns x rows; "
        f"{dims}stored as {e.store_dtype}); {learner}.",
        "",
        "| split | mean class accuracy (%) | top-1 error (%) | top-5 error (%) | train | test | C |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["splits"]:
        C = s.solver.upper() if r["C"] is None else "/".join(format(c, "g") for c in np.atleast_1d(r["C"]))
        lines.append(f"| {r['split']} | {_pct(r['mean_class_accuracy'])} | {_pct(r['top1_error'])} | "
                     f"{_pct(r['top5_error'])} | {r['n_train']} | {r['n_test']} | {C} |")
    if len(summary["splits"]) > 1:
        lines.append(f"| **mean ± std** | **{_pct(summary['mean_class_accuracy'])} ± "
                     f"{_pct(summary['mean_class_accuracy_std'])}** | {_pct(summary['top1_error'])} ± "
                     f"{_pct(summary['top1_error_std'])} | {_pct(summary['top5_error'])} ± "
                     f"{_pct(summary['top5_error_std'])} | | | |")
    if "channels" in summary:
        lines += channels_table(summary)
    left_out = sum(r.get("n_train_without_descriptors", 0) for r in summary["splits"])
    scored_empty = sum(r.get("n_test_without_descriptors", 0) for r in summary["splits"])
    if left_out or scored_empty:
        lines += ["", f"Images with no usable descriptor (too small for one frame, or too uniform), summed over the "
                      f"splits: {left_out} training image(s) left out of training, {scored_empty} test image(s) "
                      f"scored as an empty image (they count in the metrics); the files are listed in "
                      f"`manifest.json`."]
    lines += ["", "## Time and memory", "",
              "Stages computed in this invocation, summed over the splits (a stage found in the cache counts 0 s).", "",
              "| stage | seconds (all splits) | peak memory (MiB) |", "|---|---:|---:|"]
    for stage, seconds in summary["seconds_per_stage"].items():
        lines.append(f"| {stage} | {seconds:.1f} | {summary['peak_memory_mb_per_stage'][stage]:.0f} |")
    lines += ["", f"Wall time: {summary['wall_seconds']:.1f} s.", ""]
    order = np.argsort(per_class)
    worst = ", ".join(f"{class_names[i]} {100 * per_class[i]:.0f}%" for i in order[:5] if not np.isnan(per_class[i]))
    best = ", ".join(f"{class_names[i]} {100 * per_class[i]:.0f}%" for i in order[::-1][:5] if not np.isnan(per_class[i]))
    lines += [f"Hardest classes: {worst}.", f"Easiest classes: {best}.", "",
              "![Per-class accuracy](per_class.png)", "", "![Confusion matrix, classes ordered by accuracy](confusion.png)", ""]
    return "\n".join(lines)


def channels_table(summary: dict) -> list[str]:
    """The lines of a multi-channel run's table: each channel alone, its weight, and the fusion."""
    channels = summary["channels"]
    n = summary["n_splits"]

    def cell(m, key):
        return _pct(m[key]) + (f" ± {_pct(m[key + '_std'])}" if n > 1 else "")
    lines = ["", f"## Channels ({channels['method']} fusion)", "",
             f"Each channel alone (its own SVM, in this run), and the weight it has in the {channels['method']} "
             f"fusion ({channels['chosen_by']}; mean over the splits).", "",
             "| channel | weight | mean class accuracy (%) | top-1 error (%) | top-5 error (%) |",
             "|---|---:|---:|---:|---:|"]
    for name, weight in zip(channels["names"], channels["weights"]):
        m = channels["per_channel"].get(name)           # none with a streaming solver: one SVM for all channels
        lines.append(f"| {name} | {weight:.3f} | " + (f"{cell(m, 'mean_class_accuracy')} | {cell(m, 'top1_error')} | "
                                                      f"{cell(m, 'top5_error')} |" if m else "— | — | — |"))
    lines.append(f"| **fused** | | **{cell(summary, 'mean_class_accuracy')}** | {cell(summary, 'top1_error')} | "
                 f"{cell(summary, 'top5_error')} |")
    return lines


# -- sweeps ------------------------------------------------------------------------------------------

def render_sweep(folder) -> Path:
    """Write ``sweep.md``, ``sweep.csv`` and ``sweep.{png,svg}`` from a sweep folder's ``sweep.json``."""
    folder = Path(folder)
    sweep = load_json(folder / "sweep.json")
    rows, keys = sweep["rows"], list(sweep["grid"])
    save_text(folder / "sweep.csv", sweep_csv(rows, keys))
    sweep_figure(rows, keys, folder / "sweep", title=folder.name)
    return save_text(folder / "sweep.md", sweep_markdown(rows, keys))


def _format(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _cells(row, keys) -> list[str]:
    std = f" ± {100 * row['mean_class_accuracy_std']:.2f}" if row["n_splits"] > 1 else ""
    seconds = row["compute_seconds"]
    return ([row["variant"]] if row["variant"] else []) + [_format(row["values"][k]) for k in keys] + [
        f"{row['dims']:,}", f"{100 * row['mean_class_accuracy']:.2f}{std}", f"{100 * row['top1_error']:.2f}",
        f"{100 * row['top5_error']:.2f}", str(row["n_splits"]),
        "unknown (cached before times were recorded)" if seconds is None else f"{seconds:.0f}"]


def _header(rows, keys) -> list[str]:
    return (["variant"] if any(r["variant"] for r in rows) else []) + keys + [
        "dims", "mean class acc. (%)", "top-1 err. (%)", "top-5 err. (%)", "splits", "compute time (s)"]


def sweep_markdown(rows, keys) -> str:
    """The sweep's table in Markdown, with its figure."""
    header = _header(rows, keys)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cells(r, keys)) + " |" for r in rows]
    return "\n".join(lines) + "\n\n![accuracy against the swept values](sweep.png)\n"


def sweep_csv(rows, keys) -> str:
    """The sweep's table as CSV, numbers as plain numbers (percentages with 4 decimals, the accuracy's
    standard deviation its own column, empty when there is one split or no recorded time)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    variant = any(r["variant"] for r in rows)
    writer.writerow((["variant"] if variant else []) + keys + [
        "dims", "mean_class_accuracy_pct", "mean_class_accuracy_std_pct", "top1_error_pct", "top5_error_pct",
        "splits", "compute_seconds"])
    for r in rows:
        seconds = r["compute_seconds"]
        writer.writerow(([r["variant"]] if variant else []) + [_format(r["values"][k]) for k in keys] + [
            int(r["dims"]), round(100 * r["mean_class_accuracy"], 4),
            round(100 * r["mean_class_accuracy_std"], 4) if r["n_splits"] > 1 else "",
            round(100 * r["top1_error"], 4), round(100 * r["top5_error"], 4), int(r["n_splits"]),
            "" if seconds is None else round(seconds, 1)])
    return buffer.getvalue()
