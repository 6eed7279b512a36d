"""A fraud-scoring model service: the fraud features served online by a ``RowDriver`` behind HTTP.

At start-up the service takes a transaction history (generated, or ``--history`` Parquet), builds the
point-in-time training set with ``FrameDriver`` (every payment scored at its own instant, so its window
features never see it or anything after it), labels each payment with what happened next, trains a small
logistic regression with numpy, and bootstraps a ``RowDriver`` from the same history. Then it serves:

- ``POST /score``  ``{"user_id", "amount", "merchant", "as_of"?}`` → features, their as-of, the score, errors
- ``POST /ingest`` one event or a list of events of ``transactions`` → the ingest report
- ``GET /health``  status, the source's watermark, how many events the window state holds
- ``GET /catalog`` the feature catalog as one HTML page (search, lineage, the DAG)

With ``--log DIR`` every served feature vector is logged to Parquet (``fdag.FeatureLog``), so that
``fdag skew feature_modules.fraud --log DIR --source transactions=...`` can prove later that serving matched training.

Run it::

    python -m drivers.model_service --port 8000
    curl -s localhost:8000/score -d '{"user_id": "u0", "amount": 1.0, "merchant": "m3"}'
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from json import JSONDecodeError
from typing import Any

import numpy as np
import polars as pl

import fdag
from drivers.demo import transactions
from feature_modules import fraud

SOURCE = fraud.transactions
# The label: "a burst of small payments follows" — at least BURST_COUNT payments of at most BURST_AMOUNT by
# the same user in the BURST_WITHIN after the payment (card testing usually comes in such bursts).
BURST_AMOUNT = 2.0
BURST_COUNT = 2
BURST_WITHIN = timedelta(minutes=5)
# Model inputs: the request's amount and fraud features, each read through sign(x) * log1p(|x|).
MODEL_FEATURES = ("amount", "spend_count_5m", "spend_count_10d", "merchants_1h", "burst_ratio", "amount_vs_mean_10d")
HOLDOUT = 0.2  # the latest share of the history (by time) kept out of training to measure the model


class RequestError(ValueError):
    """A request body the service cannot read (not JSON, or not the expected shape)."""


@dataclass(frozen=True)
class FraudModel:
    """A logistic regression over ``features``, with the standardisation and imputation learnt in training.

    A null feature (e.g. ``amount_vs_mean_10d`` for a user with no history) is read as its training mean.
    """

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    trained_on: int
    positive_rate: float
    holdout_auc: float | None

    def score(self, values: Mapping[str, Any]) -> float:
        """Probability that a burst of small payments follows, from the model's features in ``values``."""
        z = self.bias
        for name, mean, scale, weight in zip(self.features, self.means, self.scales, self.weights, strict=True):
            x = _transform(values.get(name))
            z += weight * ((mean if x is None else x) - mean) / scale
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def summary(self) -> dict[str, Any]:
        """The model as JSON-ready data: weights by feature, training size, base rate and holdout AUC."""
        return {"kind": "logistic regression", "label": _label_text(),
                "weights": dict(zip(self.features, self.weights, strict=True)), "bias": self.bias,
                "trained_on": self.trained_on, "positive_rate": self.positive_rate, "holdout_auc": self.holdout_auc}


def _label_text() -> str:
    """The label in words."""
    return (f">= {BURST_COUNT} payments of <= {BURST_AMOUNT} by the same user within "
            f"{int(BURST_WITHIN.total_seconds() // 60)} min after the payment")


def _transform(value: Any) -> float | None:
    """sign(x) * log1p(|x|): tames heavy-tailed counts and amounts, keeps the sign; null and NaN stay null."""
    if value is None:
        return None
    x = float(value)
    if not math.isfinite(x):
        return None
    return math.copysign(math.log1p(abs(x)), x)


def generate_history(users: int = 300, count: int = 20_000, days: int = 20, end: datetime | None = None,
                     seed: int = 11) -> pl.DataFrame:
    """The demo's transaction history; with ``end``, shifted so that its last event is at ``end``.

    Shifting to start-up time makes requests without ``as_of`` (scored "now") see live windows.
    """
    events = transactions(users=users, count=count, days=days, seed=seed)
    if end is None:
        return events
    return events.with_columns(pl.col("ts") + (end - events["ts"].max()))  # type: ignore[operator]


def burst_labels(events: pl.DataFrame, spine: pl.DataFrame) -> np.ndarray:
    """1 for each spine row (``user_id``, ``as_of``) followed by a burst of small payments, else 0.

    Counts the user's distinct payments of at most ``BURST_AMOUNT`` with timestamp in
    ``(as_of, as_of + BURST_WITHIN]``: strictly after the scored instant, so the label is what happens next.
    """
    small = (events.unique(SOURCE.id).filter(pl.col("amount") <= BURST_AMOUNT)
             .group_by("user_id").agg(pl.col("ts").sort()))
    stamps = dict(zip(small["user_id"].to_list(), small["ts"].to_list(), strict=True))
    labels = np.zeros(spine.height, dtype=np.float64)
    for i, (user, at) in enumerate(zip(spine["user_id"].to_list(), spine["as_of"].to_list(), strict=True)):
        times = stamps.get(user)
        if times:
            labels[i] = bisect_right(times, at + BURST_WITHIN) - bisect_right(times, at) >= BURST_COUNT
    return labels


def training_set(dag: fdag.Dag, events: pl.DataFrame) -> pl.DataFrame:
    """Every distinct payment, its fraud features at its own instant (point in time) and its ``label``."""
    spine = (events.unique(SOURCE.id, keep="first").sort("ts", SOURCE.id)
             .select("user_id", "amount", "merchant", pl.col("ts").alias("as_of")))
    features = fdag.FrameDriver(dag).run(spine, sources={SOURCE.name: events})
    return features.with_columns(label=pl.Series(burst_labels(events, spine)))


def fit_model(training: pl.DataFrame, iterations: int = 500, rate: float = 0.5, l2: float = 1e-3) -> FraudModel:
    """Fit the logistic regression by full-batch gradient descent on the earliest ``1 - HOLDOUT`` of the rows.

    ``training`` must be sorted by ``as_of``; the AUC is measured on the rest, later in time than all training
    rows (as the model will be used).
    """
    raw = np.array([[np.nan if (x := _transform(v)) is None else x for v in training[name].to_list()]
                    for name in MODEL_FEATURES]).T
    labels = training["label"].to_numpy()
    cut = int(len(labels) * (1 - HOLDOUT))
    means = np.nanmean(raw[:cut], axis=0)
    filled = np.where(np.isnan(raw), means, raw)
    scales = filled[:cut].std(axis=0)
    scales[scales == 0] = 1.0
    x = (filled - means) / scales
    weights, bias = np.zeros(x.shape[1]), 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x[:cut] @ weights + bias)))
        error = p - labels[:cut]
        weights -= rate * (x[:cut].T @ error / cut + l2 * weights)
        bias -= rate * float(error.mean())
    held = 1.0 / (1.0 + np.exp(-(x[cut:] @ weights + bias)))
    return FraudModel(MODEL_FEATURES, tuple(means.tolist()), tuple(scales.tolist()), tuple(weights.tolist()),
                      bias, cut, float(labels[:cut].mean()), _auc(held, labels[cut:]))


def _auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting one half."""
    positives, negatives = scores[labels == 1], np.sort(scores[labels == 0])
    if not len(positives) or not len(negatives):
        return None
    below = np.searchsorted(negatives, positives, side="left")
    ties = np.searchsorted(negatives, positives, side="right") - below
    return float((below + ties / 2).sum() / (len(positives) * len(negatives)))


class ModelService:
    """The service's logic without HTTP: a bootstrapped ``RowDriver`` and the model it feeds.

    Methods take and return JSON-ready data and raise ``fdag.FdagError`` or ``RequestError`` on bad input.
    """

    def __init__(self, row: fdag.RowDriver, model: FraudModel) -> None:
        self.row = row
        self.model = model
        # Only a network store blocks; the in-memory one answers in microseconds, so it runs on the event loop.
        self.blocking = not isinstance(row.store, fdag.MemoryStore)

    def score(self, body: Any) -> dict[str, Any]:
        """Features of one payment at its ``as_of`` (default now), with their as-of, the model score and errors."""
        if not isinstance(body, Mapping):
            raise RequestError(f"the body is a JSON {type(body).__name__}, not an object. "
                               'Hint: send {"user_id": ..., "amount": ..., "merchant": ..., "as_of"?: ...}.')
        request = dict(body)
        as_of = _instant(request.pop("as_of", None))
        vector = self.row.get(request, as_of=as_of)
        return {
            "score": self.model.score({**request, **vector.values}),
            "features": {name: _json_value(value) for name, value in vector.values.items()},
            "as_of": {name: _json_value(instant) for name, instant in vector.as_of.items()},
            "errors": [asdict(error) for error in vector.errors],
        }

    def ingest(self, body: Any) -> dict[str, Any]:
        """Apply one event or a list of events of ``transactions`` (all or nothing); the counts and watermark."""
        events = [body] if isinstance(body, Mapping) else body
        if not isinstance(events, list) or not all(isinstance(event, Mapping) for event in events):
            raise RequestError("the body is neither an event object nor a list of event objects. "
                               f"Hint: send events with the columns {sorted(SOURCE.schema)}.")
        report = self.row.ingest(SOURCE.name, [_parse_event(event) for event in events])
        return {**asdict(report), "watermark": _json_value(self.watermark())}

    def health(self) -> dict[str, Any]:
        """Status, the source's watermark and the number of events held (null when the store cannot tell)."""
        return {"status": "ok", "source": SOURCE.name, "watermark": _json_value(self.watermark()),
                "events_held": self.row.held(SOURCE.name), "model": self.model.summary()}

    def watermark(self) -> datetime | None:
        """The largest event timestamp of ``transactions`` the window state has seen (None before any)."""
        return self.row.watermark(SOURCE.name)


def _instant(value: Any) -> Any:
    """An ISO 8601 string read as a datetime; anything else is left to ``RowDriver.get`` to accept or reject."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _parse_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event with its datetime columns read from ISO 8601 strings (bad strings are left for fdag to reject)."""
    parsed = dict(event)
    for column, ftype in SOURCE.schema.items():
        if ftype.base is datetime and column in parsed:
            parsed[column] = _instant(parsed[column])
    return parsed


def _json_value(value: Any) -> Any:
    """``value`` as JSON: datetimes in ISO 8601, non-finite floats as null."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_service(history: pl.DataFrame, store: Any = None, log: fdag.FeatureLog | None = None) -> ModelService:
    """Train the model on ``history`` (point in time) and bootstrap a ``RowDriver`` over ``store`` from it;
    with ``log``, every vector it serves is logged."""
    dag = fdag.Dag.from_modules(fraud)
    model = fit_model(training_set(dag, history))
    row = fdag.RowDriver(dag, store=store if store is not None else fdag.MemoryStore(), log=log)
    row.bootstrap(SOURCE.name, history)
    return ModelService(row, model)


def create_app(service: ModelService) -> Any:
    """The Starlette application serving ``service``; fdag and request errors become 422 with their message."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    from fdag._observe.catalog import catalog_html

    async def call(method: Any, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except (JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(f"the body is not JSON ({exc}). Hint: send a JSON object.") from None
        result = await run_in_threadpool(method, body) if service.blocking else method(body)
        return JSONResponse(result)

    async def score(request: Request) -> JSONResponse:
        return await call(service.score, request)

    async def ingest(request: Request) -> JSONResponse:
        return await call(service.ingest, request)

    async def health(request: Request) -> JSONResponse:
        result = await run_in_threadpool(service.health) if service.blocking else service.health()
        return JSONResponse(result)

    @functools.cache  # built on the first request (it draws the DAG with Graphviz), then served as is
    def catalog_page() -> str:
        return catalog_html(service.row.dag, title="fraud model service: feature catalog")

    async def catalog(request: Request) -> HTMLResponse:
        return HTMLResponse(await run_in_threadpool(catalog_page))

    async def unprocessable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=422)

    return Starlette(
        routes=[Route("/score", score, methods=["POST"]), Route("/ingest", ingest, methods=["POST"]),
                Route("/health", health, methods=["GET"]), Route("/catalog", catalog, methods=["GET"])],
        exception_handlers={fdag.FdagError: unprocessable, RequestError: unprocessable},
    )


def open_store(url: str) -> Any:
    """``memory`` → ``MemoryStore``; ``redis://...`` → ``RedisStore`` (imported only when asked for)."""
    if url == "memory":
        return fdag.MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from fdag._stores.redis import RedisStore
        except ImportError as exc:
            raise SystemExit(f"--store {url}: the Redis store is unavailable ({exc}). "
                             "Hint: pip install 'fdag[redis]'.") from None
        return RedisStore(url)
    raise SystemExit(f"--store {url!r} is neither 'memory' nor a redis:// URL.")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m drivers.model_service",
        description="Serve fraud scores over HTTP: fdag fraud features (RowDriver) + a logistic regression "
                    "trained at start-up on a point-in-time training set built with FrameDriver.",
        epilog="endpoints: POST /score {user_id, amount, merchant, as_of?}; POST /ingest (event or list); "
               "GET /health. Example: curl -s localhost:8000/score -d "
               "'{\"user_id\": \"u0\", \"amount\": 1.0, \"merchant\": \"m3\"}'",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default: %(default)s)")
    parser.add_argument("--history", metavar="PATH",
                        help="Parquet file of transactions (txn_id, user_id, ts, amount, merchant) to train on and "
                             "bootstrap from; default: generate the demo history, shifted to end now")
    parser.add_argument("--store", default="memory", metavar="URL",
                        help="window state store: 'memory' (default) or a redis:// URL")
    parser.add_argument("--log", metavar="DIR", help="log every served feature vector to Parquet files in DIR "
                        "(fdag.FeatureLog; check them with `fdag skew`)")
    generated = parser.add_argument_group("generated history (without --history)")
    generated.add_argument("--users", type=int, default=300, help="users (default: %(default)s)")
    generated.add_argument("--count", type=int, default=20_000, help="payments before bursts and re-sends "
                           "(default: %(default)s)")
    generated.add_argument("--days", type=int, default=20, help="days covered (default: %(default)s)")
    generated.add_argument("--seed", type=int, default=11, help="random seed (default: %(default)s)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default: %(default)s)")
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs "
                        "throughput)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the service from the command line and serve it with uvicorn (one process)."""
    args = parse_args(argv)
    import uvicorn

    if args.history:
        history = pl.read_parquet(args.history)
    else:
        now = datetime.now(UTC).replace(microsecond=0)
        history = generate_history(args.users, args.count, args.days, end=now, seed=args.seed)
    log = fdag.FeatureLog(args.log) if args.log else None
    service = build_service(history, open_store(args.store), log)
    health, model = service.health(), service.model
    auc = "n/a" if model.holdout_auc is None else f"{model.holdout_auc:.3f}"
    print(f"model_service: {history.height} events, watermark {health['watermark']}, "
          f"{health['events_held']} held; model trained on {model.trained_on} payments "
          f"(label rate {model.positive_rate:.3f}, holdout AUC {auc}); "
          f"serving on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    uvicorn.run(create_app(service), host=args.host, port=args.port, log_level=args.log_level,
                access_log=args.access_log)  # on exit, the log flushes what it still buffers


if __name__ == "__main__":
    main()
