"""Provenance: one value explained down to what made it, the same model for both engines.

A ``Provenance`` is a tree. Its root is the node asked about, with its value and as-of; below a derived feature
are the provenances of its parameters, recursively; a window lists the events of its window (id, timestamp,
per-event value), a lookup the row it read; request inputs are the leaves. Each engine gathers the *evidence*
(node values and errors, each window source's events around ``as_of``, each lookup's newest rows and each
source's watermark) in its own way; ``assemble`` turns the evidence into the tree under one rule, so online and
offline trees are equal whenever the evidence is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from fdag._dag.node import AS_OF, Node
from fdag._dag.plan import Plan
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._values.instants import EPOCH, MICROSECOND
from fdag._values.types import coerce_value, json_value
from fdag.errors import InputError, InputTypeError, MissingInputError

_SHOWN_EVENTS = 20  # events listed per window by str() and the HTML view (to_dict() has them all)


@dataclass(frozen=True)
class ProvenanceEvent:
    """One event a window read (or the row a lookup read): its id, timestamp and per-event value.

    ``value`` is what the window's function returned for the event (the lookup's function, for a row); null
    when the function raised or a non-optional column was null, and a null value is skipped by the aggregation.

    Parameters
    ----------
    id
        The event's id (``None`` for a source without ids).
    ts
        Its timestamp (UTC).
    value
        Its per-event value.
    """

    id: Any
    ts: datetime
    value: Any

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {"id": json_value(self.id), "ts": self.ts.isoformat(), "value": json_value(self.value)}


@dataclass(frozen=True)
class Provenance:
    """A value and what made it: ``row.provenance(request, name, as_of=)`` and ``frame.provenance(spine_row,
    name, sources=)`` return one, equal for the same events.

    ``str()`` is a plain-text tree; in a notebook it displays as nested, collapsible HTML (``_repr_html_``);
    ``to_dict()`` / ``to_json()`` give every field as JSON-ready data.

    Attributes
    ----------
    node
        The node (or request input) explained.
    kind
        ``"input"`` (a request input or ``as_of``: a leaf), ``"feature"`` (a function of ``inputs``),
        ``"window"`` or ``"lookup"``.
    value
        Its value, as the engine computed it.
    as_of
        The instant up to which its data is complete (see ``FeatureVector.as_of``); None when unknown.
    inputs
        A feature's parameters, each with its own provenance, in parameter order.
    error
        ``"Type: message"`` when the node's own function raised (its value is then null).
    source, key
        The source a window or lookup reads, and the request's key for it.
    how
        How a window aggregates (``"sum over 1h"``, ``", closed both"`` added for ``closed="both"``) or a lookup
        reads (``"lag 1 day, 0:00:00, max age 7 days"``).
    start, end
        A window's bounds: events with ``start <= ts < end`` (``<= end`` for ``closed="both"``).
    events
        A window's events, deduplicated by id, in (timestamp, id) order, each with its per-event value.
    row
        A lookup's newest row at ``as_of - lag`` (None when the key has none), even when it is too old.
    fresh
        Whether a lookup's value comes from ``row`` (False: no row, or older than ``max_age``: the default).
    """

    node: str
    kind: str
    value: Any
    as_of: datetime | None
    inputs: tuple[Provenance, ...] = ()
    error: str | None = None
    source: str | None = None
    key: Any = None
    how: str = ""
    start: datetime | None = None
    end: datetime | None = None
    events: tuple[ProvenanceEvent, ...] = ()
    row: ProvenanceEvent | None = None
    fresh: bool = False

    def find(self, name: str) -> Provenance:
        """The provenance of ``name`` in this tree (depth first); ``MissingInputError`` (a ``KeyError``) if absent."""
        stack = [self]
        while stack:
            current = stack.pop()
            if current.node == name:
                return current
            stack.extend(reversed(current.inputs))
        raise MissingInputError(name, f"is not in the provenance tree of '{self.node}'",
                                "find a node upstream of it (or the node itself)")

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready data (instants in ISO 8601); windows list every event."""
        record: dict[str, Any] = {"node": self.node, "kind": self.kind, "value": json_value(self.value),
                                  "as_of": None if self.as_of is None else self.as_of.isoformat()}
        if self.error is not None:
            record["error"] = self.error
        if self.kind == "feature":
            record["inputs"] = [child.to_dict() for child in self.inputs]
        if self.kind in ("window", "lookup"):
            record |= {"source": self.source, "key": json_value(self.key), "how": self.how}
        if self.kind == "window":
            record |= {"start": _iso(self.start), "end": _iso(self.end),
                       "events": [event.to_dict() for event in self.events]}
        if self.kind == "lookup":
            record |= {"row": None if self.row is None else self.row.to_dict(), "fresh": self.fresh}
        return record

    def to_json(self, indent: int | None = 2) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        return "\n".join(self._lines("", ""))

    def _lines(self, first: str, rest: str) -> list[str]:
        lines = [first + self._headline()]
        children: list[tuple[str, Provenance | None]] = [("", child) for child in self.inputs]
        children += [(line, None) for line in self._detail()]
        for i, (text, child) in enumerate(children):
            last = i == len(children) - 1
            branch, indent = ("└── ", "    ") if last else ("├── ", "│   ")
            lines += child._lines(rest + branch, rest + indent) if child is not None else [rest + branch + text]
        return lines

    def _headline(self) -> str:
        parts = [f"{self.node} = {_text(self.value)}", f"[{self.kind}"]
        if self.how:
            parts[-1] += f": {self.how}"
        if self.source is not None:
            parts[-1] += f" of {self.source} for {_text(self.key)}"
        parts[-1] += f"; as of {_iso(self.as_of)}]"
        if self.error is not None:
            parts.append(f"raised {self.error}")
        return " ".join(parts)

    def _detail(self) -> list[str]:
        """The text lines under a window (its events) or a lookup (its row)."""
        if self.kind == "window":
            shown = [f"{_text(e.id)} at {e.ts.isoformat()}: {_text(e.value)}" + ("" if e.value is not None
                     else " (skipped)") for e in self.events[:_SHOWN_EVENTS]]
            more = len(self.events) - _SHOWN_EVENTS
            head = f"{len(self.events)} events in [{_iso(self.start)}, {_iso(self.end)}{self._close()}"
            return [head, *shown, *([f"... {more} more (to_dict() lists them all)"] if more > 0 else [])]
        if self.kind == "lookup":
            if self.row is None:
                return ["no row at or before as_of - lag: the default"]
            row = f"row {_text(self.row.id)} at {self.row.ts.isoformat()}: {_text(self.row.value)}"
            return [row if self.fresh else f"{row}, older than max_age: the default"]
        return []

    def _close(self) -> str:
        return "]" if self.how.endswith("closed both") else ")"

    def _repr_html_(self) -> str:
        """Nested, collapsible HTML for notebooks: one ``<details>`` per node, a table of a window's events."""
        return f'<div class="fdag-provenance">{self._html()}</div>'

    def _html(self) -> str:
        summary = escape(self._headline())
        body = "".join(child._html() for child in self.inputs)
        if self.kind == "window":
            rows = "".join(f"<tr><td>{escape(_text(e.id))}</td><td>{escape(e.ts.isoformat())}</td>"
                           f"<td>{escape(_text(e.value))}</td></tr>" for e in self.events[:_SHOWN_EVENTS])
            more = len(self.events) - _SHOWN_EVENTS
            tail = f"<p>… {more} more (to_dict() lists them all)</p>" if more > 0 else ""
            body += (f"<p>{len(self.events)} events in [{escape(_iso(self.start))}, {escape(_iso(self.end))}"
                     f"{self._close()}</p><table><thead><tr><th>id</th><th>ts</th><th>value</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>{tail}")
        elif self.kind == "lookup":
            body += "".join(f"<p>{escape(line)}</p>" for line in self._detail())
        if not body:
            return f'<div style="margin-left:1.2em">{summary}</div>'
        return (f'<details open style="margin-left:1.2em"><summary><code>{summary}</code></summary>{body}'
                "</details>")


def _iso(instant: datetime | None) -> str:
    return "unknown" if instant is None else instant.isoformat()


def _text(value: Any) -> str:
    return "null" if value is None else repr(value)


@dataclass(frozen=True)
class Evidence:
    """What an engine observed for one request, from which ``assemble`` builds the tree.

    ``values``: every planned node and request input → its value; ``errors``: node → ``"Type: message"`` for
    each node whose function raised; ``watermarks``: source → its watermark; ``events``: window source → the
    key's events with ``as_of - longest window <= ts <= as_of`` in (timestamp, id) order, each ``(ts µs, id,
    value column → value)``; ``rows``: lookup source → lag → the key's newest row with ``ts <= as_of - lag``
    as ``(ts µs, id, value column → value)`` or None.
    """

    as_of: datetime
    values: Mapping[str, Any]
    errors: Mapping[str, str]
    watermarks: Mapping[str, datetime | None]
    events: Mapping[str, Sequence[tuple[int, Any, Mapping[str, Any]]]]
    rows: Mapping[str, Mapping[timedelta, tuple[int, Any, Mapping[str, Any]] | None]]


def check_explained(plan: Plan, name: Any) -> None:
    """Raise ``InputError`` unless ``name`` is a node ``plan`` computes (what a driver can explain)."""
    if not isinstance(name, str):
        raise InputTypeError("name", f"is a {type(name).__name__}, not the name of a node",
                             "pass a node's name as a str, e.g. one of the driver's outputs")
    if name not in plan.node_names:
        raise InputError(name, "is not a node this driver computes, so it has no provenance here",
                         f"ask for one of: {', '.join(plan.node_names)}")


def assemble(nodes: Mapping[str, Node], name: str, evidence: Evidence) -> Provenance:
    """The provenance tree of ``name`` from an engine's ``evidence``, under one rule for both engines."""
    done: dict[str, Provenance] = {}

    def build(current: str) -> Provenance:
        if current not in done:
            node = nodes.get(current)
            if node is None or current == AS_OF:
                done[current] = Provenance(current, "input", evidence.values[current], evidence.as_of)
            elif node.window is not None:
                done[current] = _window(node.window, evidence)
            elif node.lookup is not None:
                done[current] = _lookup(node.lookup, evidence)
            else:
                inputs = tuple(build(param) for param in node.params)
                instants = [child.as_of for child in inputs]
                as_of = None if None in instants else min([evidence.as_of, *instants])  # type: ignore[type-var]
                done[current] = Provenance(current, "feature", evidence.values[current], as_of, inputs,
                                           evidence.errors.get(current))
        return done[current]

    return build(name)


def _instant(micros: int) -> datetime:
    return EPOCH + micros * MICROSECOND


def _window(spec: WindowSpec, evidence: Evidence) -> Provenance:
    source = spec.source
    key = evidence.values.get(source.key)
    watermark = evidence.watermarks.get(source.name)
    as_of = None if watermark is None else min(evidence.as_of, watermark)
    end = evidence.as_of
    start = end - spec.over
    low, high = (start - EPOCH) // MICROSECOND, (end - EPOCH) // MICROSECOND
    inside = [(ts, event_id, values[spec.value_column]) for ts, event_id, values in evidence.events.get(source.name, ())
              if low <= ts and (ts < high or (spec.closed == "both" and ts == high))]
    events = tuple(ProvenanceEvent(event_id, _instant(ts), coerce_value(value, spec.value_type))
                   for ts, event_id, value in inside)
    how = f"{spec.agg.label} over {spec.over_label}" + (", closed both" if spec.closed == "both" else "")
    return Provenance(spec.node, "window", evidence.values[spec.node], as_of, error=evidence.errors.get(spec.node),
                      source=source.name, key=key, how=how, start=start, end=end,
                      events=events if key is not None else ())


def _lookup(spec: LookupSpec, evidence: Evidence) -> Provenance:
    source = spec.source
    key = evidence.values.get(source.key)
    found = evidence.rows.get(source.name, {}).get(spec.lag) if key is not None else None
    row = None
    fresh = False
    as_of: datetime | None = None
    cutoff = evidence.as_of - spec.lag
    if found is not None:
        ts, row_id, values = found
        row = ProvenanceEvent(row_id, _instant(ts), coerce_value(values[spec.value_column], spec.value_type))
        fresh = spec.max_age is None or row.ts >= cutoff - spec.max_age
        if fresh:
            as_of = row.ts
    watermark = evidence.watermarks.get(source.name)
    if key is not None and not fresh and spec.default is not None and watermark is not None:
        as_of = min(cutoff, watermark)  # how far the source is known to hold no newer row
    return Provenance(spec.node, "lookup", evidence.values[spec.node], as_of, source=source.name, key=key,
                      how=spec.label, row=row, fresh=fresh)
