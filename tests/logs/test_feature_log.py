"""The feature log: what a served vector becomes on disk, when it gets there, and what survives a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

import fdag
from fdag._logs import feature_log
from feature_modules import fraud
from tests.conftest import ROOT
from tests.resources import tiny

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def read(path: Path) -> pl.DataFrame:
    """What any reader of the directory sees."""
    return pl.scan_parquet(f"{path}/*.parquet").collect()


def wait_for(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_log_row_holds_the_request_the_values_the_errors_and_the_versions(tmp_path: Path) -> None:
    dag = fdag.Dag.from_modules(tiny)
    with fdag.FeatureLog(tmp_path, max_seconds=None) as log:
        row = fdag.RowDriver(dag, log=log)
        before = datetime.now(UTC)
        vectors = [row.get({"x": 3, "y": 2, "name": "a"}, as_of=T0),  # an int for a float: logged as 2.0
                   row.get({"x": 1, "y": 0.0, "name": None}, as_of=T0 + timedelta(seconds=1)),  # 2 / 0: an error
                   row.get({"x": None, "y": 1.0, "name": "c"}, as_of=datetime(2024, 3, 1, 0, 0, 2))]  # naive: UTC
        after = datetime.now(UTC)
        assert log.pending == 3
    assert log.pending == 0
    logged = read(tmp_path)
    assert logged.schema == pl.Schema({
        "name": pl.String(), "x": pl.Int64(), "y": pl.Float64(), "as_of": pl.Datetime("us", "UTC"),
        "doubled": pl.Int64(), "ratio": pl.Float64(), "label": pl.String(),
        "errors": pl.List(pl.Struct({"node": pl.String(), "type": pl.String(), "message": pl.String()})),
        "versions": pl.String(), "served_at": pl.Datetime("us", "UTC"),
    })
    assert logged.select("doubled", "ratio", "label").to_dicts() == [dict(v.values) for v in vectors]
    assert logged["x"].to_list() == [3, 1, None] and logged["name"].to_list() == ["a", None, "c"]
    assert logged["y"].to_list() == [2.0, 0.0, 1.0]
    assert logged["as_of"].to_list() == [T0 + timedelta(seconds=s) for s in range(3)]
    assert logged["errors"].to_list() == [
        [], [{"node": "ratio", "type": "ZeroDivisionError", "message": "float division by zero"}], []]
    assert vectors[1].errors[0].type == "ZeroDivisionError"
    versions = {name: dag.version(name) for name in dag.nodes}
    assert all(json.loads(text) == versions for text in logged["versions"])
    stamps = logged["served_at"].to_list()
    assert before - timedelta(milliseconds=1) <= stamps[0] <= stamps[1] <= stamps[2] <= after + timedelta(
        milliseconds=1)


def test_request_inputs_are_logged_in_canonical_form(tmp_path: Path, make_module) -> None:  # type: ignore[no-untyped-def]
    module = make_module("canonical", """
        from datetime import datetime

        def count(items: list[float]) -> int:
            return len(items)

        def hour(at: datetime) -> int:
            return at.hour

        def same(y: float | None) -> float | None:
            return y
    """)
    paris = timezone(timedelta(hours=1))
    with fdag.FeatureLog(tmp_path, max_seconds=None) as log:
        row = fdag.RowDriver(fdag.Dag.from_modules(module), log=log)
        row.get({"items": [1.0, float("nan")], "at": datetime(2024, 3, 1, 10, tzinfo=paris), "y": float("nan")},
                as_of=T0)
        row.get({"items": [], "at": datetime(2024, 3, 1, 10), "y": 3}, as_of=T0)
    logged = read(tmp_path)
    assert logged["items"].to_list() == [[1.0, None], []]  # NaN is null, as the engines read it
    assert logged["at"].to_list() == [datetime(2024, 3, 1, 9, tzinfo=UTC), datetime(2024, 3, 1, 10, tzinfo=UTC)]
    assert logged["y"].to_list() == [None, 3.0] and logged["same"].to_list() == [None, 3.0]


def test_the_request_is_copied_so_a_reused_dict_does_not_rewrite_the_log(tmp_path: Path) -> None:
    log = fdag.FeatureLog(tmp_path, max_seconds=None)
    row = fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=["doubled"], log=log)
    request = {"x": 1}
    for x in (1, 2, 3):
        request["x"] = x
        row.get(request, as_of=T0)
    log.close()
    assert read(tmp_path)["x"].to_list() == [1, 2, 3]


def test_a_call_that_raises_is_not_logged(tmp_path: Path) -> None:
    log = fdag.FeatureLog(tmp_path, max_seconds=None)
    row = fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=["doubled"], log=log)
    with pytest.raises(fdag.InputError):
        row.get({}, as_of=T0)
    row.get_many([{"x": 1}, {"x": 2}], as_of=[T0, T0])
    log.close()
    assert read(tmp_path)["x"].to_list() == [1, 2]


def test_a_full_buffer_wakes_the_writer_and_each_flush_is_one_file(tmp_path: Path) -> None:
    log = fdag.FeatureLog(tmp_path, max_rows=5, max_seconds=None)
    row = fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=["doubled"], log=log)
    files = lambda: sorted(tmp_path.glob("*.parquet"))  # noqa: E731
    for x in range(5):
        row.get({"x": x}, as_of=T0)
    wait_for(lambda: log.pending == 0 and len(files()) == 1)
    for x in range(5, 9):
        row.get({"x": x}, as_of=T0)
    time.sleep(0.3)
    assert log.pending == 4 and len(files()) == 1  # below max_rows and untimed: nothing is written
    row.get({"x": 9}, as_of=T0)
    wait_for(lambda: log.pending == 0 and len(files()) == 2)
    assert [pl.read_parquet(file)["x"].to_list() for file in files()] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert log.flush() is None  # nothing left
    log.close()


def test_rows_wait_at_most_max_seconds(tmp_path: Path) -> None:
    log = fdag.FeatureLog(tmp_path, max_rows=10_000, max_seconds=0.2)
    row = fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=["doubled"], log=log)
    row.get({"x": 7}, as_of=T0)
    started = time.monotonic()
    wait_for(lambda: list(tmp_path.glob("*.parquet")))
    assert time.monotonic() - started < 5
    assert read(tmp_path)["doubled"].to_list() == [14] and log.pending == 0
    log.close()


def test_gets_from_many_threads_are_each_logged_exactly_once(tmp_path: Path) -> None:
    log = fdag.FeatureLog(tmp_path, max_rows=64, max_seconds=0.01)
    row = fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=["doubled"], log=log)
    threads, per_thread = 8, 500

    def serve(start: int) -> None:
        for x in range(start, start + per_thread):
            assert row.get({"x": x}, as_of=T0)["doubled"] == 2 * x

    workers = [threading.Thread(target=serve, args=(n * per_thread,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    log.close()
    logged = read(tmp_path)
    assert sorted(logged["x"].to_list()) == list(range(threads * per_thread))
    assert (logged["doubled"] == logged["x"] * 2).all()
    assert len(list(tmp_path.glob("*.parquet"))) > 1 and not list(tmp_path.glob(".*"))


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    log = fdag.FeatureLog(tmp_path, max_rows=50, max_seconds=None)
    row = fdag.RowDriver(fdag.Dag.from_modules(fraud), log=log)
    row.ingest("transactions", [{"txn_id": f"t{i}", "user_id": f"u{i % 7}", "ts": T0 + timedelta(seconds=i),
                                 "amount": float(i), "merchant": "m"} for i in range(200)])
    done = threading.Event()
    seen: list[int] = []
    failures: list[BaseException] = []

    def reader() -> None:
        while not done.is_set():
            try:
                if any(tmp_path.glob("*.parquet")):
                    seen.append(read(tmp_path).height)
            except BaseException as exc:  # a torn file would surface here
                failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(3000):
        row.get({"user_id": f"u{i % 7}", "amount": 1.0, "merchant": "m"}, as_of=T0 + timedelta(hours=1))
    log.close()
    done.set()
    thread.join()
    assert failures == []
    assert seen and seen == sorted(seen)  # whole files appear, one after the other
    assert read(tmp_path).height == 3000


SERVE = """
import sys, time
from datetime import UTC, datetime
import fdag
from tests.resources import tiny

log = fdag.FeatureLog(sys.argv[1], max_rows=1_000_000, max_seconds=None)
row = fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=["doubled"], log=log)
for x in range(int(sys.argv[2])):
    row.get({"x": x}, as_of=datetime(2024, 3, 1, tzinfo=UTC))
if sys.argv[4] == "flush":
    log.flush()
for x in range(int(sys.argv[3])):
    row.get({"x": -x}, as_of=datetime(2024, 3, 1, tzinfo=UTC))
print("ready", flush=True)
if sys.argv[5] == "wait":
    time.sleep(600)
"""


def serve(tmp_path: Path, flushed: int, buffered: int, flush: bool, wait: bool) -> subprocess.Popen[str]:
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent(SERVE))
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "log"), str(flushed), str(buffered),
                             "flush" if flush else "-", "wait" if wait else "-"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)


def test_a_killed_process_loses_only_its_unflushed_buffer(tmp_path: Path) -> None:
    process = serve(tmp_path, flushed=300, buffered=200, flush=True, wait=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    logged = read(tmp_path / "log")
    assert logged["x"].to_list() == list(range(300))  # exactly the flushed rows, none of the 200 after
    assert logged["doubled"].to_list() == [2 * x for x in range(300)]


def test_a_normal_exit_flushes_the_buffer(tmp_path: Path) -> None:
    process = serve(tmp_path, flushed=0, buffered=40, flush=False, wait=False)
    assert process.wait(timeout=60) == 0
    assert read(tmp_path / "log")["x"].to_list() == [-x for x in range(40)]


def test_a_dead_writers_temporary_file_is_removed_and_never_read(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".served-20240301T000000000000Z-{dead.stdout.strip()}-abcdef-000001.parquet.tmp"
    stale.write_bytes(b"PAR1 torn")
    live = tmp_path / f".served-20240301T000000000000Z-{os.getpid()}-abcdef-000001.parquet.tmp"
    live.write_bytes(b"PAR1 in flight")
    fdag.FeatureLog(tmp_path).close()
    assert not stale.exists() and live.exists()


def test_one_log_records_one_set_of_outputs(tmp_path: Path) -> None:
    dag = fdag.Dag.from_modules(tiny)
    log = fdag.FeatureLog(tmp_path)
    fdag.RowDriver(dag, outputs=["doubled"], log=log)
    fdag.RowDriver(dag, outputs=["doubled"], log=log)  # a replica: same outputs, same versions
    with pytest.raises(fdag.InputError, match=r"already records a driver with outputs \['doubled'\]\. Hint: give"):
        fdag.RowDriver(dag, outputs=["ratio"], log=log)
    log.close()


def test_a_feature_named_like_a_log_column_is_refused(tmp_path: Path, make_module) -> None:  # type: ignore[no-untyped-def]
    module = make_module("clash", "def errors(x: int) -> int:\n    return x\n")
    with pytest.raises(fdag.InputError, match="input 'errors' is a feature or request input named like a column"):
        fdag.RowDriver(fdag.Dag.from_modules(module), log=fdag.FeatureLog(tmp_path))


def test_bad_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(fdag.InputError, match="max_rows"):
        fdag.FeatureLog(tmp_path, max_rows=0)
    with pytest.raises(fdag.InputError, match="max_seconds"):
        fdag.FeatureLog(tmp_path, max_seconds=0)


def test_a_failed_write_raises_on_flush_and_warns_in_the_background(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feature_log, "write_parquet_atomically", broken)
    log = fdag.FeatureLog(tmp_path, max_rows=3, max_seconds=None)
    row = fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=["doubled"], log=log)
    row.get({"x": 1}, as_of=T0)
    with pytest.raises(fdag.StoreError, match=r"could not write 1 rows .* Hint: check that the directory is writable"):
        log.flush()
    assert log.dropped == 1 and isinstance(log.last_error, OSError)
    with pytest.warns(RuntimeWarning, match="could not write 3 rows"):
        for x in range(3):
            row.get({"x": x}, as_of=T0)
        wait_for(lambda: log.dropped == 4)
    assert row.get({"x": 5}, as_of=T0)["doubled"] == 10  # serving goes on
    monkeypatch.undo()
    log.close()
    assert read(tmp_path)["x"].to_list() == [5]


def test_a_driver_without_a_log_runs_the_compiled_function_itself() -> None:
    row = fdag.RowDriver(fdag.Dag.from_modules(tiny))
    assert row.log is None and row._compute.__name__ == "compute"  # no wrapper: logging costs nothing
