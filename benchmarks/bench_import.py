"""Benchmark ``import fdag``: what a model service pays at start-up before serving its first request.

fdag imports Polars, so the floor is ``import polars``: each round starts one fresh interpreter for each
(interleaved, so load on the machine hits both alike) and times the import inside it; the figure is the median
of the per-round ratios fdag / polars (goal <= 1.5x). It also lists the heavy optional libraries ``import fdag``
loaded (none, since they are imported where they are used).

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_import.py [--rounds 21]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

HEAVY = ("hypothesis", "networkx", "pyarrow", "pandas", "ray", "dagster", "graphviz", "tqdm", "numpy", "redis")

PROBE = """
import json, sys, time
started = time.perf_counter()
import {module}
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def import_seconds(module: str) -> tuple[float, list[str]]:
    """Seconds ``import module`` takes in a fresh interpreter, and the heavy modules it loaded."""
    code = PROBE.format(module=module, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    probe = json.loads(result.stdout)
    return probe["seconds"], probe["loaded"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="fresh-process pairs (default: %(default)s, >= 15)")
    args = parser.parse_args()
    import_seconds("fdag")  # warm the file cache and the bytecode once, outside the measurement
    fdag_times, polars_times, ratios = [], [], []
    loaded: list[str] = []
    for _ in range(args.rounds):
        fdag_seconds, loaded = import_seconds("fdag")
        polars_seconds, _ = import_seconds("polars")
        fdag_times.append(fdag_seconds)
        polars_times.append(polars_seconds)
        ratios.append(fdag_seconds / polars_seconds)
    print(f"import fdag:   median {statistics.median(fdag_times) * 1000:.0f} ms over {args.rounds} fresh processes")
    print(f"import polars: median {statistics.median(polars_times) * 1000:.0f} ms")
    print(f"ratio fdag / polars: {statistics.median(ratios):.2f}x (median of per-round ratios; goal <= 1.5x)")
    print(f"heavy modules loaded by import fdag (of {', '.join(HEAVY)}): {', '.join(loaded) or 'none'}")


if __name__ == "__main__":
    main()
