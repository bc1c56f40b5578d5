"""Figures (matplotlib, written as PNG + SVG): confusion matrix, per-class accuracy, the ILSVRC
top-5 trajectory, sweep curves.  Each function takes arrays and returns the paths it wrote."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..learn.metrics import per_class_accuracy


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")                   # files only: no display needed, none assumed
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, dpi: int = 150) -> list[Path]:
    """``path`` without suffix -> path.png (``dpi``) and path.svg; atomic like every other output."""
    from ..io import atomic_write
    plt = _pyplot()
    path = Path(path)
    written = []
    for suffix, options in ((".png", {"dpi": dpi}), (".svg", {})):
        written.append(atomic_write(path.with_suffix(suffix),
                               lambda f: fig.savefig(f, format=suffix[1:], bbox_inches="tight", **options)))
    plt.close(fig)
    return written


def accuracy_order(confusion) -> np.ndarray:
    """Class indices from the most to the least accurate (classes absent from the test set last)."""
    accuracy = per_class_accuracy(confusion)
    return np.argsort(-np.nan_to_num(accuracy, nan=-1), kind="stable")


def confusion_figure(confusion, class_names, path, title: str = "") -> list[Path]:
    """Row-normalised confusion matrix, classes ordered by accuracy: errors gather at the bottom right."""
    plt = _pyplot()
    confusion = np.asarray(confusion, dtype=float)
    order = accuracy_order(confusion)
    rows = confusion[np.ix_(order, order)]
    rows = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1)
    n = len(order)
    size = min(16, max(5, n * 0.13))
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(rows, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ticks = np.arange(n)
    labels = [class_names[i] for i in order]
    font = max(3, min(9, 400 / max(n, 1)))
    ax.set_xticks(ticks, labels, rotation=90, fontsize=font)
    ax.set_yticks(ticks, labels, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (most accurate first)")
    ax.set_title(title or "Confusion matrix (rows normalised)")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="fraction of the true class")
    return save_figure(fig, path)


def per_class_figure(accuracy, class_names, path, title: str = "") -> list[Path]:
    """Horizontal bars of per-class accuracy, sorted, with the mean marked."""
    plt = _pyplot()
    accuracy = np.asarray(accuracy, dtype=float)
    present = np.flatnonzero(~np.isnan(accuracy))
    order = present[np.argsort(accuracy[present], kind="stable")]
    fig, ax = plt.subplots(figsize=(6, max(3, 0.14 * len(order))))
    ax.barh(np.arange(len(order)), 100 * accuracy[order], color="tab:blue")
    mean = 100 * np.nanmean(accuracy)
    ax.axvline(mean, color="tab:red", linestyle="--", label=f"mean {mean:.1f}%")
    ax.set_yticks(np.arange(len(order)), [class_names[i] for i in order], fontsize=max(3, min(9, 500 / max(len(order), 1))))
    ax.set_xlabel("accuracy (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.legend(loc="lower right")
    ax.set_title(title or "Per-class accuracy")
    return save_figure(fig, path)


def trajectory_figure(entries, path, ours=()) -> list[Path]:
    """ILSVRC top-5 error of the winners and classical entries, 2010-2017; ``ours``: (label, year, top-5 %)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    winners = sorted((e for e in entries if e.get("winner")), key=lambda e: e["year"])
    ax.plot([e["year"] for e in winners], [e["metrics"]["top5_error"] for e in winners], color="0.6", zorder=1)
    for era, colour in (("classical", "tab:blue"), ("deep", "tab:orange")):
        chosen = [e for e in entries if e["era"] == era]
        ax.scatter([e["year"] for e in chosen], [e["metrics"]["top5_error"] for e in chosen], color=colour,
                   label=f"{era} entries", zorder=2)
    for e in entries:               # winners labelled to the upper right of their point
        if e.get("winner"):
            ax.annotate(e["method"].split(" (")[0], (e["year"], e["metrics"]["top5_error"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points", ha="left")
    others: dict = {}
    for e in entries:
        if not e.get("winner"):
            others.setdefault(e["year"], []).append(e)
    for year, group in others.items():
        # the other entries of a year (2012: three classical ones within 1.1 points) to the right of
        # their points, spread 1.9 points apart about their mean, each joined to its point by a line
        # (to the left where that year's winner, labelled to the right, is within 4 points: 2014)
        group.sort(key=lambda e: e["metrics"]["top5_error"])
        centre = float(np.mean([e["metrics"]["top5_error"] for e in group]))
        left = any(w["year"] == year and abs(w["metrics"]["top5_error"] - centre) < 4 for w in winners)
        for i, e in enumerate(group):
            y = centre + (i - (len(group) - 1) / 2) * 1.9
            ax.annotate(e["method"].split(" (")[0], (year, e["metrics"]["top5_error"]),
                        xytext=(year - 0.18 if left else year + 0.18, y), fontsize=7, ha="right" if left else "left",
                        va="center", arrowprops=dict(arrowstyle="-", color="0.5", lw=0.6))
    for label, year, top5 in ours:
        ax.scatter([year], [top5], marker="*", s=160, color="tab:green", zorder=3, label=label)
    if not ours:
        ax.text(0.98, 0.95, "no ImageNet run of ours yet", transform=ax.transAxes, ha="right", va="top",
                fontsize=8, color="0.4")
    ax.set_xlabel("ILSVRC year")
    ax.set_ylabel("top-5 error (%), that year's test set")
    ax.set_ylim(0, 32)
    ax.set_xticks(range(2010, 2018))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right" if ours else "center right")
    ax.set_title("ILSVRC classification: the end of the classical era")
    return save_figure(fig, path)


def sweep_figure(rows, keys, path, title: str = "") -> list[Path]:
    """Mean class accuracy against each swept value (one panel per key; one line per setting of the
    other keys and variant), error bars = standard deviation over splits; named variants without a
    grid: one bar each (the bars start at 0).  A line panel's accuracy axis spans its error bars with a
    margin, and says so when it does not start at 0; ``title`` heads the figure, with the number of
    splits per point."""
    plt = _pyplot()
    splits = sorted({r["n_splits"] for r in rows})
    heading = (f"{title}: " if title else "") + "mean class accuracy, " + (
        f"{splits[0]} split{'s' if splits[0] > 1 else ''} per point" if len(splits) == 1 else
        f"{splits[0]}-{splits[-1]} splits per point") + ("; bars: std over splits" if splits[-1] > 1 else "")
    if not keys:
        fig, ax = plt.subplots(figsize=(6, 0.5 * len(rows) + 1.2))
        errors = [100 * r["mean_class_accuracy_std"] if r["n_splits"] > 1 else 0 for r in rows]
        ax.barh(range(len(rows)), [100 * r["mean_class_accuracy"] for r in rows], xerr=errors, color="tab:blue")
        ax.set_yticks(range(len(rows)), [r["label"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("mean class accuracy (%)")
        for i, (r, error) in enumerate(zip(rows, errors)):          # the value right of its error bar
            ax.text(100 * r["mean_class_accuracy"] + error + 1, i, f"{100 * r['mean_class_accuracy']:.1f}", va="center",
                    fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_title(heading, fontsize=9)
        fig.tight_layout()
        return save_figure(fig, path)
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        others = [k for k in keys if k != key]
        groups: dict = {}
        lows, highs = [], []          # the error bars' ends: the axis shows all of them, with a margin
        for r in rows:
            groups.setdefault((r["variant"], *[str(r["values"][k]) for k in others]), []).append(r)
        xs_all = [r["values"][key] for r in rows]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs_all)
        positions = {str(x): i for i, x in enumerate(dict.fromkeys(map(str, xs_all)))}
        for group, members in groups.items():
            members = sorted(members, key=lambda r: r["values"][key] if numeric else positions[str(r["values"][key])])
            x = [r["values"][key] if numeric else positions[str(r["values"][key])] for r in members]
            y = [100 * r["mean_class_accuracy"] for r in members]
            err = [100 * r["mean_class_accuracy_std"] if r["n_splits"] > 1 else 0 for r in members]
            label = ", ".join([group[0]] * bool(group[0]) + [f"{k.split('.')[-1]}={v}" for k, v in zip(others, group[1:])])
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label or None)
            lows += [a - e for a, e in zip(y, err)]
            highs += [a + e for a, e in zip(y, err)]
        if numeric and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 8:
            ax.set_xscale("log", base=2)
        if numeric:
            ticks = sorted(set(xs_all))
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        else:
            ax.set_xticks(list(positions.values()), list(positions))
        ax.set_xlabel(key)
        low, high = min(lows), max(highs)
        pad = max(1.0, 0.15 * (high - low))
        ax.set_ylim(max(0.0, low - pad), min(100.0, high + pad))
        ax.set_ylabel("mean class accuracy (%; axis not from 0)" if low - pad > 0 else "mean class accuracy (%)")
        ax.grid(alpha=0.3)
        if len(groups) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(heading, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
