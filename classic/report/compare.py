"""``classic report``: run folders -> one comparison table (Markdown, CSV, LaTeX, JSON) beside the
published reference rows, and the ILSVRC trajectory figure with our ImageNet results placed on it."""
from __future__ import annotations

from pathlib import Path

from ..io import save_text
from .figures import trajectory_figure
from .references import benchmark_of, references
from ..experiment.run_folder import load_run
from .tables import FORMATS, comparison_tables

# where an ImageNet result of ours sits on the ILSVRC time line: the year its test data was released
_BENCHMARK_YEAR = {"ilsvrc2010-test": 2010, "imagenet1k-val": 2012}


def write_comparison(run_folders, out, formats=tuple(FORMATS), with_references: bool = True):
    """Write ``comparison.<format>`` and ``trajectory.{png,svg}`` into ``out``; returns (markdown, paths)."""
    out = Path(out)
    runs = [load_run(folder) for folder in run_folders]
    tables = comparison_tables(runs, with_references)
    ours = [(f"classic ({run['config']['name']})", _BENCHMARK_YEAR[benchmark_of(run["config"])],
             100 * run["metrics"]["top5_error"]) for run in runs if benchmark_of(run["config"]) in _BENCHMARK_YEAR]
    written = trajectory_figure(references("ilsvrc-test"), out / "trajectory", ours)
    markdown = FORMATS["md"](tables) + "\n![ILSVRC top-5 error, 2010-2017](trajectory.png)\n"
    for name in formats:
        text = markdown if name == "md" else FORMATS[name](tables)
        written.append(save_text(out / f"comparison.{name}", text))
    return markdown, written
