"""The ``fdag`` command line: draw, check and catalog the features of modules, measure skew; run the demo."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import socket
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from fdag._dag.dag import Dag
from fdag._observe.catalog import catalog_html, catalog_markdown, catalog_records
from fdag._observe.skew import skew
from fdag._version import __version__
from fdag.errors import CheckWarning, DeclarationError, FdagError, InputError, ModuleLoadError

T = TypeVar("T")


def _modules(names: Sequence[str]) -> list[ModuleType]:
    """The feature modules named on the command line: dotted names (importable from the working directory) or
    paths of ``.py`` files."""
    sys.path.insert(0, str(Path.cwd()))
    return [_from_file(name) if name.endswith(".py") else _import(name) for name in names]


def _import(name: str) -> ModuleType:
    """Import the dotted module ``name`` (a missing one, or one that fails to import, is a ``ModuleLoadError``)."""
    return _run_module(name, lambda: importlib.import_module(name))


def _from_file(given: str) -> ModuleType:
    """Load the file ``given`` as the module named by its file name, its folder importable (as ``python file`` does)."""
    path = Path(given)
    if not path.is_file():
        raise ModuleLoadError(given, "is not a file", "give the path of a .py file or a dotted module name")
    path = path.resolve()
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) != str(path):
        raise ModuleLoadError(given, f"would be the module {name!r}, but a module of that name is already imported "
                              f"(from {getattr(loaded, '__file__', 'built-in')})", "rename the file")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a source loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # its sibling modules import as they do when it runs as a script
    sys.modules[name] = module  # before running it: dataclasses and pickling look the module up by name
    try:
        _run_module(given, lambda: spec.loader.exec_module(module))  # type: ignore[union-attr]
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _run_module(name: str, load: Callable[[], T]) -> T:
    """Run ``load`` (which executes a feature module's code); what that code raises is a ``ModuleLoadError``."""
    try:
        return load()
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else "its source"
        raise ModuleLoadError(name, f"has a syntax error at {where}: {exc.msg}", "fix the code there") from None
    except ModuleNotFoundError as exc:
        if exc.name is None or not (name == exc.name or name.startswith(f"{exc.name}.")):
            raise _failed(name, exc) from None  # the module exists, but imports one that does not
        raise ModuleLoadError(name, "is not an importable module", "give a dotted name importable from the working "
                              "directory (e.g. fdag.demo.fraud) or the path of a .py file", exc) from None
    except FdagError:
        raise  # a declaration the module makes is wrong (a bad @fdag.window argument): its own message says how
    except Exception as exc:
        raise _failed(name, exc) from None


def _failed(name: str, exc: Exception) -> ModuleLoadError:
    """The error for a module whose code raised while it was imported."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return ModuleLoadError(name, f"raised {type(exc).__name__} while it was imported{where}: {exc}",
                           "fix the module; running it with python shows the whole traceback")


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
    with warnings.catch_warnings():  # each batch would warn: the summed failures are printed once, below
        warnings.simplefilter("ignore", CheckWarning)
        report = FrameDriver(dag, args.outputs).backfill(
            args.spine, sources, args.out, partition_by=args.partition_by, engine=args.engine,
            progress=not args.no_progress, workers=args.workers, overwrite=args.overwrite,
        )
    print(f"{report.partitions_written} partitions written, {report.partitions_skipped} skipped (up to date), "
          f"{report.rows} rows in {report.seconds:.1f} s -> {report.path}")
    for error in report.errors:
        print(f"fdag: feature error (value set to null): {error}", file=sys.stderr)
    for failed in (check for check in report.checks if not check.passed):
        print(f"fdag: check failed: {failed}", file=sys.stderr)


def _ingest(args: argparse.Namespace) -> None:
    from fdag._row.driver import RowDriver
    from fdag._stores.memory import MemoryStore
    from fdag._stores.redis import RedisStore
    from fdag._streams.redis import RedisStream
    from fdag._streams.service import final_line, run_until_stopped

    dag = Dag.from_modules(*_modules(args.modules))
    if args.store == "memory":
        store: MemoryStore | RedisStore = MemoryStore()
    elif args.store.startswith(("redis://", "rediss://", "unix://")):
        store = RedisStore(args.store, namespace=args.namespace)
    else:
        raise InputError("--store", f"is {args.store!r}, neither a Redis url nor 'memory'",
                         "pass e.g. --store redis://127.0.0.1:6379/0, or --store memory")
    row = RowDriver(dag, args.outputs, store=store)
    log = RedisStream(args.stream, args.stream_name)
    worker = row.consume(args.source, log, group=args.group, consumer=args.consumer, batch=args.batch,
                         claim_after=args.claim_after, max_deliveries=args.max_deliveries)
    print(final_line(run_until_stopped(worker, progress=args.progress)), flush=True)


def _catalog(args: argparse.Namespace) -> None:
    if args.data is not None and args.format != "html":
        raise DeclarationError("--data", args.data, "needs --format html",
                               "add --format html (data health is drawn on the HTML page)")
    dag = Dag.from_modules(*_modules(args.modules))
    if args.format == "html":
        text = catalog_html(dag, args.data, title=f"fdag catalog: {', '.join(args.modules)}", outputs=args.outputs)
    elif args.format == "json":
        text = json.dumps(catalog_records(dag, args.outputs), indent=2) + "\n"
    else:
        text = catalog_markdown(catalog_records(dag, args.outputs))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"catalog of {len(dag.nodes)} features -> {args.out}")
    else:
        print(text, end="")


def _skew(args: argparse.Namespace) -> int:
    dag = Dag.from_modules(*_modules(args.modules))
    report = skew(dag, args.log, sources=_source_paths(args.source, "skew"), outputs=args.outputs)
    print(report)
    if args.html:
        Path(args.html).write_text(report.to_html(), encoding="utf-8")
        print(f"report -> {args.html}")
    return 0 if report.ok else 1


def _source_paths(items: Sequence[str], command: str) -> dict[str, str]:
    """``--source NAME=PATH`` arguments as source name -> path."""
    paths = {}
    for item in items:
        name, _, path = item.partition("=")
        if not name or not path:
            raise DeclarationError("--source", item, "is not NAME=PATH",
                                   f"write e.g. fdag {command} ... --source transactions=events.parquet")
        paths[name] = path
    return paths


def _demo(args: argparse.Namespace) -> None:
    from fdag.demo.run import main as demo  # here, not at the top: only this command needs it

    demo(Path(args.out))


def _outputs_option(command: argparse.ArgumentParser, help: str) -> None:
    """``--outputs a,b`` (or ``--outputs a --outputs b``): one value each time, so ``--outputs a MODULE`` parses."""
    command.add_argument("--outputs", action="extend", type=lambda text: [n for n in text.split(",") if n],
                         metavar="NAME[,NAME...]", help=f"{help}; repeat or separate names with commas")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fdag`` command."""
    parser = argparse.ArgumentParser(prog="fdag", description="Features as plain Python functions, "
                                     "served row-at-a-time and computed over Polars with identical results.")
    parser.add_argument("--version", action="version", version=f"fdag {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show the traceback of an unexpected error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    viz = commands.add_parser("viz", help="draw the DAG of modules as DOT text or an image")
    viz.add_argument("modules", nargs="+", help="feature modules: dotted names (fdag.demo.payment) or .py paths")
    _outputs_option(viz, "only what these features need")
    viz.add_argument("-o", "--output", help="write an image (.svg, .png, .pdf) or .dot instead of printing DOT")
    viz.set_defaults(run=_viz)

    chk = commands.add_parser("check", help="prove RowDriver and FrameDriver agree on generated requests")
    chk.add_argument("modules", nargs="+")
    _outputs_option(chk, "only what these features need")
    chk.add_argument("--examples", type=int, default=200, help="generated batches to try (default 200)")
    chk.set_defaults(run=_check)

    fill = commands.add_parser("backfill", help="write features for a spine to partitioned Parquet, resumably")
    fill.add_argument("modules", nargs="+")
    fill.add_argument("--spine", required=True, help="Parquet path or glob of the spine (request inputs + as_of)")
    fill.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                      help="events of a source, as a Parquet path or glob (repeat for each source)")
    fill.add_argument("--out", required=True, help="folder of the partitioned dataset")
    _outputs_option(fill, "the features to write (default: every feature)")
    fill.add_argument("--partition-by", default="day", help="'day' (of as_of, the default) or a spine column")
    fill.add_argument("--engine", choices=["local", "ray"], default="local")
    fill.add_argument("--workers", type=int, default=None, help="Ray tasks per batch (default: CPUs)")
    fill.add_argument("--overwrite", action="store_true", help="recompute partitions even when up to date")
    fill.add_argument("--no-progress", action="store_true", help="no progress bar")
    fill.set_defaults(run=_backfill)

    ing = commands.add_parser("ingest", help="feed a source's events from a Redis stream into a store, until stopped")
    ing.add_argument("modules", nargs="+")
    ing.add_argument("--source", required=True, help="the source whose events the stream carries")
    ing.add_argument("--stream", required=True, metavar="URL", help="Redis url of the stream, e.g. redis://host:6379/0")
    ing.add_argument("--stream-name", required=True, metavar="NAME", help="the stream's key")
    ing.add_argument("--group", required=True, help="consumer group (created at the stream's start if absent)")
    ing.add_argument("--consumer", default=socket.gethostname(),
                     help="this worker's name in the group; keep it across restarts (default: the host name)")
    ing.add_argument("--store", required=True, metavar="URL", help="Redis url of the RedisStore, or 'memory'")
    ing.add_argument("--namespace", default="fdag", help="the RedisStore namespace (default fdag)")
    ing.add_argument("--outputs", nargs="*", help="features whose state to keep: as the model replicas plan them")
    ing.add_argument("--batch", type=int, default=1000, help="entries per read (default 1000)")
    ing.add_argument("--claim-after", type=float, default=30.0, metavar="SECONDS",
                     help="take over entries pending this long on another consumer (default 30)")
    ing.add_argument("--max-deliveries", type=int, default=5, metavar="N",
                     help="dead-letter an entry delivered more often than this without being acknowledged (default 5)")
    ing.add_argument("--progress", type=float, default=1.0, metavar="SECONDS",
                     help="seconds between progress lines on stderr; 0 for none (default 1)")
    ing.set_defaults(run=_ingest)

    cat = commands.add_parser("catalog", help="list every feature with its doc, type, version, tags, upstream")
    cat.add_argument("modules", nargs="+")
    cat.add_argument("--format", choices=["markdown", "json", "html"], default="markdown",
                     help="html: one self-contained page with search, lineage and the DAG drawn")
    cat.add_argument("--data", metavar="DIR", help="with --format html: a backfilled dataset whose null rates and "
                     "distributions to show")
    cat.add_argument("--out", metavar="FILE", help="write to FILE instead of printing")
    _outputs_option(cat, "only what these features need")
    cat.set_defaults(run=_catalog)

    skw = commands.add_parser("skew", help="recompute logged requests offline and report training/serving skew "
                              "(exit status 1 when a served value differs)")
    skw.add_argument("modules", nargs="+")
    skw.add_argument("--log", required=True, metavar="DIR", help="folder a FeatureLog wrote")
    skw.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                     help="events of a source, as a Parquet path or glob (repeat for each source)")
    _outputs_option(skw, "only these logged features (default: all)")
    skw.add_argument("--html", metavar="FILE", help="also write the report as a self-contained HTML page")
    skw.set_defaults(run=_skew)

    demo = commands.add_parser("demo", help="run the example features both ways and show they agree")
    demo.add_argument("--out", default="out", help="folder for the DOT/SVG and Parquet files (default out/)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fdag`` command: its exit status.

    An fdag error prints as one line, ``fdag: <message>`` (a DAG with several problems lists them on the lines
    after it), and exits 1; Ctrl-C exits 130 quietly. Anything else is reported on one line too, as unexpected,
    unless ``--traceback`` asks to see where it was raised.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except FdagError as exc:
        print(f"fdag: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`fdag catalog ... | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit flush does not fail
        return 141
    except OSError as exc:  # a file fdag was asked to write or read: the system's message names it
        print(f"fdag: {exc}", file=sys.stderr)
    except Exception as exc:
        if args.traceback:
            raise
        print(f"fdag: unexpected {type(exc).__name__}: {exc} (a bug in fdag or in a feature module; "
              "--traceback shows where it was raised)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
