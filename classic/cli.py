"""The ``classic`` command: run experiments and sweeps, report on them, classify and explain images, list and
download datasets."""
from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from .backend import BackendUnavailable
from .data import KNOWN_DATASETS, DatasetError, DatasetNotFound, cache_root, data_root
from .data.synsets import readable_name
from .data.download import DOWNLOADS, DownloadError, download_dataset, md5sum
from .io import InsufficientSpace


def run_name(config) -> str:
    """A run's default folder name: the config's, and for a folder dataset the tree's name too (its
    parent's when the tree is a ``train`` folder), so that runs on other data do not take the config's folder.

    >>> from classic.experiment.config import build_config
    >>> run_name(build_config({"name": "quick", "data": {"dataset": "folder", "root": "photos/train"}}))
    'quick_photos'
    """
    d = config.data
    if d.dataset != "folder":
        return config.name
    tree = Path(d.root).absolute()
    return f"{config.name}_{tree.parent.name if tree.name.lower() in ('train', 'training') else tree.name}"


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """The ``classic`` loggers' messages on stderr, bare: INFO (stages, results, progress lines) by
    default, DEBUG with ``verbose``, WARNING with ``quiet``.  Results go to stdout with ``print``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("classic")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def _cmd_run(args) -> int:
    from .experiment import Runner, load_config
    from .experiment.config import ConfigError
    try:
        config = load_config(args.config, _backend_overrides(args))
    except ConfigError as exc:
        print(f"classic run: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("runs") / run_name(config)
    try:
        runner = Runner(config, data_root(args.data_root), cache_root(), out, progress=not args.quiet)
        summary = runner.run()
    except (DatasetNotFound, DatasetError, BackendUnavailable, ConfigError) as exc:
        print(f"classic run: {exc}", file=sys.stderr)
        return 2
    except InsufficientSpace as exc:
        print(f"classic run: {exc}", file=sys.stderr)
        return 1
    from .report.render import render_run, terminal_text
    print()
    print(terminal_text(render_run(out).read_text(), out))
    print(f"run folder: {out}  (metrics.json, report.md, config.yaml, manifest.json)")
    skipped = len(runner.skipped)
    if skipped:
        print(f"{skipped} file(s) skipped; reasons in {out / 'manifest.json'}")
    return 0 if summary else 1


def _cmd_sweep(args) -> int:
    from .experiment import Runner
    from .experiment.config import ConfigError
    from .experiment.sweep import run_sweep
    overrides = _backend_overrides(args)
    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.config).stem}_sweep"

    def make_runner(config, folder):
        return Runner(config, data_root(args.data_root), cache_root(), folder, progress=not args.quiet)
    try:
        run_sweep(args.config, args.grid or [], overrides, out, make_runner)
    except (DatasetNotFound, DatasetError, BackendUnavailable, ConfigError) as exc:
        print(f"classic sweep: {exc}", file=sys.stderr)
        return 2
    except InsufficientSpace as exc:
        print(f"classic sweep: {exc}", file=sys.stderr)
        return 1
    from .report.render import render_sweep, terminal_text
    print()
    print(terminal_text(render_sweep(out).read_text(), out))
    print(f"sweep folder: {out}  (sweep.md, sweep.csv, sweep.json, sweep.png; one run folder per point)")
    return 0


def _backend_overrides(args) -> list[str]:
    overrides = list(args.set or [])
    if args.device:
        overrides.append(f"backend={'cupy' if args.device == 'cuda' else 'numpy'}")
    if args.n_jobs is not None:
        overrides.append(f"run.n_jobs={args.n_jobs}")
    if args.cluster:
        overrides.append(f"run.cluster={args.cluster}")
    return overrides


def _cmd_estimate(args) -> int:
    import shutil

    from .experiment import load_config
    from .io import save_json
    from .experiment.config import ConfigError, channel_configs
    from .experiment.estimate import estimate
    try:
        config = load_config(args.config, list(args.set or []))
        workers = tuple(int(w) for w in args.workers.split(",")) if re.fullmatch(r"[1-9]\d*(,[1-9]\d*)*",
                                                                                  args.workers) else None
        if workers is None:
            raise ConfigError(f"--workers {args.workers!r}: expected machine counts >= 1, comma-separated (e.g. 1,4,16)")
        # a multi-channel config: each channel as its own single-channel run (the fusion stage is not estimated)
        targets = channel_configs(config) or [(None, config)]
        results = {name: estimate(single, data_root(args.data_root), args.n_images,
                                  Path(args.images) if args.images else None, workers,
                                  Path(args.gpu_results) if args.gpu_results else None) for name, single in targets}
    except (ConfigError, DatasetNotFound, DatasetError, ValueError) as exc:
        print(f"classic estimate: {exc}", file=sys.stderr)
        return 2
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    for (name, single), result in zip(targets, results.values()):
        result["disk_free_gib"] = shutil.disk_usage(cache).free / 2 ** 30
        if name is not None:
            print(f"\n== channel {name} ==")
        _print_estimate(single, result, cache)
    if len(targets) > 1:       # the channels' stages add up (a streaming SVM on the concatenation costs their sum)
        print(f"\n== all {len(targets)} channels ==")
        rows = next(iter(results.values()))["projection_hours"]
        for where in rows:
            total = sum(r["projection_hours"][where]["total"] for r in results.values())
            print(f"{where:<28}{total:>12.2f} hours")
        print(f"feature stores: {sum(r['store_gib'] for r in results.values()):,.1f} GiB")
    if args.json:
        save_json(args.json, results[None] if None in results else results)
    return 0


def _print_estimate(config, result: dict, cache: Path) -> None:
    m = result["measured"]
    print(f"{config.name}: {result['dataset']}, {result['n_train']:,} train + {result['n_test']:,} test images, "
          f"{result['n_classes']} classes, {result['dimension']:,} dims")
    print(f"measured on {m['images']} images, one thread: decode + descriptors "
          f"{1000 * m['seconds_per_image_decode_and_descriptors']:.0f} ms/image ({m['descriptors_per_image']:,.0f} "
          f"descriptors), encoding {1000 * m['seconds_per_image_encode']:.0f} ms/image, vocabulary "
          f"{m['vocabulary_seconds_per_iteration']:.1f} s/iteration, matmul {m['matmul_gflops_per_thread']:.0f} GFLOP/s"
          + (f", PQ codebooks {m['seconds_pq_fit']:,.0f} s + {1000 * m['seconds_per_image_pq']:.1f} ms/image (in the "
             f"encoding)" if "seconds_pq_fit" in m else ""))
    stages = list(next(iter(result["projection_hours"].values())))
    print(f"\n{'projection (hours)':<28}" + "".join(f"{name:>12}" for name in stages))
    for where, hours in result["projection_hours"].items():
        print(f"{where:<28}" + "".join(f"{hours.get(name, float('nan')):>12.2f}" for name in stages))
    print(f"\nfeature store: {result['store_gib']:,.1f} GiB ({config.encoder.store_dtype}); free under {cache}: "
          f"{result['disk_free_gib']:,.1f} GiB" + ("  ** does not fit: " + ("" if config.encoder.store_dtype == "pq"
                                                  else "set encoder.store_dtype=pq, ") + "reduce K or the "
                                                  "pyramid, or take a subset (data.n_classes, data.n_train) **"
                                                  if result["store_gib"] > result["disk_free_gib"] else ""))
    print("memory: " + ", ".join(f"{k} {v:.1f}" for k, v in result["memory"].items()))


def _cmd_fuse(args) -> int:
    from .experiment.fusion import FusionError, fuse_runs
    try:
        weights = [float(w) for w in args.weights.split(",")] if args.weights else None
        summary = fuse_runs(args.runs, args.out, weights)
    except (FusionError, FileNotFoundError) as exc:
        print(f"classic fuse: {exc}", file=sys.stderr)
        return 2
    except InsufficientSpace as exc:
        print(f"classic fuse: {exc}", file=sys.stderr)
        return 1
    from .report.render import render_run, terminal_text
    print(terminal_text(render_run(args.out).read_text(), args.out))
    print(f"run folder: {args.out}")
    return 0 if summary else 1


def _cmd_report(args) -> int:
    from .report.compare import write_comparison
    from .experiment.run_folder import RunNotFound
    from .report.tables import FORMATS
    formats = list(FORMATS) if args.format == "all" else args.format.split(",")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        print(f"classic report: unknown format(s) {', '.join(unknown)}; use {', '.join(FORMATS)} or all", file=sys.stderr)
        return 2
    try:
        markdown, written = write_comparison(args.runs, args.out, formats, not args.no_references)
    except RunNotFound as exc:
        print(f"classic report: {exc}", file=sys.stderr)
        return 2
    print(markdown)
    print(f"written: {', '.join(map(str, written))}")
    return 0


def _figure_name(image: Path) -> str:
    """An explained image's figure name: its folder and stem (``airplanes/image_0001.jpg`` ->
    ``airplanes_image_0001``), so that the same file name in two class folders gives two figures."""
    image = image.absolute()
    return f"{image.parent.name}_{image.stem}" if image.parent.name else image.stem


def _cmd_explain(args) -> int:
    from .data import ImageError
    from .report.explain import explain
    from .experiment.run_folder import RunNotFound
    from .experiment.trained import TrainedPipeline
    image = Path(args.image)
    if not image.is_file():
        print(f"classic explain: no such image file: {image}", file=sys.stderr)
        return 2
    if args.descriptor != "sift" and args.run:
        print(f"classic explain: --descriptor {args.descriptor} draws the descriptor alone; --run explains a "
              "trained pipeline (SIFT panels): give one of the two", file=sys.stderr)
        return 2
    try:
        if args.descriptor != "sift":
            from .report.explain_descriptors import explain_hog, explain_lbp
            base = Path(args.out) if args.out else Path("explain") / f"{_figure_name(image)}_{args.descriptor}"
            written = (explain_hog if args.descriptor == "hog" else explain_lbp)(image, base)
        else:
            pipeline = TrainedPipeline(args.run) if args.run else None
            base = Path(args.out) if args.out else (Path(args.run) if args.run else Path(".")) / "explain" / _figure_name(image)
            written = explain(image, base, pipeline)
    except (RunNotFound, ImageError) as exc:
        print(f"classic explain: {exc}", file=sys.stderr)
        return 2
    if args.run:
        from .experiment.model import training_image
        from .experiment.predict import predict_images, top_classes
        predicted = predict_images(args.run, [image], n_jobs=1, progress=False)
        best = top_classes(predicted["scores"], predicted["classes"], 5)[0]
        print(f"{image}: " + ", ".join(f"{readable_name(name)} {score:.3f}" for name, score in best))
        trained_on = training_image(pipeline.info, image)
        if trained_on:
            print(f"warning: {image} is a training image of this model ({trained_on}): its scores show what the SVMs "
                  f"fitted, not how they generalise", file=sys.stderr)
    print(f"written: {', '.join(map(str, written))}")
    return 0


def _cmd_predict(args) -> int:
    from .experiment.predict import image_files, predict_images, top_classes, write_predictions
    from .experiment.run_folder import RunNotFound
    if args.top < 1:
        print(f"classic predict: --top {args.top}: give at least 1", file=sys.stderr)
        return 2
    try:
        files = image_files(args.images)
        if not files:
            raise FileNotFoundError(f"no files in {', '.join(args.images)}")
        predicted = predict_images(args.run, files, backend="cupy" if args.device == "cuda" else "numpy",
                                   n_jobs=args.n_jobs if args.n_jobs is not None else -1, progress=not args.quiet)
    except (RunNotFound, FileNotFoundError, BackendUnavailable) as exc:
        print(f"classic predict: {exc}", file=sys.stderr)
        return 2
    for path, best in zip(predicted["files"], top_classes(predicted["scores"], predicted["classes"], 1)):
        print(f"{path}\t{readable_name(best[0][0])}\t{best[0][1]:.4f}")
    for e in predicted["errors"]:
        print(f"skipped {e['reason']}", file=sys.stderr)
    if args.out:
        write_predictions(args.out, predicted, args.top)
        print(f"predictions (top {min(args.top, len(predicted['classes']))}): {args.out}")
    n, bad = len(predicted["files"]), len(predicted["errors"])
    print(f"{n} image(s) classified" + (f", {bad} file(s) skipped (not readable images)" if bad else ""),
          file=sys.stderr)
    return 0 if n else 1


def _cmd_datasets(args) -> int:
    root = data_root(args.data_root)
    print(f"data root: {root}  (--data-root, else $CLASSIC_DATA, else $CLASSIC_CACHE/datasets)")
    print(f"{'dataset':<15} {'status':<9} {'expected at / source':<60} how to get it")
    for name, (where, how) in KNOWN_DATASETS.items():
        if where is None:
            status, place = "bundled" if name == "digits" else "-", ""
        else:
            status, place = ("present" if (root / where).is_dir() else "missing"), str(root / where)
        print(f"{name:<15} {status:<9} {place:<60} {how}")
    return 0


def _cmd_download(args) -> int:
    root = data_root(args.data_root)
    try:
        folder = download_dataset(args.name, root, cache_root() / "downloads", progress=not args.quiet)
    except DownloadError as exc:
        print(f"classic download: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name} ready at {folder}")
    spec = DOWNLOADS[args.name]
    if spec.md5 is None and spec.inner_md5 is None:
        print(f"no published MD5 to check against; what arrived has MD5 "
              f"{md5sum(cache_root() / 'downloads' / spec.filename)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``classic`` command's argument parser (its subcommands and options)."""
    from . import __version__
    parser = argparse.ArgumentParser(prog="classic", description=__doc__)
    parser.add_argument("--version", action="version", version=f"classic {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # what every command takes: how much it tells on stderr while it works
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true",
                        help="also log every EM and k-means iteration, and debugging details")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")

    run = sub.add_parser("run", parents=[common], help="run an experiment config (YAML)")
    sweep = sub.add_parser("sweep", parents=[common], help="run a config over a grid of values / named variants: one table, one figure")
    for command in (run, sweep):
        command.add_argument("config")
        command.add_argument("--data-root", help="folder holding the datasets (default: $CLASSIC_DATA or cache/datasets)")
        command.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. svm.C=3")
        command.add_argument("--device", choices=["cpu", "cuda"], help="array backend: cpu (numpy) or cuda (cupy)")
        command.add_argument("--n-jobs", type=int, help="worker processes (default: all cores)")
        command.add_argument("--cluster", help="Dask: local:N for a LocalCluster of N workers, or tcp://host:8786")
    run.add_argument("--out", help="run folder (default: runs/<config name>)")
    run.set_defaults(func=_cmd_run)
    sweep.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                       help="values of one config key; several --grid make a product grid")
    sweep.add_argument("--out", help="sweep folder (default: runs/<config name>_sweep)")
    sweep.set_defaults(func=_cmd_sweep)

    estimate = sub.add_parser("estimate", parents=[common], help="project a run's time, memory and disk from a measured sample")
    estimate.add_argument("config")
    estimate.add_argument("--data-root")
    estimate.add_argument("--set", action="append", metavar="KEY=VALUE")
    estimate.add_argument("--images", help="sample images standing in for a dataset that is not here (e.g. ImageNet)")
    estimate.add_argument("--n-images", type=int, default=16, help="images to time (default 16)")
    estimate.add_argument("--workers", default="1,4,16", help="machines to project for (default 1,4,16)")
    estimate.add_argument("--gpu-results", help="the GPU check's JSON, for a one-GPU projection")
    estimate.add_argument("--json", help="also write the estimate as JSON")
    estimate.set_defaults(func=_cmd_estimate)

    fuse = sub.add_parser("fuse", parents=[common], help="late fusion: average the test scores of runs on the same splits")
    fuse.add_argument("runs", nargs="+", metavar="RUN")
    fuse.add_argument("--weights", help="comma-separated, one per run (default: equal)")
    fuse.add_argument("--out", required=True, help="the fused run folder")
    fuse.set_defaults(func=_cmd_fuse)

    report = sub.add_parser("report", parents=[common], help="one comparison table from run folders, beside published reference rows")
    report.add_argument("runs", nargs="+", metavar="RUN", help="run folders (written by `classic run`)")
    report.add_argument("--format", default="all", help="md, csv, tex, json (comma-separated) or all (default)")
    report.add_argument("--out", default="reports", help="folder for comparison.{md,csv,tex,json} (default: reports)")
    report.add_argument("--no-references", action="store_true", help="our rows only")
    report.set_defaults(func=_cmd_report)

    explain = sub.add_parser("explain", parents=[common], help="a teaching figure of one image through a trained pipeline")
    explain.add_argument("image", help="any image file, from the dataset or not")
    explain.add_argument("--run", help="a run folder whose trained pipeline to use (without: descriptor panels only)")
    explain.add_argument("--out", help="output path without suffix (default: RUN/explain/<image name>)")
    explain.add_argument("--descriptor", choices=("sift", "hog", "lbp"), default="sift",
                         help="sift: the pipeline figure; hog, lbp: how that descriptor is made (cells, block "
                              "normalisation; uniform patterns)")
    explain.set_defaults(func=_cmd_explain)

    predict = sub.add_parser("predict", parents=[common], help="classify image files with a run's trained model")
    predict.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files, or folders (searched recursively)")
    predict.add_argument("--run", required=True, help="the run folder whose model/ to use")
    predict.add_argument("--top", type=int, default=5, help="classes per image in the CSV (default 5)")
    predict.add_argument("--out", help="write path, top classes and scores as CSV")
    predict.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cpu (numpy) or cuda (cupy)")
    predict.add_argument("--n-jobs", type=int, help="worker processes on the CPU (default: all cores)")
    predict.set_defaults(func=_cmd_predict)

    datasets = sub.add_parser("datasets", parents=[common], help="list known datasets and whether they are present")
    datasets.add_argument("--data-root")
    datasets.set_defaults(func=_cmd_datasets)

    download = sub.add_parser("download", parents=[common], help="download, verify and extract a dataset")
    download.add_argument("name", choices=sorted(DOWNLOADS))
    download.add_argument("--data-root")
    download.set_defaults(func=_cmd_download)

    return parser


def main(argv=None) -> int:
    """The ``classic`` command line: parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit status."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        # finished stages and shards are in the cache, written atomically: the same command resumes
        print(f"\nclassic {args.command}: interrupted; the same command resumes from what was finished",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
