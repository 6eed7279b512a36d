"""The long reliability run (``make reliability``): generated modules across the engines, and the bad-input fuzzers.

Runs ``FDAG_RELIABILITY_EXAMPLES`` generated modules (default 10,000) in ``FDAG_RELIABILITY_SHARDS`` parallel
pytest processes (each its own hypothesis seed), and the bad-input fuzzers with ``FDAG_RELIABILITY_SCALE`` times
their suite's example counts (default 5), then writes ``out/reliability/summary.md`` (and ``summary.json``):
cases tried per category, non-fdag exceptions, engine mismatches, events lost, each fuzzer's examples and result.
Exits non-zero if any goal (0 of each) is missed. ``FDAG_RELIABILITY_MINUTES`` (default 40) bounds the wall
time: processes still running then are stopped and reported as such (a shard's tally so far counts).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "reliability"
FUZZERS = ("test_fuzz_entry_points.py", "test_malformed_events.py", "test_foreign_values.py")
GENERATED = "test_generated_modules.py"


def _find(name: str) -> str:
    """The test file called ``name`` wherever it lives under tests/ (basenames are unique)."""
    found = sorted((ROOT / "tests").rglob(name))
    assert len(found) == 1, f"expected one tests/**/{name}, found {found}"
    return str(found[0].relative_to(ROOT))


def _pytest(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *args]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _fuzz_figures(log: Path) -> tuple[dict[str, int], list[str]]:
    """Examples run per fuzz test (hypothesis statistics) and the failing tests, from a pytest log."""
    text = log.read_text(errors="replace")
    examples: dict[str, int] = {}
    for block in re.split(r"\n(?=\S+::\S+:)", text):
        name = block.split(":\n", 1)[0].strip()
        if "::" not in name:
            continue
        counts = re.findall(r"(\d+) passing, (\d+) failing, and (\d+) invalid", block)
        examples[name] = sum(int(p) + int(f) for p, f, _ in counts[:1])  # the generate phase
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, flags=re.MULTILINE)
    return examples, failed


def main() -> int:
    total = int(os.environ.get("FDAG_RELIABILITY_EXAMPLES", "10000"))
    shards = int(os.environ.get("FDAG_RELIABILITY_SHARDS", "7"))
    scale = os.environ.get("FDAG_RELIABILITY_SCALE", "5")
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    budget = float(os.environ.get("FDAG_RELIABILITY_MINUTES", "40")) * 60
    for stale in OUT.glob("*.json"):
        stale.unlink()
    running = []
    for shard in range(shards):
        env = {"FDAG_RELIABILITY_EXAMPLES": str(-(-total // shards)),
               "FDAG_RELIABILITY_SUMMARY": str(OUT / f"generated-{shard}.json")}
        running.append(_pytest([_find(GENERATED), f"--hypothesis-seed={shard}"], env, OUT / f"generated-{shard}.log"))
    fuzz_logs = [OUT / f"fuzz-{Path(name).stem}.log" for name in FUZZERS]
    for name, log in zip(FUZZERS, fuzz_logs, strict=True):
        running.append(_pytest([_find(name), "--hypothesis-show-statistics"], {"FDAG_RELIABILITY_SCALE": scale}, log))
    while any(process.poll() is None for process in running) and time.monotonic() - started < budget:
        time.sleep(5)
    stopped = [process for process in running if process.poll() is None]
    for process in stopped:  # the budget is spent: what finished (and each shard's tally so far) is reported
        process.terminate()
    codes = [process.wait() for process in running]
    minutes = (time.monotonic() - started) / 60

    cases: Counter[str] = Counter()
    figures = {"non_fdag_exceptions": 0, "mismatches": 0, "events_lost": 0}
    failures: list[str] = []
    for shard in range(shards):
        path = OUT / f"generated-{shard}.json"
        if not path.exists():
            failures.append(f"shard {shard} wrote no summary (exit {codes[shard]})")
            continue
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        cases.update(found["cases"])
        for name in figures:
            figures[name] += found[name]
        failures += found["failures"]
    fuzz_examples: dict[str, int] = {}
    fuzz_failed: list[str] = []
    for log, process in zip(fuzz_logs, running[shards:], strict=True):
        examples, failed = _fuzz_figures(log)
        fuzz_examples |= examples
        fuzz_failed += failed + ([f"{log.name}: stopped at the budget"] if process in stopped else [])
    halted = sum(process in stopped for process in running[:shards])
    summary = {"minutes": round(minutes, 1),
               "generated": {"cases": dict(cases.most_common()), **figures, "stopped_at_budget": halted},
               "fuzzers": {"scale": int(scale), "examples": fuzz_examples, "failed": fuzz_failed,
                           "exit": codes[shards:]}, "failures": failures}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    lines = [f"# Reliability run ({minutes:.1f} min wall, {shards} shards, {len(stopped)} stopped at the budget)", "",
             "| generated cases | count |", "|---|---:|", *(f"| {k} | {v:,} |" for k, v in cases.most_common()), "",
             f"- non-fdag exceptions: {figures['non_fdag_exceptions']}",
             f"- engine mismatches: {figures['mismatches']}", f"- events lost: {figures['events_lost']}",
             f"- fuzzers (x{scale}): {sum(fuzz_examples.values()):,} examples over {len(fuzz_examples)} tests, "
             f"{len(fuzz_failed)} failed (exit codes {codes[shards:]})", ""]
    lines += [f"| {name} | {count:,} |" for name, count in sorted(fuzz_examples.items())]
    (OUT / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    for failure in failures[:5]:
        print("\n" + failure[:3000])
    bad = any(figures.values()) or fuzz_failed or any(codes[shards:]) or any(codes[:shards])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
