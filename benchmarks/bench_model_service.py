"""Benchmark the fraud model service: POST /score over loopback HTTP against an in-process ``RowDriver.get``.

Starts ``python -m drivers.model_service`` (uvicorn, one process) on a free 127.0.0.1 port, warms it up, then
drives ``POST /score`` with ``wrk`` (one thread, a Lua script rotating 64 request bodies) for a bounded duration
and reports wrk's p50/p99 latency and throughput. Without ``wrk`` it falls back to a Python asyncio + httpx load
generator (much slower itself; the report says which one ran). In-process figures come first: ``RowDriver.get``
alone, and ``ModelService.score`` (validate the JSON body + get + model + JSON-ready dict), over the same
requests and the same history.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_model_service.py [--duration 10] [--connections 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers import model_service

ROOT = Path(__file__).resolve().parents[1]
BODIES = 64
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/score", nil, bodies[i])
end
"""


def requests(users: int, seed: int = 5) -> list[dict[str, Any]]:
    """``BODIES`` score requests over the generated users (heavy and light), scored now."""
    rng = random.Random(seed)
    return [{"user_id": f"u{int(users * rng.random() ** 3)}", "amount": round(rng.lognormvariate(3.2, 1.1), 2),
             "merchant": f"m{rng.randrange(40)}"} for _ in range(BODIES)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of ``samples``."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def in_process(bodies: list[dict[str, Any]], rounds: int) -> dict[str, tuple[float, float]]:
    """p50/p99 in µs of ``RowDriver.get`` and of ``ModelService.score`` on a service built like the server's."""
    now = datetime.now(UTC).replace(microsecond=0)
    service = model_service.build_service(model_service.generate_history(end=now))
    results = {}
    payloads = [json.dumps(body).encode() for body in bodies]  # what the service reads from the socket
    for name, call, inputs in (("RowDriver.get", service.row.get, bodies),
                               ("ModelService.score", service.score, payloads)):
        samples = []
        for i in range(rounds):
            body = inputs[i % len(inputs)]
            started = time.perf_counter_ns()
            call(body)  # type: ignore[operator]
            samples.append((time.perf_counter_ns() - started) / 1000)
        results[name] = percentiles(samples[rounds // 10:])  # the first tenth is warm-up
    return results


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    """The service on a free loopback port (default generated history), once /health answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "drivers.model_service", "--port", str(port)], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the service exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, base
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the service did not start within 60 s")


def run_wrk(base: str, bodies: list[dict[str, Any]], duration: int, connections: int) -> dict[str, Any]:
    """Warm up 2 s, then ``wrk`` for ``duration`` s; p50/p99 (µs), requests/s, errors and the command."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % ", ".join(f"'{json.dumps(body)}'" for body in bodies))
    common = ["wrk", "-t1", f"-c{connections}", "--latency", "-s", script.name]
    subprocess.run([*common, "-d2s", f"{base}/score"], capture_output=True, check=True, timeout=30)
    command = [*common, f"-d{duration}s", f"{base}/score"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    Path(script.name).unlink()
    p50, p99 = (_micros(re.search(rf"^\s*{p}%\s+(\S+)", output, re.M).group(1)) for p in ("50", "99"))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"generator": "wrk", "command": " ".join(command), "p50": p50, "p99": p99,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
            "requests": int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
            "errors": int(errors.group(1)) if errors else 0, "raw": output}


def _micros(text: str) -> float:
    """A wrk duration ("812.00us", "1.23ms", "2.00s") in µs."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def run_python(base: str, bodies: list[dict[str, Any]], duration: int, connections: int) -> dict[str, Any]:
    """The fallback load generator: ``connections`` asyncio workers over httpx keep-alive, for ``duration`` s."""
    import httpx

    async def drive(seconds: float) -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        payloads = [json.dumps(body).encode() for body in bodies]
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=base, limits=limits,
                                     headers={"content-type": "application/json"}) as client:
            deadline = time.perf_counter() + seconds

            async def worker(offset: int) -> None:
                nonlocal errors
                i = offset
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    response = await client.post("/score", content=payloads[i % len(payloads)])
                    latencies.append((time.perf_counter() - started) * 1e6)
                    errors += response.status_code != 200
                    i += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker(c) for c in range(connections)))
            return latencies, errors, time.perf_counter() - started

    asyncio.run(drive(2))
    latencies, errors, elapsed = asyncio.run(drive(duration))
    p50, p99 = percentiles(latencies)
    return {"generator": "python asyncio + httpx (wrk not found)", "p50": p50, "p99": p99,
            "command": f"run_python({base!r}, duration={duration}, connections={connections})",
            "rps": len(latencies) / elapsed, "requests": len(latencies), "errors": errors, "raw": ""}


def main() -> None:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=2, help="concurrent connections (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=20_000, help="in-process calls each (default: %(default)s)")
    args = parser.parse_args()
    bodies = requests(users=300)

    print(f"== in process, {args.rounds} calls each (default generated history, 17 fraud features) ==")
    for name, (p50, p99) in in_process(bodies, args.rounds).items():
        print(f"  {name:20s} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs")

    server, base = start_server()
    try:
        load = run_wrk if shutil.which("wrk") else run_python
        result = load(base, bodies, args.duration, args.connections)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"\n== POST /score over loopback HTTP: uvicorn, 1 process; load by {result['generator']} ==")
    print(f"  command: {result['command']}")
    print(f"  {result['requests']} requests in {args.duration} s, {result['errors']} non-2xx")
    print(f"  p50 {result['p50']:8.1f} µs   p99 {result['p99']:8.1f} µs   {result['rps']:.0f} requests/s")
    if result["raw"]:
        print("\n" + result["raw"])


if __name__ == "__main__":
    main()
