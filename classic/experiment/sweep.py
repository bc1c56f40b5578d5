"""Sweeps: one configuration run over a grid of values (or a list of named variants), every stage
shared through the cache, then one table and one figure.

A grid is given on the command line (``--grid encoder.n_components=16,32,64``, several ``--grid``
make a product) or in the config file's ``sweep:`` section, which may also name variants::

    sweep:
      grid: {encoder.n_components: [16, 64]}
      variants:                       # each a row of the table: label -> overrides
        VLAD: {encoder.kind: vlad}
        Fisher vector: {encoder.kind: fisher}

With both, every variant is crossed with the grid.  Each point is an ordinary run folder under the
sweep folder (``<label>/``), so ``classic report`` works on any of them.  The sweep's rows go to
``sweep.json``; the report layer renders the table and figure from it
(:func:`classic.report.render.render_sweep`).
"""
from __future__ import annotations

import itertools
import logging
import re
from pathlib import Path

import yaml

from ..io import save_json
from .config import ConfigError, build_config, read_config_file


def parse_grid(assignments) -> dict[str, list]:
    """``["a.b=1,2", "c=x,y"]`` -> {"a.b": [1, 2], "c": ["x", "y"]} (each value read as YAML)."""
    grid = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ConfigError(f"--grid expects key=value1,value2,..., got {assignment!r}")
        grid[key.strip()] = [yaml.safe_load(v) for v in _split_values(raw)]
    return grid


def _split_values(raw: str) -> list[str]:
    """Split at commas outside brackets, so that list values like [4,8] stay whole."""
    parts, depth, current = [], 0, ""
    for ch in raw:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return parts + [current]


def _format(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "point"


def sweep_points(grid: dict, variants: dict | None = None) -> list[dict]:
    """The sweep's points: {"label", "folder", "values" (swept key -> value), "overrides"}."""
    variants = variants or {"": {}}
    points = []
    for name, fixed in variants.items():
        for combination in itertools.product(*grid.values()) if grid else [()]:
            values = dict(zip(grid, combination))
            overrides = [f"{k}={_format(v)}" for k, v in {**(fixed or {}), **values}.items()]
            parts = ([name] if name else []) + [f"{k.split('.')[-1]}={_format(v)}" for k, v in values.items()]
            label = ", ".join(parts) or "base"
            points.append({"label": label, "folder": _slug(label.replace(", ", "_")), "variant": name,
                           "values": values, "overrides": overrides})
    return points


def load_sweep(path, grid_arguments=()) -> tuple[dict, dict, dict | None]:
    """(base config values, grid, named variants) from a config file and ``--grid`` arguments."""
    values = read_config_file(path)
    section = values.pop("sweep", None) or {}
    unknown = set(section) - {"grid", "variants"}
    if unknown:
        raise ConfigError(f"sweep: unknown key(s) {', '.join(sorted(unknown))}; known: grid, variants")
    grid = {k: list(v) for k, v in (section.get("grid") or {}).items()}
    grid.update(parse_grid(grid_arguments))
    variants = section.get("variants")
    if not grid and not variants:
        raise ConfigError("nothing to sweep: give --grid key=v1,v2,... or a `sweep:` section in the config")
    return values, grid, variants


def run_sweep(path, grid_arguments, overrides, out, make_runner, log=None) -> list[dict]:
    """Run every point (cached stages are shared) and write ``sweep.json``: one row per point.

    ``make_runner(config, folder)`` builds the :class:`Runner` of one point.
    """
    base, grid, variants = load_sweep(path, grid_arguments)
    points = sweep_points(grid, variants)
    for point in points:                 # every point's config is checked before the first one runs
        # the swept values win over --set, which applies to every point
        point["config"] = build_config(base, list(overrides) + list(point["overrides"]))
        point["config"].name = f"{point['config'].name}/{point['folder']}"     # the point's own name in reports
    out = Path(out)
    rows = []
    for i, point in enumerate(points, 1):
        (log or logging.getLogger(__name__).info)(f"[{i}/{len(points)}] {point['label']}")
        summary = make_runner(point["config"], out / point["folder"]).run()
        rows.append({
            "label": point["label"], "variant": point["variant"], "values": point["values"],
            "folder": point["folder"], "dims": summary["dimension"],
            **{k: summary[k] for k in ("mean_class_accuracy", "mean_class_accuracy_std", "top1_error",
                                       "top5_error", "n_splits", "n_train", "n_test", "wall_seconds",
                                       "compute_seconds")}})
    save_json(out / "sweep.json", {"grid": grid, "variants": variants, "overrides": list(overrides), "rows": rows})
    return rows

