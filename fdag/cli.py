"""The ``fdag`` command line: draw, check and catalog the features of modules, measure skew; run the demo."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from fdag._dag.dag import Dag
from fdag._observe.catalog import catalog_html, catalog_markdown, catalog_records
from fdag._observe.skew import skew
from fdag._version import __version__
from fdag.errors import FdagError


def _modules(names: Sequence[str]) -> list[ModuleType]:
    """The feature modules named on the command line: dotted names (importable from the working directory) or
    paths of ``.py`` files."""
    sys.path.insert(0, str(Path.cwd()))
    return [_from_file(Path(name)) if name.endswith(".py") else importlib.import_module(name) for name in names]


def _from_file(path: Path) -> ModuleType:
    """Load ``path`` as the module named by its file name, with its folder importable (as ``python path`` does)."""
    if not path.is_file():
        raise SystemExit(f"fdag: {path} is not a file. Hint: give the path of a .py file or a dotted module name.")
    path = path.resolve()
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) != str(path):
        raise SystemExit(f"fdag: {path} would be the module {name!r}, but a module of that name is already "
                         f"imported (from {getattr(loaded, '__file__', 'built-in')}). Hint: rename the file.")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a source loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # its sibling modules import as they do when it runs as a script
    sys.modules[name] = module  # before running it: dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


def _viz(args: argparse.Namespace) -> None:
    dag = Dag.from_modules(*_modules(args.modules))
    if args.output:
        print(dag.render(args.output, args.outputs))
    else:
        print(dag.to_dot(args.outputs), end="")


def _check(args: argparse.Namespace) -> None:
    from fdag._check.check import check  # here, not at the top: hypothesis is slow to import, only this needs it

    dag = Dag.from_modules(*_modules(args.modules))
    check(dag, args.outputs, examples=args.examples)
    print(f"ok: RowDriver and FrameDriver agree on {len(dag.plan(args.outputs).nodes)} nodes "
          f"over {args.examples} generated batches")


def _backfill(args: argparse.Namespace) -> None:
    from fdag._frame.driver import FrameDriver

    dag = Dag.from_modules(*_modules(args.modules))
    sources = _source_paths(args.source, "backfill")
    report = FrameDriver(dag, args.outputs).backfill(
        args.spine, sources, args.out, partition_by=args.partition_by, engine=args.engine,
        progress=not args.no_progress, workers=args.workers, overwrite=args.overwrite,
    )
    print(f"{report.partitions_written} partitions written, {report.partitions_skipped} skipped (up to date), "
          f"{report.rows} rows in {report.seconds:.1f} s -> {report.path}")
    for error in report.errors:
        print(f"fdag: feature error (value set to null): {error}", file=sys.stderr)


def _catalog(args: argparse.Namespace) -> None:
    dag = Dag.from_modules(*_modules(args.modules))
    if args.data is not None and args.format != "html":
        raise SystemExit("fdag catalog: --data needs --format html (data health is drawn on the HTML page)")
    if args.format == "html":
        text = catalog_html(dag, args.data, title=f"fdag catalog: {', '.join(args.modules)}")
    elif args.format == "json":
        text = json.dumps(catalog_records(dag), indent=2) + "\n"
    else:
        text = catalog_markdown(catalog_records(dag))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"catalog of {len(dag.nodes)} features -> {args.out}")
    else:
        print(text, end="")


def _skew(args: argparse.Namespace) -> None:
    dag = Dag.from_modules(*_modules(args.modules))
    report = skew(dag, args.log, sources=_source_paths(args.source, "skew"), outputs=args.outputs)
    print(report)
    if args.html:
        Path(args.html).write_text(report.to_html(), encoding="utf-8")
        print(f"report -> {args.html}")
    if not report.ok:
        raise SystemExit(1)


def _source_paths(items: Sequence[str], command: str) -> dict[str, str]:
    """``--source NAME=PATH`` arguments as source name -> path."""
    paths = {}
    for item in items:
        name, _, path = item.partition("=")
        if not name or not path:
            raise SystemExit(f"fdag {command}: --source takes NAME=PATH, got {item!r}")
        paths[name] = path
    return paths


def _demo(args: argparse.Namespace) -> None:
    from fdag.demo.run import main as demo  # here, not at the top: only this command needs it

    demo(Path(args.out))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fdag`` command."""
    parser = argparse.ArgumentParser(prog="fdag", description="Features as plain Python functions, "
                                     "served row-at-a-time and computed over Polars with identical results.")
    parser.add_argument("--version", action="version", version=f"fdag {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    viz = commands.add_parser("viz", help="draw the DAG of modules as DOT text or an image")
    viz.add_argument("modules", nargs="+", help="feature modules: dotted names (fdag.demo.payment) or .py paths")
    viz.add_argument("--outputs", nargs="*", help="only what these features need")
    viz.add_argument("-o", "--output", help="write an image (.svg, .png, .pdf) or .dot instead of printing DOT")
    viz.set_defaults(run=_viz)

    chk = commands.add_parser("check", help="prove RowDriver and FrameDriver agree on generated requests")
    chk.add_argument("modules", nargs="+")
    chk.add_argument("--outputs", nargs="*")
    chk.add_argument("--examples", type=int, default=200, help="generated batches to try (default 200)")
    chk.set_defaults(run=_check)

    fill = commands.add_parser("backfill", help="write features for a spine to partitioned Parquet, resumably")
    fill.add_argument("modules", nargs="+")
    fill.add_argument("--spine", required=True, help="Parquet path or glob of the spine (request inputs + as_of)")
    fill.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                      help="events of a source, as a Parquet path or glob (repeat for each source)")
    fill.add_argument("--out", required=True, help="folder of the partitioned dataset")
    fill.add_argument("--outputs", nargs="*")
    fill.add_argument("--partition-by", default="day", help="'day' (of as_of, the default) or a spine column")
    fill.add_argument("--engine", choices=["local", "ray"], default="local")
    fill.add_argument("--workers", type=int, default=None, help="Ray tasks per batch (default: CPUs)")
    fill.add_argument("--overwrite", action="store_true", help="recompute partitions even when up to date")
    fill.add_argument("--no-progress", action="store_true", help="no progress bar")
    fill.set_defaults(run=_backfill)

    cat = commands.add_parser("catalog", help="list every feature with its doc, type, version, tags, upstream")
    cat.add_argument("modules", nargs="+")
    cat.add_argument("--format", choices=["markdown", "json", "html"], default="markdown",
                     help="html: one self-contained page with search, lineage and the DAG drawn")
    cat.add_argument("--data", metavar="DIR", help="with --format html: a backfilled dataset whose null rates and "
                     "distributions to show")
    cat.add_argument("--out", metavar="FILE", help="write to FILE instead of printing")
    cat.set_defaults(run=_catalog)

    skw = commands.add_parser("skew", help="recompute logged requests offline and report training/serving skew "
                              "(exit status 1 when a served value differs)")
    skw.add_argument("modules", nargs="+")
    skw.add_argument("--log", required=True, metavar="DIR", help="folder a FeatureLog wrote")
    skw.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                     help="events of a source, as a Parquet path or glob (repeat for each source)")
    skw.add_argument("--outputs", nargs="*", help="only these logged features (default: all)")
    skw.add_argument("--html", metavar="FILE", help="also write the report as a self-contained HTML page")
    skw.set_defaults(run=_skew)

    demo = commands.add_parser("demo", help="run the example features both ways and show they agree")
    demo.add_argument("--out", default="out", help="folder for the DOT/SVG and Parquet files (default out/)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fdag`` command; fdag errors print as one clear message and exit 1."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except FdagError as exc:
        print(f"fdag: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
