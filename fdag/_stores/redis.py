"""``RedisStore``: online window and lookup state in a Redis server, shared by every process using the same url.

The store is the connection (retries, errors, scripts); the state lives in ``redis_events`` (the layout of
events, ingest, bootstrap), ``redis_window`` (window queries from pre-aggregated tiles, ``redis_tiles``),
``redis_lookup`` (lookup queries) and the Lua that runs on the server (``redis_scripts``: ingest and lookups;
``redis_window_scripts``: window queries; ``redis_tile_lua``: the tiles' partial states).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._stores.redis_lookup import RedisLookupState
from fdag._stores.redis_window import RedisWindowState
from fdag._stores.state_config import ValueFunction
from fdag.errors import MissingDependencyError, StoreError

# Retries of a command whose connection dropped or timed out: after 20 ms, then 40 ms (a blip, not an outage).
_RETRIES = 2
_BACKOFF_BASE, _BACKOFF_CAP = 0.01, 0.1


class RedisStore:
    """Window and lookup state in a Redis server: every RowDriver on the same ``url`` and ``namespace`` shares it.

    Durability is Redis's: run the server with ``appendonly yes`` (``appendfsync always`` to survive power
    loss, ``everysec`` to survive a process crash) and a restarted driver loses nothing Redis acknowledged.

    An ingest batch is one atomic Lua script (duplicates and too-late events counted as in ``MemoryStore``) that
    also keeps pre-aggregated tiles per key; a query is one script call returning the merged tiles and the raw
    events only where the windows' edges cut a tile, so its cost does not grow with the events in a window; the
    values equal ``MemoryStore``'s. Connecting
    pings the server; failures raise ``StoreError``. Needs ``pip install 'fdag[redis]'``.

    Parameters
    ----------
    url
        The server, ``redis://host:6379/0`` or ``unix:///path/redis.sock``.
    namespace
        The prefix of every key: drivers on the same url and namespace share their state.
    timeout
        Seconds to wait for a connection or a reply before the command is retried, then fails.

    Example::

        import os

        import fdag
        from fdag.demo import fraud
        from fdag.demo.samples import transactions

        store = fdag.RedisStore(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), namespace="fraud")
        worker = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h"], store=store)
        worker.ingest("transactions", transactions(users=20, count=500, days=3))
        replica = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h"], store=store)
        print(replica.watermark("transactions"))   # 2024-03-03 23:51:38+00:00: the state the worker wrote
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", namespace: str = "fdag", *, timeout: float = 5.0
    ) -> None:
        try:
            import redis
            from redis.backoff import ExponentialBackoff, NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise MissingDependencyError("redis", "RedisStore", extra="redis") from None
        self.url = url
        self.namespace = namespace
        self._errors = errors = redis.exceptions
        # redis-py retries a command whose connection dropped or timed out (a server restart, an idle connection
        # closed by a proxy) on a fresh connection, after a short exponential backoff.
        retry = Retry(ExponentialBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE), _RETRIES)
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        try:
            self.client = redis.Redis.from_url(url, retry=retry, **options,
                                               retry_on_error=[errors.ConnectionError, errors.TimeoutError])
            # For what must not run twice: a re-sent ingest of a source without ids would apply it again.
            self._once = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        except ValueError as exc:
            raise StoreError(f"RedisStore url {url!r}", "is not a Redis url",
                             "write it like 'redis://host:6379/0' or 'unix:///path/redis.sock'", exc) from None
        self._scripts: dict[str, Any] = {}
        self.call("PING")

    def window_state(
        self,
        source: Source,
        specs: Sequence[WindowSpec],
        values: Mapping[str, ValueFunction],
    ) -> RedisWindowState:
        """The shared state for ``specs`` over ``source`` (same layout, same keys in every process).

        Parameters
        ----------
        source
            The source whose events the state holds.
        specs
            The window specs of the plan over that source.
        values
            Value column → the per-event function giving it (its code is part of the layout's fingerprint).
        """
        return RedisWindowState(self, source, specs, values)

    def lookup_state(
        self,
        source: Source,
        specs: Sequence[LookupSpec],
        values: Mapping[str, ValueFunction],
    ) -> RedisLookupState:
        """The shared lookup state for ``specs`` over ``source`` (same layout, same keys in every process).

        Parameters
        ----------
        source
            The source whose rows the state holds.
        specs
            The lookup specs of the plan over that source.
        values
            Value column → the per-row function giving it (its code is part of the layout's fingerprint).
        """
        return RedisLookupState(self, source, specs, values)

    def call(self, *command: Any, retry: bool = True) -> Any:
        """Run one command; failures become ``StoreError``.

        Parameters
        ----------
        command
            The command and its arguments, e.g. ``"PING"`` or ``"GET", key``.
        retry
            redis-py re-sends it on a dropped connection or a timeout, so it may run twice on the server (its reply
            lost the first time); pass ``False`` for a command that must not.
        """
        return self._guarded(lambda client: client.execute_command(*command), retry)

    def script(self, name: str, text: str, keys: Sequence[Any], args: Sequence[Any], retry: bool = True) -> Any:
        """Run a Lua script by its SHA (redis-py loads it when the server does not know it, e.g. after a restart).

        Parameters
        ----------
        name
            The script's name, under which it is registered once.
        text
            The Lua source.
        keys, args
            Its ``KEYS`` and ``ARGV``.
        retry
            As for ``call``.
        """
        script = self._script(name, text)
        return self._guarded(lambda client: script(keys, args, client=client), retry)

    def pipeline_scripts(
        self, name: str, text: str, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]], retry: bool = True
    ) -> list[Any]:
        """Run a script once per ``(keys, args)`` in one round trip (a pipeline without MULTI).

        Parameters
        ----------
        name, text
            As for ``script``.
        calls
            One ``(keys, args)`` pair per run.
        retry
            As for ``call``.
        """
        script = self._script(name, text)

        def run(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for keys, args in calls:
                script(keys, args, client=pipe)
            return pipe.execute()  # loads the script first if the server does not know it

        def run_again_without_script(client: Any) -> list[Any]:
            try:
                return run(client)
            except self._errors.NoScriptError:
                # redis-py re-sent the pipeline to a server restarted after the script check: every call failed
                # (none ran), and this run loads the script first.
                return run(client)

        return self._guarded(run_again_without_script if retry else run, retry)

    def stream_scripts(
        self, name: str, text: str, calls: Iterable[tuple[Sequence[Any], Sequence[Any]]], retry: bool = True
    ) -> list[Any]:
        """Run a script once per ``(keys, args)`` that ``calls`` yields, each sent as soon as it is yielded, and
        read the replies once all are sent: the server runs one call while the caller makes the next, and the
        caller waits once (one round trip in all).

        The calls run in order on one connection. The first is sent with the script's text (``EVAL``), so the
        server knows the script for the ones after it (``EVALSHA``). Every reply is read before an error is raised,
        so the connection stays in step; an error reply leaves the other calls run. With ``retry``, a dropped
        connection re-sends every call made so far, in order, then goes on: only for idempotent calls.

        Parameters
        ----------
        name, text
            As for ``script``.
        calls
            The ``(keys, args)`` of each run, made lazily.
        retry
            As for ``call``.
        """
        sha = self._script(name, text).sha
        made: list[tuple[Sequence[Any], Sequence[Any]]] = []
        pending = iter(calls)

        def send(connection: Any, keys: Sequence[Any], args: Sequence[Any], first: bool) -> None:
            connection.send_command("EVAL" if first else "EVALSHA", text if first else sha, len(keys), *keys, *args)

        def replies(connection: Any, count: int) -> list[Any]:
            out, error = [], None
            for _ in range(count):
                try:
                    out.append(connection.read_response())
                except self._errors.ResponseError as exc:
                    error = error or exc
            if error is not None:
                raise error
            return out

        def attempt(connection: Any) -> list[Any]:
            for j, (keys, args) in enumerate(made):
                send(connection, keys, args, j == 0)
            try:
                for keys, args in pending:
                    made.append((keys, args))  # (before it is sent: a retry re-sends it if the sending fails)
                    send(connection, keys, args, len(made) == 1)
            except (self._errors.ConnectionError, self._errors.TimeoutError):
                raise  # the connection is gone: a retry re-sends every call made
            except BaseException:
                replies(connection, len(made))  # what was sent runs: its outcome is read before the error is raised
                raise
            return replies(connection, len(made))

        def run(client: Any) -> list[Any]:
            pool = client.connection_pool
            connection = pool.get_connection()
            try:
                return connection.retry.call_with_retry(lambda: attempt(connection),
                                                        lambda _error: connection.disconnect())
            finally:
                pool.release(connection)

        return self._guarded(run, retry)

    def _script(self, name: str, text: str) -> Any:
        """The ``redis.commands.core.Script`` of ``text``, registered once under ``name``."""
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(text)
        return script

    def _guarded(self, command: Callable[[Any], Any], retry: bool) -> Any:
        """``command(client)`` on the retrying client, or the one that never retries; failures become ``StoreError``."""
        errors = self._errors
        try:
            return command(self.client if retry else self._once)
        except (errors.ConnectionError, errors.TimeoutError):
            raise self._unreachable() from None
        except errors.RedisError as exc:
            raise self._failed(exc) from None

    def _unreachable(self) -> StoreError:
        """The error for a server that cannot be reached."""
        return StoreError(f"Redis at {self.url}", "cannot be reached",
                          "start redis-server there or fix the url; acknowledged batches are durable and ingest is "
                          "idempotent by id, so re-send the batch that failed once it is back")

    def _failed(self, exc: Exception) -> StoreError:
        """The error for a command the server refused."""
        return StoreError(f"Redis at {self.url}", "failed", "check the server's log, memory limit (maxmemory) and "
                          "that the key namespace is not used by others", exc)

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, namespace={self.namespace!r})"
