"""The fraud model service: HTTP in-process (httpx ASGI transport) and one real uvicorn server over loopback."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import fdag
from drivers import model_service
from fdag.demo import fraud
from tests.conftest import ROOT

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import httpx

END = datetime(2024, 3, 13, tzinfo=UTC)
USERS = ["u0", "u1", "u3", "u7", "u-unknown"]


class AppClient:
    """Calls an ASGI app in-process through httpx's ASGI transport (no socket), one event loop per call."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the app."""
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST ``path``."""
        return self.request("POST", path, **kwargs)


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    """A small generated history ending at ``END``."""
    return model_service.generate_history(users=40, count=3000, days=12, end=END)


@pytest.fixture
def service(history: pl.DataFrame) -> model_service.ModelService:
    """A fresh service (its state changes with /ingest) trained and bootstrapped from ``history``."""
    return model_service.build_service(history)


@pytest.fixture
def client(service: model_service.ModelService) -> AppClient:
    """The service's app, called in-process."""
    return AppClient(model_service.create_app(service))


def test_score_returns_the_features_of_a_direct_row_driver(client: AppClient, history: pl.DataFrame,
                                                           service: model_service.ModelService) -> None:
    row = fdag.RowDriver(fdag.Dag.from_modules(fraud))
    row.bootstrap("transactions", history)
    for user in USERS:
        for as_of in (END, END - timedelta(minutes=3), END + timedelta(hours=1)):
            request = {"user_id": user, "amount": 1.0, "merchant": "m3"}
            response = client.post("/score", json={**request, "as_of": as_of.isoformat()})
            assert response.status_code == 200, response.text
            body = response.json()
            vector = row.get(request, as_of=as_of)
            assert body["features"] == vector.values
            assert body["as_of"] == {name: at.isoformat() for name, at in vector.as_of.items()}
            assert body["errors"] == []
            assert body["score"] == pytest.approx(service.model.score({**request, **vector.values}), rel=1e-12)
            assert 0.0 < body["score"] < 1.0


def test_score_without_as_of_is_scored_now(client: AppClient) -> None:
    body = client.post("/score", json={"user_id": "u0", "amount": 20.0, "merchant": "m1"}).json()
    assert body["as_of"]["hour_of_day"] > END.isoformat()  # now, not the history's end
    assert body["as_of"]["spend_count_10d"] == END.isoformat()  # capped by the watermark


def test_ingested_event_is_counted_by_the_next_score(client: AppClient) -> None:
    request = {"user_id": "u1", "amount": 5.0, "merchant": "m2", "as_of": (END + timedelta(minutes=1)).isoformat()}
    before = client.post("/score", json=request).json()["features"]
    event = {"txn_id": "new-1", "user_id": "u1", "ts": (END + timedelta(seconds=30)).isoformat(), "amount": 7.5,
             "merchant": "m39"}
    report = client.post("/ingest", json=event).json()
    assert report == {"accepted": 1, "duplicates": 0, "too_late": 0, "future": 0, "errors": [],
                      "watermark": (END + timedelta(seconds=30)).isoformat()}
    after = client.post("/score", json=request).json()["features"]
    assert after["spend_count_5m"] == before["spend_count_5m"] + 1
    assert after["spend_sum_5m"] == pytest.approx(before["spend_sum_5m"] + 7.5)
    assert after["last_merchant_10d"] == "m39"
    second = {**event, "txn_id": "new-2", "amount": 1.0}
    assert client.post("/ingest", json=[event, second]).json()["duplicates"] == 1
    assert client.post("/score", json=request).json()["features"]["spend_count_5m"] == after["spend_count_5m"] + 1


def test_health_reports_watermark_and_events_held(client: AppClient, history: pl.DataFrame) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["source"] == "transactions"
    assert body["watermark"] == END.isoformat()
    retention = timedelta(days=10) + fraud.transactions.allowed_lateness  # the longest window + lateness
    held = history.filter(pl.col("ts") >= END - retention)["txn_id"].n_unique()
    assert body["events_held"] == held > 0
    assert body["model"]["trained_on"] > 0 and set(body["model"]["weights"]) == set(model_service.MODEL_FEATURES)


def test_a_logged_service_serves_without_skew_and_shows_its_catalog(history: pl.DataFrame, tmp_path: Path) -> None:
    log = fdag.FeatureLog(tmp_path / "served", max_seconds=None)
    service = model_service.build_service(history, log=log)
    client = AppClient(model_service.create_app(service))
    requests = [{"user_id": user, "amount": 3.0, "merchant": "m3", "as_of": (END - timedelta(minutes=m)).isoformat()}
                for user in USERS for m in (0, 7)]
    served = [client.post("/score", json=request).json()["features"] for request in requests]
    log.close()
    logged = pl.read_parquet(tmp_path / "served" / "*.parquet")
    assert logged["user_id"].to_list() == [r["user_id"] for r in requests]
    assert logged.select(service.row.outputs).to_dicts() == served
    assert fdag.skew(service.row.dag, log, sources={"transactions": history}).ok
    page = client.get("/catalog")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert all(f'id="feature-{name}"' in page.text for name in service.row.outputs)
    assert model_service.parse_args(["--log", "logs/served"]).log == "logs/served"


@pytest.mark.parametrize(("path", "payload", "match"), [
    ("/score", {"user_id": "u1", "merchant": "m1"}, r"input 'amount' is missing from the request\. Hint:"),
    ("/score", {"user_id": "u1", "amount": "abc", "merchant": "m1"}, r"input 'amount' is a str \('abc'\)"),
    ("/score", {"user_id": "u1", "amount": 1.0, "merchant": "m1", "as_of": "yesterday"}, r"input 'as_of' is a str"),
    ("/score", [1, 2], r"the body is a JSON list, not an object"),
    ("/ingest", {"txn_id": "x", "user_id": "u1", "amount": 1.0, "merchant": "m"},
     r"source 'transactions' event 0: column 'ts' is missing"),
    ("/ingest", "event", r"neither an event object nor a list"),
])
def test_bad_input_is_422_with_the_fdag_message(client: AppClient, path: str, payload: object, match: str) -> None:
    response = client.post(path, json=payload)
    assert response.status_code == 422
    assert response.json()["error"] in {"MissingInputError", "InputTypeError", "SourceError", "RequestError"}
    assert re.search(match, response.json()["message"]), response.json()


def test_a_bad_batch_is_not_applied_and_bad_json_is_422(client: AppClient) -> None:
    good = {"txn_id": "ok", "user_id": "u1", "ts": END.isoformat(), "amount": 1.0, "merchant": "m"}
    response = client.post("/ingest", json=[good, {**good, "txn_id": "bad", "ts": "soon"}])
    assert response.status_code == 422 and "event 1: column 'ts' holds a str ('soon')" in response.json()["message"]
    assert client.post("/ingest", json=good).json()["accepted"] == 1  # nothing of the bad batch was applied
    response = client.post("/score", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["message"].startswith("the body is not JSON")


def test_labels_look_strictly_after_the_scored_instant() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    events = pl.DataFrame([
        {"txn_id": "a", "user_id": "u", "ts": at, "amount": 1.0, "merchant": "m"},
        {"txn_id": "b", "user_id": "u", "ts": at + timedelta(minutes=1), "amount": 1.0, "merchant": "m"},
        {"txn_id": "c", "user_id": "u", "ts": at + timedelta(minutes=5), "amount": 2.0, "merchant": "m"},
        {"txn_id": "c", "user_id": "u", "ts": at + timedelta(minutes=5), "amount": 2.0, "merchant": "m"},
        {"txn_id": "d", "user_id": "v", "ts": at + timedelta(minutes=2), "amount": 1.0, "merchant": "m"},
    ])
    spine = pl.DataFrame({"user_id": ["u", "u", "u", "v"],
                          "as_of": [at, at + timedelta(minutes=1), at - timedelta(seconds=1), at]})
    assert model_service.burst_labels(events, spine).tolist() == [1.0, 0.0, 1.0, 0.0]


def test_real_uvicorn_server_over_loopback() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "drivers.model_service", "--port", str(port), "--users", "30",
               "--count", "1000", "--days", "11"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()[1].decode()
            try:
                health = httpx.get(f"{base}/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start within 30 s"
                time.sleep(0.1)
        assert health["status"] == "ok" and health["events_held"] > 0
        response = httpx.post(f"{base}/score", content=json.dumps({"user_id": "u0", "amount": 1.0, "merchant": "m"}))
        assert response.status_code == 200 and 0.0 < response.json()["score"] < 1.0
        assert response.json()["features"]["spend_count_10d"] > 0  # the history was shifted to end at start-up
        assert httpx.post(f"{base}/score", json={"user_id": "u0"}).status_code == 422
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_help_reads_well() -> None:
    result = subprocess.run([sys.executable, "-m", "drivers.model_service", "--help"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert "POST /score" in result.stdout and "--history PATH" in result.stdout and "redis://" in result.stdout


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(("path", "content", "match"), [
    ("/score", '{"user_id": "u1", "amount": 1e400, "merchant": "m"}', r"input 'amount' is a float \(inf\): .*finite"),
    ("/score", '{"user_id": "u1", "amount": 1' + "0" * 400 + ', "merchant": "m"}', r"input 'amount' is a int"),
    ("/score", '{"user_id": 1' + "0" * 400 + ', "amount": 1, "merchant": "m"}', r"input 'user_id' is a int"),
    ("/score", '{"user_id": "u1", "amount": true, "merchant": null}',
     r"input 'amount' is a bool \(True\).*; input 'merchant' is a NoneType \(None\)"),
    ("/score", '{"user_id": "u1", "amount": "1.5", "merchant": "m"}', r"input 'amount' is a str \('1.5'\)"),
    ("/score", '{"user_id": "u1", "amount": 1, "merchant": "m", "amont": 2}', r"'amont' is not an input"),
    ("/score", '{"user_id": ' + DEEP + "}", r"the body is not JSON \(.*recursion limit"),
    ("/score", "", r"the body is not JSON"),
    ("/ingest", "[" + DEEP + "]", r"the body is not JSON \(.*recursion limit"),
    ("/ingest", '[{"txn_id": "a", "user_id": "u", "ts": 5, "amount": 1, "merchant": "m"}, 3]',
     r"event 0: column 'ts' holds a int \(5\).*; source 'transactions' event 1 is a int, not an object"),
    ("/ingest", '{"txn_id": "a", "user_id": "u", "ts": "2024-03-13T00:00:00Z", "amount": 1e999, "merchant": "m"}',
     r"event 0: column 'amount' holds a float \(inf\)"),
])
def test_hostile_bodies_are_422_with_a_clear_message(client: AppClient, path: str, content: str, match: str) -> None:
    response = client.post(path, content=content.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "RequestError"
    assert re.search(match, response.json()["message"]) and "Hint: send" in response.json()["message"]


def test_a_body_over_the_limit_is_413(service: model_service.ModelService) -> None:
    client = AppClient(model_service.create_app(service))
    held = client.get("/health").json()["events_held"]
    event = json.dumps({"txn_id": "t", "user_id": "u1", "ts": END.isoformat(), "amount": 1.0, "merchant": "m"})
    large = ("[" + ",".join([event] * (model_service.MAX_BODY // len(event) + 1)) + "]").encode()
    assert model_service.MAX_BODY == 1 << 20 < len(large)
    response = client.post("/ingest", content=large)
    assert response.status_code == 413, response.text
    assert response.json() == {"error": "BodyTooLarge",
                               "message": f"the body is over {1 << 20} bytes. Hint: send smaller batches."}
    assert client.post("/ingest", content=large[: model_service.MAX_BODY - 10] + b"]").status_code == 422

    async def chunks() -> Any:  # streamed: no content-length to refuse up front
        for start in range(0, len(large), 65536):
            yield large[start : start + 65536]

    assert client.post("/score", content=chunks()).status_code == 413
    assert client.get("/health").json()["events_held"] == held  # nothing of the refused bodies was applied


def test_the_model_is_scikit_learns_and_its_auc_is_the_pairwise_one(history: pl.DataFrame) -> None:
    import numpy as np

    dag = fdag.Dag.from_modules(fraud)
    training = model_service.training_set(dag, history)
    model = model_service.fit_model(training)
    assert model.pipeline is not None
    x = model_service.model_inputs(training)
    probabilities = model.pipeline.predict_proba(x)[:, 1]
    mine = [model.score(row) for row in training.iter_rows(named=True)]
    assert mine == pytest.approx(probabilities.tolist(), rel=1e-9, abs=1e-12)
    # AUC by brute force over every (positive, negative) pair of the holdout, ties counting one half.
    held, labels = probabilities[model.trained_on:], training["label"].to_numpy()[model.trained_on:]
    positives, negatives = held[labels == 1], held[labels == 0]
    pairs = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    assert model.holdout_auc == pytest.approx(float(np.mean(pairs)), rel=1e-12)
    assert 0.5 < model.holdout_auc < 1.0
