"""What ``@fdag.check_output`` costs: the same two features with and without four checks, online and offline.

The features: ``risk = amount / limit`` (``range=(0.0, 1.0), allow_null=False``) and a ``band`` string read from it
(``one_of=["low", "mid", "high"]``) plus an int ``steps`` (``range=(0, 20)``), written to a temporary folder and
imported (so both engines see real source files, as with any feature module). Online: the added µs of a ``get``,
the median over rounds of the per-round difference, both drivers interleaved in every round. Offline: one
``FrameDriver.evaluate`` over a spine of ``--rows`` rows, interleaved, medians; once with every value passing, once
with a third of the ``risk`` values out of range (the failed check's first value is then read back as well).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_checks.py [--rows 1000000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import textwrap
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import polars as pl

import fdag
from fdag.errors import CheckWarning

FEATURES = """
    import fdag

    {risk}
    def risk(amount: float, limit: float) -> float:
        return amount / limit

    {band}
    def band(risk: float) -> str:
        return "low" if risk < 0.3 else "mid" if risk < 0.7 else "high"

    {steps}
    def steps(amount: float) -> int:
        return int(amount) // 10
"""
CHECKS = {"risk": "@fdag.check_output(range=(0.0, 1.0), allow_null=False)",
          "band": '@fdag.check_output(one_of=["low", "mid", "high"])',
          "steps": "@fdag.check_output(range=(0, 20))"}


def modules(folder: Path) -> tuple[ModuleType, ModuleType]:
    """The module without checks and the one with them."""
    (folder / "bench_unchecked.py").write_text(textwrap.dedent(FEATURES.format(risk="", band="", steps="")))
    (folder / "bench_checked.py").write_text(textwrap.dedent(FEATURES.format(**CHECKS)))
    sys.path.insert(0, str(folder))
    return importlib.import_module("bench_unchecked"), importlib.import_module("bench_checked")


def online(plain: fdag.Dag, checked: fdag.Dag, calls: int, rounds: int) -> tuple[float, float]:
    """µs per plain ``get`` and the median added µs per ``get`` with the checks."""
    drivers = [fdag.RowDriver(plain), fdag.RowDriver(checked)]
    request, at = {"amount": 30.0, "limit": 100.0}, datetime(2024, 3, 1, tzinfo=UTC)
    plain_us, added = [], []
    for round_ in range(rounds):
        timed = []
        for driver in drivers if round_ % 2 else drivers[::-1]:
            started = time.perf_counter()
            for _ in range(calls):
                driver.get(request, at)
            timed.append((time.perf_counter() - started) / calls * 1e6)
        base, with_checks = timed if round_ % 2 else timed[::-1]
        plain_us.append(base)
        added.append(with_checks - base)
    return statistics.median(plain_us), statistics.median(added)


def offline(plain: fdag.Dag, checked: fdag.Dag, spine: pl.DataFrame, repeat: int) -> tuple[float, float]:
    """Median ms of ``evaluate`` without and with the checks."""
    drivers = [fdag.FrameDriver(plain), fdag.FrameDriver(checked)]
    times: list[list[float]] = [[], []]
    for _ in range(repeat):
        for index, driver in enumerate(drivers):
            started = time.perf_counter()
            driver.evaluate(spine)
            times[index].append((time.perf_counter() - started) * 1e3)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    warnings.simplefilter("ignore", CheckWarning)
    with tempfile.TemporaryDirectory() as folder:
        unchecked, checked = (fdag.Dag.from_modules(m) for m in modules(Path(folder)))
        base, added = online(unchecked, checked, args.calls, args.rounds)
        print(f"row.get: {base:.2f} µs without checks, +{added:.2f} µs with 4 checks (median of {args.rounds} rounds)")
        for label, top in (("every value passing", 100.0), ("a third of risk out of range", 150.0)):
            amounts = pl.int_range(args.rows, eager=True).cast(pl.Float64) % top
            spine = pl.DataFrame({"amount": amounts, "limit": pl.repeat(100.0, args.rows, eager=True)})
            without, with_checks = offline(unchecked, checked, spine, args.repeat)
            print(f"frame.evaluate, {args.rows:,} rows, {label}: {without:.1f} ms without checks, "
                  f"{with_checks:.1f} ms with (x{with_checks / without:.2f})")


if __name__ == "__main__":
    main()
