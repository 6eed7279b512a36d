"""A fraud-scoring model service: the fraud features served online by a ``RowDriver`` behind HTTP.

At start-up the service takes a transaction history (generated, or ``--history`` Parquet), builds the
point-in-time training set with ``FrameDriver`` (every payment scored at its own instant, so its window
features never see it or anything after it), labels each payment with what happened next, trains a small
logistic regression with scikit-learn, and bootstraps a ``RowDriver`` from the same history. Then it serves:

- ``POST /score``  ``{"user_id", "amount", "merchant", "as_of"?}`` → features, their as-of, the score, errors
- ``POST /ingest`` one event or a list of events of ``transactions`` → the ingest report
- ``GET /health``  status, the source's watermark, how many events the window state holds
- ``GET /catalog`` the feature catalog as one HTML page (search, lineage, the DAG)

With ``--log DIR`` every served feature vector is logged to Parquet (``fdag.FeatureLog``), so that
``fdag skew feature_modules.fraud --log DIR --source transactions=...`` can prove later that serving matched training.

Request bodies are validated by pydantic against types derived from the features' own declarations (the DAG's
request inputs, the source's schema): a bad body is a 422 naming the field and the fix, a body over
``MAX_BODY`` bytes a 413.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import (
    Any,
    NotRequired,  # pydantic reads TypedDict from here before Python 3.12
)

import numpy as np
import polars as pl
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from pydantic_core import ErrorDetails
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from typing_extensions import TypedDict

import fdag
from fdag._dag.node import AS_OF
from fdag._values.types import FType
from fdag.demo import fraud
from fdag.demo.samples import transactions

SOURCE = fraud.transactions
# The label: "a burst of small payments follows" — at least BURST_COUNT payments of at most BURST_AMOUNT by
# the same user in the BURST_WITHIN after the payment (card testing usually comes in such bursts).
BURST_AMOUNT = 2.0
BURST_COUNT = 2
BURST_WITHIN = timedelta(minutes=5)
# Model inputs: the request's amount and fraud features, each read through sign(x) * log1p(|x|).
MODEL_FEATURES = ("amount", "spend_count_5m", "spend_count_10d", "merchants_1h", "burst_ratio", "amount_vs_mean_10d")
HOLDOUT = 0.2  # the latest share of the history (by time) kept out of training to measure the model
MAX_BODY = 1 << 20  # bytes of a request body; a batch of ~5,000 events. Larger bodies are refused (413).
_SHOWN_PROBLEMS = 5  # validation problems listed in one error message


class RequestError(ValueError):
    """A request body the service cannot read (not JSON, or not the expected shape)."""


class BodyTooLarge(RequestError):
    """A request body over the size limit."""


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
    #: The fitted scikit-learn pipeline the numbers above come from; ``score`` computes the same probability
    #: in plain Python (a few µs per request, where ``pipeline.predict_proba`` costs ~100 µs for one row).
    pipeline: Pipeline | None = field(default=None, repr=False, compare=False)

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


def model_inputs(training: pl.DataFrame) -> np.ndarray:
    """The model's input matrix: one row per payment, ``MODEL_FEATURES`` transformed, NaN where null."""
    return np.array([[np.nan if (x := _transform(v)) is None else x for v in training[name].to_list()]
                     for name in MODEL_FEATURES]).T.reshape(training.height, len(MODEL_FEATURES))


def fit_model(training: pl.DataFrame, l2: float = 1e-3) -> FraudModel:
    """Fit the logistic regression (scikit-learn) on the earliest ``1 - HOLDOUT`` of the rows; AUC on the rest.

    ``training`` must be sorted by ``as_of``, so the holdout is later in time than every training row (as the
    model will be used). Nulls are imputed with the training mean, then every input is standardised. ``l2`` is
    the penalty per training row: ``LogisticRegression``'s ``C`` sums the loss over rows, so ``C = 1 / (l2 n)``.
    """
    x, labels = model_inputs(training), training["label"].to_numpy()
    cut = int(len(labels) * (1 - HOLDOUT))
    pipeline = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(),
                             LogisticRegression(C=1 / (l2 * max(cut, 1))))
    pipeline.fit(x[:cut], labels[:cut])
    imputer, scaler, logistic = (step for _, step in pipeline.steps)
    held = labels[cut:]
    auc = float(roc_auc_score(held, pipeline.predict_proba(x[cut:])[:, 1])) if len(set(held)) == 2 else None
    return FraudModel(MODEL_FEATURES, tuple(imputer.statistics_.tolist()), tuple(scaler.scale_.tolist()),
                      tuple(logistic.coef_[0].tolist()), float(logistic.intercept_[0]), cut,
                      float(labels[:cut].mean()), auc, pipeline)


class ModelService:
    """The service's logic without HTTP: a bootstrapped ``RowDriver`` and the model it feeds.

    ``score`` and ``ingest`` take a JSON body (bytes or text) and return JSON-ready data; they raise
    ``RequestError`` for a body that does not validate and ``fdag.FdagError`` for what fdag rejects.
    """

    def __init__(self, row: fdag.RowDriver, model: FraudModel) -> None:
        self.row = row
        self.model = model
        # Only a network store blocks; the in-memory one answers in microseconds, so it runs on the event loop.
        self.blocking = not isinstance(row.store, fdag.MemoryStore)
        self._requests = score_request_type(row.dag.inputs)
        event = event_type(SOURCE)
        self._event, self._events = TypeAdapter(event), TypeAdapter(list[event])  # type: ignore[valid-type]

    def score(self, body: bytes | str) -> dict[str, Any]:
        """Features of one payment at its ``as_of`` (default now), with their as-of, the model score and errors."""
        try:
            request = self._requests.validate_json(body)
        except ValidationError as exc:
            raise _score_error(exc, self.row.dag.inputs) from None
        as_of = request.pop(AS_OF, None)
        vector = self.row.get(request, as_of=as_of)
        return {
            "score": self.model.score({**request, **vector.values}),
            "features": {name: _json_value(value) for name, value in vector.values.items()},
            "as_of": {name: _json_value(instant) for name, instant in vector.as_of.items()},
            "errors": [asdict(error) for error in vector.errors],
        }

    def ingest(self, body: bytes | str) -> dict[str, Any]:
        """Apply one event or a list of events of ``transactions`` (all or nothing); the counts and watermark."""
        one = body.lstrip()[:1] in (b"{", "{")  # an object is one event, anything else must be a list of them
        try:
            events = [self._event.validate_json(body)] if one else self._events.validate_json(body)
        except ValidationError as exc:
            raise _ingest_error(exc, one) from None
        report = self.row.ingest(SOURCE.name, events)
        return {**asdict(report), "watermark": _json_value(self.watermark())}

    def health(self) -> dict[str, Any]:
        """Status, the source's watermark and the number of events held (null when the store cannot tell)."""
        return {"status": "ok", "source": SOURCE.name, "watermark": _json_value(self.watermark()),
                "events_held": self.row.held(SOURCE.name), "model": self.model.summary()}

    def watermark(self) -> datetime | None:
        """The largest event timestamp of ``transactions`` the window state has seen (None before any)."""
        return self.row.watermark(SOURCE.name)


# Strict: a JSON string is not a number nor a number a string (fdag's own rule); datetimes are ISO 8601
# strings; infinities (1e400) are refused; an unknown field is an error rather than silently ignored.
_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


def _annotation(ftype: FType) -> Any:
    """The Python type pydantic validates a value of ``ftype`` against."""
    base: Any = ftype.base
    if base is list and ftype.item is not None:
        base = list.__class_getitem__(_annotation(ftype.item))
    return base | None if ftype.optional else base


def score_request_type(inputs: Mapping[str, FType]) -> TypeAdapter[Any]:
    """The /score body: every request input of the DAG with its declared type (present, null only if
    optional), plus an optional ``as_of``."""
    fields: dict[str, Any] = {name: _annotation(ftype) for name, ftype in inputs.items()}
    fields[AS_OF] = NotRequired[datetime | None]  # type: ignore[misc]
    return TypeAdapter(with_config(_STRICT)(TypedDict("ScoreRequest", fields)))  # type: ignore[operator]


def event_type(source: fdag.Source) -> Any:
    """An event of ``source`` as the /ingest body holds it: every column of its schema (its key, timestamp and id
    non-null, the other columns nullable)."""
    roles = {source.key, source.timestamp, source.id}
    fields = {column: _annotation(ftype if column in roles else ftype.nullable())
              for column, ftype in source.schema.items()}
    return with_config(_STRICT)(TypedDict("Event", fields))  # type: ignore[operator]


def _shown(value: Any) -> str:
    """A rejected value for a message: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} ({text if len(text) <= 40 else text[:37] + '...'})"


def _request_error(exc: ValidationError, describe: Callable[[ErrorDetails], str], hint: str) -> RequestError:
    """One message for the first problems pydantic found, each described by ``describe``."""
    problems = exc.errors(include_url=False)
    if problems[0]["type"] == "json_invalid":
        return RequestError(f"the body is not JSON ({problems[0]['msg']}). Hint: send a JSON object.")
    text = "; ".join(describe(problem) for problem in problems[:_SHOWN_PROBLEMS])
    more = f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
    return RequestError(f"{text}{more}. Hint: {hint}.")


def _score_error(exc: ValidationError, inputs: Mapping[str, FType]) -> RequestError:
    """The ``RequestError`` of a /score body that does not validate."""

    def describe(problem: ErrorDetails) -> str:
        loc, kind, value = problem["loc"], problem["type"], problem.get("input")
        if not loc:
            return f"the body is a JSON {type(value).__name__}, not an object"
        name = loc[0]
        if kind == "missing":
            return f"input '{name}' is missing from the request"
        if kind == "extra_forbidden":
            return f"'{name}' is not an input of the features"
        return f"input '{name}' is a {_shown(value)}: {problem['msg']}"

    fields = ", ".join(f'"{name}": {ftype}' for name, ftype in inputs.items())
    return _request_error(exc, describe, f'send {{{fields}, "{AS_OF}"?: ISO 8601 instant}}')


def _ingest_error(exc: ValidationError, one: bool) -> RequestError:
    """The ``RequestError`` of an /ingest body that does not validate (``one``: a single event object)."""

    def describe(problem: ErrorDetails) -> str:
        loc, kind, value = problem["loc"], problem["type"], problem.get("input")
        loc = (0, *loc) if one else loc
        if not loc:
            return "the body is neither an event object nor a list of event objects"
        where = f"source '{SOURCE.name}' event {loc[0]}"
        if len(loc) == 1:
            return f"{where} is a {type(value).__name__}, not an object"
        column = loc[1]
        if kind == "missing":
            return f"{where}: column '{column}' is missing"
        if kind == "extra_forbidden":
            return f"{where}: '{column}' is not a column of the source"
        return f"{where}: column '{column}' holds a {_shown(value)}: {problem['msg']}"

    columns = ", ".join(f"{name}: {ftype}" for name, ftype in SOURCE.schema.items())
    return _request_error(exc, describe, f"send events with the columns {{{columns}}} (timestamps in ISO 8601)")


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


def create_app(service: ModelService, max_body: int = MAX_BODY) -> Any:
    """The Starlette application serving ``service``: fdag and request errors become 422 with their message,
    a body over ``max_body`` bytes 413."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    async def read_body(request: Request) -> bytes:
        """The body, refused as soon as it is known to be over ``max_body`` (declared or streamed)."""
        declared = request.headers.get("content-length", "")
        too_large = BodyTooLarge(f"the body is over {max_body} bytes. Hint: send smaller batches.")
        if declared.isdigit() and int(declared) > max_body:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    from fdag._observe.catalog import catalog_html

    async def call(method: Any, request: Request) -> JSONResponse:
        body = await read_body(request)
        result = await run_in_threadpool(method, body) if service.blocking else method(body)
        return JSONResponse(result)

    async def score(request: Request) -> JSONResponse:
        return await call(service.score, request)

    async def ingest(request: Request) -> JSONResponse:
        return await call(service.ingest, request)

    async def health(request: Request) -> JSONResponse:
        result = await run_in_threadpool(service.health) if service.blocking else service.health()
        return JSONResponse(result)

    def refused(status: int) -> Any:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=status)

        return handler

    @functools.cache  # built on the first request (it draws the DAG with Graphviz), then served as is
    def catalog_page() -> str:
        return catalog_html(service.row.dag, title="fraud model service: feature catalog")

    async def catalog(request: Request) -> HTMLResponse:
        return HTMLResponse(await run_in_threadpool(catalog_page))

    return Starlette(
        routes=[Route("/score", score, methods=["POST"]), Route("/ingest", ingest, methods=["POST"]),
                Route("/health", health, methods=["GET"]), Route("/catalog", catalog, methods=["GET"])],
        exception_handlers={fdag.FdagError: refused(422), RequestError: refused(422), BodyTooLarge: refused(413)},
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
