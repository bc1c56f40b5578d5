"""Comparison tables: our run folders beside the published reference rows, as Markdown, CSV, LaTeX
and JSON."""
from __future__ import annotations


METRIC_LABELS = {"mean_class_accuracy": "mean class acc. (%)", "top1_error": "top-1 err. (%)",
                 "top5_error": "top-5 err. (%)"}
DATA_MARKS = {"ours": "", "same split": "=", "same protocol": "†", "same test set": "", "other test set": "‡"}
DATA_LEGEND = {"=": "the same train/test images as a split of our run (split digests compared)",
               "†": "same protocol, other random splits",
               "‡": "another test set (that year's ILSVRC test set)"}


def _channels(config: dict) -> list[tuple[dict, dict]]:
    """(features, encoder) of each descriptor channel of a config dict (one for a single-channel config)."""
    if isinstance(config["features"], list):
        return [(c, c["encoder"]) for c in config["features"]]
    return [(config["features"], config["encoder"])]


def _descriptor_text(f: dict, e: dict) -> str:
    kind = f.get("kind", "dsift")
    sizes = "/".join(map(str, f["bin_sizes"]))
    text = {"dsift": f"dense SIFT {sizes} step {f['step']}" + (", RootSIFT" if f.get("rootsift") else ""),
            "opponent_sift": f"dense opponent SIFT {sizes} step {f['step']}" + (", RootSIFT" if f.get("rootsift") else ""),
            "colour": f"local colour statistics {sizes} step {f['step']}",
            "hog": f"dense HOG ({'UoCTTI 2x2 cells' if f.get('hog_variant', 'uoctti') == 'uoctti' else 'Dalal-Triggs blocks'})"
                   f" cells {sizes}",
            "lbp": f"dense LBP (2x2 cells of 59-bin histograms) cells {sizes}"}[kind]
    return text + (f", PCA {e['pca_dims']}" if e.get("pca_dims") else "")


def features_text(config: dict) -> str:
    """The descriptors of a run's config (a dict), as a table cell: "dense SIFT 4/6/8/10 step 3, RootSIFT, PCA 80"
    (the channels joined by " + " for a multi-channel config)."""
    return " + ".join(_descriptor_text(f, e) for f, e in _channels(config))


def _encoding_text(e: dict) -> str:
    kind = e.get("kind", "fisher")
    pyramid = " + ".join(f"{a}x{b}" for a, b in e["pyramid"])
    name = {"fisher": "improved FV" if e.get("improved", True) else "FV", "vlad": "VLAD",
            "supervector": f"super-vector ({e.get('assignment', 'hard')}, s = {e.get('frequency_weight', 0.1):g})",
            "llc": f"LLC (k = {e.get('n_nearest', 5)}, max pooling)",
            "bow": f"{e.get('assignment', 'hard')} BoW" + (f" + {e.get('kernel_map')} map"
                                                          if e.get("kernel_map", "chi2") != "linear" else "")}[kind]
    store = f", PQ store ({e.get('pq_subvector_dims', 8)} dims/byte)" if e.get("store_dtype") == "pq" else ""
    return f"{name}, K = {e['n_components']}, {pyramid}{store}"


def encoding_text(config: dict) -> str:
    """The encoding of a run's config (a dict), as a table cell: "improved FV, K = 256, 1x1 + 2x2 + 1x3"
    (for several channels: each channel's, and how they are fused)."""
    texts = [_encoding_text(e) for _, e in _channels(config)]
    if len(texts) == 1:
        return texts[0]
    method = config.get("fusion", {}).get("method", "late")
    each = texts[0] + " (each channel)" if len(set(texts)) == 1 else " | ".join(texts)
    return f"{each}; {method} fusion of {len(texts)} channels"


def _hardware(manifest: dict) -> str:
    hw = manifest.get("hardware")
    if not hw:
        return manifest.get("platform", "")
    text = f"{hw['cpu_count']}-core {hw['cpu']}"
    return text + (f", {hw['gpu']}" if hw.get("gpu") else "")


def run_row(run: dict) -> dict:
    """One table row for one of our run folders (see :func:`classic.experiment.run_folder.load_run`)."""
    m, config = run["metrics"], run["config"]
    # the cost from an empty cache; unknown when a cached stage predates the recording of its time
    seconds = m.get("compute_seconds")
    fusion = m.get("fusion")
    splits = ", ".join(s["split"] for s in m["splits"])
    return {
        "kind": "ours", "method": f"classic ({config['name']})", "year": None,
        "features": features_text(config) + (f" + late fusion of {len(fusion['members'])} runs" if fusion else ""),
        "encoding": encoding_text(config) + {"sgd": ", SGD SVM", "asgd": ", ASGD SVM", "dcd": ", DCD SVM"}.get(config.get("svm", {}).get("solver"), ""),
        "dims": m.get("dimension"),
        **{k: 100 * m[k] for k in METRIC_LABELS},
        **{f"{k}_std": 100 * m[f"{k}_std"] if m["n_splits"] > 1 else None for k in METRIC_LABELS},
        "n_splits": m["n_splits"], "train_images": m["n_train"], "test_images": m["n_test"],
        "time_seconds": seconds, "hardware": _hardware(run["manifest"]), "data": "ours",
        "source": (f"this work: `classic fuse {' '.join(fusion['members'])} --out {run['path']}`" if fusion
                   else f"this work: `classic run {run['path'] / 'config.yaml'}`") + f" (splits: {splits})", "note": "",
    }


def reference_row(entry: dict, digests=frozenset()) -> dict:
    """One table row for a published reference result (an entry of ``references.yaml``); a "same split"
    entry stays one only when its split digest is among ``digests`` (the split digests of the table's
    runs), else it is "same protocol"."""
    same_data = entry["same_data"]
    if same_data == "same split" and entry.get("split_digest") not in digests:
        same_data = "same protocol"
    return {"kind": "reference", "method": entry["method"], "year": entry["year"], "features": "", "encoding": "",
            "dims": None, **{k: entry["metrics"].get(k) for k in METRIC_LABELS},
            **{f"{k}_std": None for k in METRIC_LABELS}, "n_splits": None, "train_images": None,
            "test_images": None, "time_seconds": None, "hardware": "", "data": same_data,
            "source": entry["source"] + (f" ({entry['url']})" if entry.get("url") else ""),
            "note": entry.get("note", ""), "era": entry["era"]}


def _flat(config: dict, prefix: str = "") -> dict:
    """A config as {dotted key: value} (lists stay whole)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _named_apart(rows: list[dict], runs: list[dict]) -> None:
    """Rows of runs of one config name get the settings that tell them apart in their method name
    (``classic (caltech101_quick; svm.C = 1)``), so that no two rows read the same."""
    groups: dict = {}
    for row, run in zip(rows, runs):
        groups.setdefault(run["config"]["name"], []).append((row, _flat(run["config"])))
    for name, members in groups.items():
        if len(members) < 2:
            continue
        keys = sorted({k for _, flat in members for k in flat} - {"name"})
        differing = [k for k in keys if len({repr(flat.get(k)) for _, flat in members}) > 1]
        for row, flat in members:
            if differing:
                row["method"] = f"classic ({name}; " + ", ".join(f"{k} = {flat.get(k)}" for k in differing) + ")"


def comparison_tables(runs: list[dict], with_references: bool = True) -> list[dict]:
    """One table per benchmark: our rows (in the given order; in a table, runs of one config name told
    apart by the settings that differ) and the matching reference rows."""
    from .references import BENCHMARKS, benchmark_of, references
    grouped: dict = {}
    for run in runs:
        grouped.setdefault(benchmark_of(run["config"]), []).append(run)
    tables: dict = {}
    for benchmark, members in grouped.items():
        tables[benchmark] = [run_row(run) for run in members]
        _named_apart(tables[benchmark], members)
    out = []
    for benchmark, rows in tables.items():
        digests = {s.get("split_digest") for run in grouped[benchmark] for s in run["metrics"]["splits"]} - {None}
        refs = [reference_row(e, digests) for e in references(benchmark)] if with_references and benchmark else []
        metrics = [k for k in METRIC_LABELS if any(r[k] is not None for r in rows + refs)]
        title = BENCHMARKS.get(benchmark, "runs without published reference results")
        out.append({"benchmark": benchmark, "title": title, "metrics": metrics, "rows": rows + refs})
    return out


def _value(row, key) -> str:
    if row[key] is None:
        return ""
    std = row.get(f"{key}_std")
    return f"{row[key]:.2f}" + (f" ± {std:.2f}" if std is not None else "")


def _time(seconds) -> str:
    if seconds is None:
        return ""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _display(row, table) -> dict:
    """The printed cells of a row, in column order."""
    mark = DATA_MARKS[row["data"]]
    method = row["method"] + (f" ({row['year']})" if row["year"] else "")
    cells = {"method": method + (f" {mark}" if mark else ""), "encoding": row["encoding"],
             "features": row["features"], "dims": f"{row['dims']:,}" if row["dims"] else ""}
    cells.update({METRIC_LABELS[k]: _value(row, k) for k in table["metrics"]})
    cells.update({"train images": f"{row['train_images']:,}" if row["train_images"] else "",
                  "time": _time(row["time_seconds"]), "hardware": row["hardware"]})
    return cells


def to_markdown(tables: list[dict]) -> str:
    """The tables as Markdown, each with its legend and every row's source."""
    lines = []
    for table in tables:
        lines += [f"### {table['title']}", ""]
        displayed = [_display(r, table) for r in table["rows"]]
        header = list(displayed[0])
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---:" if h in METRIC_LABELS.values() or h in ("dims", "train images") else "---"
                                    for h in header) + "|")
        lines += ["| " + " | ".join(cells[h] for h in header) + " |" for cells in displayed]
        lines += ["", *_legend_lines(table, "- "), ""]
    return "\n".join(lines)


def _legend_lines(table, bullet) -> list[str]:
    marks = sorted({DATA_MARKS[r["data"]] for r in table["rows"]} - {""})
    lines = [f"{bullet}{m} {DATA_LEGEND[m]}" for m in marks]
    lines += [f"{bullet}{r['method']}: {r['source']}" + (f"; {r['note']}" if r["note"] else "") for r in table["rows"]]
    return lines


def to_csv(tables: list[dict]) -> str:
    """The tables as one CSV, a row per result, numbers as numbers."""
    import csv
    import io
    fields = ["benchmark", "kind", "method", "year", "features", "encoding", "dims", *METRIC_LABELS,
              *(f"{k}_std" for k in METRIC_LABELS), "n_splits", "train_images", "test_images", "time_seconds",
              "hardware", "data", "note", "source"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for table in tables:
        for row in table["rows"]:
            writer.writerow({**row, "benchmark": table["benchmark"] or ""})
    return buffer.getvalue()


def to_json(tables: list[dict]) -> str:
    """The tables as strict JSON."""
    from ..io import json_text
    return json_text(tables)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "†": r"$^\dagger$", "‡": r"$^\ddagger$", "×": r"$\times$", "`": ""}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (and ±, †, ‡, × as math)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(tables: list[dict]) -> str:
    """booktabs tables, ready to ``\\input``: each row's source as a numbered note under the table."""
    out = []
    for table in tables:
        displayed = [_display(r, table) for r in table["rows"]]
        header = [h for h in displayed[0] if h not in ("features", "hardware")]
        align = "".join("r" if h in METRIC_LABELS.values() or h in ("dims", "train images", "time") else "l"
                        for h in header)
        out += [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
                " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
        previous = None
        for i, (row, cells) in enumerate(zip(table["rows"], displayed), 1):
            if previous == "ours" and row["kind"] == "reference":
                out.append(r"\midrule")
            previous = row["kind"]
            cells = {**cells, "method": latex_escape(cells["method"]) + rf"\textsuperscript{{{i}}}"}
            out.append(" & ".join(cells[h] if h == "method" else latex_escape(cells[h]) for h in header) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(table['title'])}.}}",
                rf"\label{{tab:classic-{latex_escape(table['benchmark'] or 'runs')}}}", r"\par\footnotesize"]
        marks = sorted({DATA_MARKS[r["data"]] for r in table["rows"]} - {""})
        out += [latex_escape(f"{m} {DATA_LEGEND[m]}.") + r"\\" for m in marks]
        out += [rf"\textsuperscript{{{i}}}" + latex_escape(line.split(": ", 1)[1]) + r"\\"
                for i, line in enumerate(_legend_lines({**table, "rows": table["rows"]}, "")[len(marks):], 1)]
        out += [r"\end{table}", ""]
    return "\n".join(out)


FORMATS = {"md": to_markdown, "csv": to_csv, "tex": to_latex, "json": to_json}
