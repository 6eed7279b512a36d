"""A hypothesis strategy that writes random feature *modules* as source text, as a user would write them.

A drawn ``Module`` holds the text of one feature module (written to a file and imported by the test) and what the
histories and spines need to know about it: each source's columns and their kinds, each source's key pool, the
request inputs. Sources get random key/timestamp/id column names (non-identifiers, reserved words and unicode
included), int or str keys, with or without ids; nodes come from ``NODE_KINDS``, one strategy per kind of node:
windows over every aggregation of the registry with random ``over``/``closed``/``default``, lookups with random
``lag``/``max_age``/``default``, derived features over them (and over request inputs and ``as_of``), tags. Adding
a kind of node (``@fdag.check_output``, ``@config.when``, ...) is one more strategy appended to ``NODE_KINDS``.

Every duration is a whole number of minutes (or ``1us``), like every event timestamp up to a microsecond of
jitter: windows, lags and ages then meet events exactly on their edges and a microsecond either side.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

from fdag._aggregations.registry import kind_of, known_aggregations

# Column names of keys, timestamps and ids: data, not code; nothing here may reach generated code unescaped.
ROLE_NAMES = ("user_id", "user-id", "class", "lambda", "ключ", "用户 id", "it's", 'say "hi"', "back\\slash",
              "ts", "event_timestamp", "at", "id", "txn-id", "None", "0day", "a.b", "x y")
SOURCE_NAMES = ("txns", "accounts", "événements", "pay-ments", "class", "s 1")
VALUE_TYPES = ("int", "float", "str", "bool")
MINUTE_DURATIONS = ("1m", "2m", "3m", "5m", "10m", "1h")
AGGREGATIONS = tuple(a.strip() for a in known_aggregations().replace(" or ", ", ").split(", "))


@dataclass
class Column:
    """A value column of a source: its (identifier) name, base type and whether the schema admits null."""

    name: str
    kind: str  # "int", "float", "str", "bool"
    optional: bool


@dataclass
class SourceDef:
    """One source as written: its variable, name, role columns, value columns and clocks."""

    var: str
    name: str
    key: str
    key_kind: str  # "int" or "str"
    timestamp: str
    id: str | None
    id_kind: str
    columns: list[Column]
    lateness_minutes: int
    max_future: str | None
    longest_window_us: int = 0  # set as windows are added (0: lookups only)

    def text(self) -> str:
        schema = {self.key: self.key_kind, self.timestamp: "datetime"}
        if self.id is not None:
            schema[self.id] = self.id_kind
        schema |= {c.name: f"{c.kind} | None" if c.optional else c.kind for c in self.columns}
        entries = ", ".join(f"{name!r}: {kind}" for name, kind in schema.items())
        ident = f", id={self.id!r}" if self.id is not None else ""
        future = "" if self.max_future == "1h" else f", max_future={self.max_future!r}"
        return (f"{self.var} = fdag.Source({self.name!r}, key={self.key!r}, timestamp={self.timestamp!r}{ident},\n"
                f"    schema={{{entries}}}, allowed_lateness='{self.lateness_minutes}m'{future})\n")


@dataclass
class Produced:
    """A node a derived feature can read: its name and type (``kind`` as in ``Column``; ``list[int]`` etc)."""

    name: str
    kind: str
    float_window: bool = False  # computed by a float window: engines agree to 1e-6, so no comparisons on it


@dataclass
class Module:
    """A generated module: its text and what histories and spines need to know about it."""

    sources: list[SourceDef] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    produced: list[Produced] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)  # request inputs beyond the sources' keys: name -> kind
    categories: set[str] = field(default_factory=set)
    expect_error: str | None = None  # the DagError / SourceError a deliberately invalid module must raise
    names: int = 0

    def fresh(self, stem: str) -> str:
        self.names += 1
        return f"{stem}_{self.names}"

    def text(self) -> str:
        head = '"""A generated feature module."""\nfrom datetime import datetime\nimport fdag\n\n'
        return head + "".join(s.text() for s in self.sources) + "\n" + "\n\n".join(self.blocks)


# ---------------------------------------------------------------- sources


@st.composite
def sources(draw: st.DrawFn, module: Module) -> None:
    """One or two sources; with two, they share the key column (one request input) or not."""
    count = draw(st.integers(1, 2))
    for i in range(count):
        names = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=3, max_size=3, unique=True))
        if i == 1 and draw(st.booleans()):  # two sources keyed by one entity: one request input for both
            names = [module.sources[0].key, *(n for n in names if n != module.sources[0].key)][:3]
            if len(names) < 3:
                names.append("ts2")
            key_kind = module.sources[0].key_kind
        else:
            if names[0] in {s.key for s in module.sources}:
                names[0] = f"{names[0]}{i}"
            key_kind = draw(st.sampled_from(["int", "str"]))
        with_id = draw(st.booleans())
        columns = [Column(f"v{i}_{j}", draw(st.sampled_from(VALUE_TYPES)), draw(st.booleans()))
                   for j in range(draw(st.integers(1, 3)))]
        taken_names = {s.name for s in module.sources}
        name = draw(st.sampled_from([n for n in SOURCE_NAMES if n not in taken_names]))
        source = SourceDef(f"source_{i}", name, names[0], key_kind, names[1], names[2] if with_id else None,
                           draw(st.sampled_from(["int", "str"])), columns, draw(st.sampled_from([0, 0, 1, 5])),
                           draw(st.sampled_from(["1h", "1h", None])))
        module.sources.append(source)
        module.categories |= {f"key {key_kind}", "with id" if with_id else "without id"}
        if not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
            module.categories.add("non-identifier column names")


# ---------------------------------------------------------------- per-event and per-row functions

# (parameter kind, result kind) -> bodies over the parameter ``x``; some raise for one value (recorded errors).
BODIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("int", "int"): ("x", "x * 2 - 1", "x // 3", "abs(x)", "10 // (x - 7)"),
    ("int", "float"): ("x / 2",),
    ("float", "float"): ("x", "x * 0.5", "x - 1.0", "1.0 / x"),
    ("str", "str"): ("x", "x.upper()", "x[:1]"),
    ("str", "int"): ("len(x)",),
    ("bool", "bool"): ("x", "not x"),
    ("bool", "int"): ("int(x)",),
}


@st.composite
def event_function(draw: st.DrawFn, source: SourceDef) -> tuple[str, str, str]:
    """``(signature parameters, result kind, body)`` of a function of one source column (or of two numbers)."""
    column = draw(st.sampled_from(source.columns))
    results = [result for (param, result) in BODIES if param == column.kind]
    result = draw(st.sampled_from(results))
    body = draw(st.sampled_from(BODIES[column.kind, result])).replace("x", column.name)
    if column.optional and draw(st.booleans()):  # the function receives the null and decides
        fallback = {"int": "0", "float": "0.0", "str": "'?'", "bool": "False"}[result]
        return (f"{column.name}: {column.kind} | None", result,
                f"{fallback} if {column.name} is None else {body}")
    others = [c for c in source.columns if c is not column and c.kind in ("int", "float") and c.kind == result]
    if others and result in ("int", "float") and draw(st.booleans()):
        other = draw(st.sampled_from(others))
        return f"{column.name}: {column.kind}, {other.name}: {other.kind}", result, f"{body} + {other.name}"
    return f"{column.name}: {column.kind}", result, body


def _literal(kind: str) -> st.SearchStrategy[str]:
    """Source text of a literal of a scalar kind."""
    return {"int": st.sampled_from(["-1", "0", "42"]), "float": st.sampled_from(["-1.5", "0.0", "2.25"]),
            "str": st.sampled_from(["'none'", "''", "'ü'"]), "bool": st.sampled_from(["True", "False"])}[kind]


def window_type(agg: str, kind: str) -> str:
    """The node kind of window ``agg`` over per-event values of ``kind``."""
    name = agg.split("(")[0]
    if name in ("count", "distinct_count"):
        return "int"
    if name == "sum":
        return "int" if kind in ("int", "bool") else "float"
    if name in ("mean", "std", "var"):
        return "float"
    return f"list[{kind}]" if name == "last_n" else kind


def _accepts(agg: str, kind: str) -> bool:
    accepts = kind_of(agg.split("(")[0]).accepts
    base = {"int": int, "float": float, "str": str, "bool": bool}[kind]
    return accepts is None or base in accepts


def _tags(draw: st.DrawFn, module: Module) -> str:
    if draw(st.integers(0, 3)) != 0:
        return ""
    module.categories.add("tags")
    return f"@fdag.tag(owner={draw(st.sampled_from(['risk', 'ml', 'ü']))!r}, tier={draw(st.integers(0, 3))})\n"


# ---------------------------------------------------------------- node kinds


@st.composite
def window_nodes(draw: st.DrawFn, module: Module, source: SourceDef | None = None) -> None:
    """One ``@fdag.window`` declaration (over ``source``, or a random one): one node, or a grid of aggregations x
    lengths."""
    source = source or draw(st.sampled_from(module.sources))
    params, kind, body = draw(event_function(source))
    aggs = [a.replace("(N)", f"({draw(st.integers(1, 4))})") for a in AGGREGATIONS]
    aggs = [a for a in aggs if _accepts(a, kind)]
    grid = draw(st.integers(0, 3)) == 0
    chosen = draw(st.lists(st.sampled_from(aggs), min_size=1, max_size=3, unique=True)) if grid \
        else [draw(st.sampled_from(aggs))]
    overs = draw(st.lists(st.sampled_from((*MINUTE_DURATIONS, "1us")), min_size=1, max_size=2, unique=True)) \
        if grid else [draw(st.sampled_from((*MINUTE_DURATIONS, "1us")))]
    closed = draw(st.sampled_from(["left", "both"]))
    name = module.fresh("w")
    options = f", closed={closed!r}" if closed != "left" or draw(st.booleans()) else ""
    node_type = window_type(chosen[0], kind)
    defaulted = not grid and not node_type.startswith("list") and draw(st.integers(0, 2)) == 0
    if defaulted:
        options += f", default={draw(_literal(node_type))}"
        module.categories.add("window default")
    written = (repr(chosen), repr(overs)) if grid else (repr(chosen[0]), repr(overs[0]))
    decorator = f"@fdag.window({source.var}, agg={written[0]}, over={written[1]}{options})\n"
    tags = _tags(draw, module)
    stacked = tags + decorator if draw(st.booleans()) else decorator + tags
    module.blocks.append(f"{stacked}def {name}({params}) -> {kind}:\n    return {body}\n")
    micros = {"1us": 1} | {d: int(d[:-1]) * (60 if d[-1] == "m" else 3600) * 10**6 for d in MINUTE_DURATIONS}
    source.longest_window_us = max(source.longest_window_us, *(micros[o] for o in overs))
    module.categories |= {f"window {a.split('(')[0]}" for a in chosen} | {f"closed {closed}"}
    if not grid:
        module.produced.append(Produced(name, node_type, float_window=node_type == "float"))


@st.composite
def lookup_nodes(draw: st.DrawFn, module: Module) -> None:
    """One ``@fdag.lookup`` with random ``lag``, ``max_age`` and ``default``."""
    source = draw(st.sampled_from(module.sources))
    params, kind, body = draw(event_function(source))
    name = module.fresh("l")
    lag = draw(st.sampled_from(["0s", "1us", "1m", "3m"]))
    options = f", lag={lag!r}" if lag != "0s" or draw(st.booleans()) else ""
    max_age = draw(st.sampled_from([None, "1us", "1m", "2m", "10m"]))
    if max_age is not None:
        options += f", max_age={max_age!r}"
        module.categories.add("lookup max_age")
    if draw(st.booleans()):
        options += f", default={draw(_literal(kind))}"
        module.categories.add("lookup default")
    tags = _tags(draw, module)
    decorator = f"@fdag.lookup({source.var}{options})\n"
    stacked = tags + decorator if draw(st.booleans()) else decorator + tags
    module.blocks.append(f"{stacked}def {name}({params}) -> {kind}:\n    return {body}\n")
    module.categories.add("lookup")
    module.produced.append(Produced(name, kind))


# (upstream kind) -> (result kind, body over ``a``); each handles a null ``a`` itself.
DERIVED: dict[str, tuple[tuple[str, str], ...]] = {
    "int": (("int", "-1 if a is None else a * 3"), ("bool", "a is not None and a > 2"),
            ("float", "None if a is None else a / 4")),
    "float": (("float", "None if a is None else a * 2.0"), ("float", "None if a is None else 1.0 / a"),
              ("bool", "a is None")),
    "str": (("int", "-1 if a is None else len(a)"), ("str", "'' if a is None else a + '!'")),
    "bool": (("bool", "a is True"), ("int", "0 if a is None else int(a)")),
}


@st.composite
def derived_nodes(draw: st.DrawFn, module: Module) -> None:
    """A plain feature over one upstream node, sometimes with a request input or ``as_of``."""
    if not module.produced:
        return
    upstream = draw(st.sampled_from(module.produced))
    name = module.fresh("d")
    if upstream.kind.startswith("list"):
        result, body, annotation = "int", "0 if a is None else len(a)", f"{upstream.kind} | None"
    else:
        choices = [c for c in DERIVED[upstream.kind] if not (upstream.float_window and c[0] == "bool")]
        result, body = draw(st.sampled_from(choices))
        annotation = f"{upstream.kind} | None"
    params = f"a: {annotation}"
    extra = draw(st.sampled_from(["", "", "input", "as_of"]))
    if extra == "input" and result in ("int", "float"):
        module.inputs.setdefault("amount", "float")
        params, body, result = params + ", amount: float", f"None if ({body}) is None else ({body}) + amount", \
            "float"
        module.categories.add("request input")
    elif extra == "as_of":
        params, body, result = params + ", as_of: datetime", "as_of.minute + (0 if a is None else 1)", "int"
        module.categories.add("as_of input")
    optional = " | None" if "None if" in body else ""
    tags = _tags(draw, module)
    module.blocks.append(f"{tags}def {name}({params.replace('a:', f'{upstream.name}:', 1)}) -> {result}{optional}:\n"
                         f"    a = {upstream.name}\n    return {body}\n")
    module.categories.add("derived")
    module.produced.append(Produced(name, result, float_window=upstream.float_window and result == "float"))


NODE_KINDS: tuple[Callable[[Module], st.SearchStrategy[None]], ...] = (window_nodes, lookup_nodes, derived_nodes)


# ---------------------------------------------------------------- invalid definitions


def _clashing_sources(module: Module) -> None:
    """Two sources under one name: ``sources={name: ...}`` could not tell them apart."""
    first = module.sources[0]
    twin = SourceDef("source_twin", first.name, first.key, first.key_kind, first.timestamp, first.id, first.id_kind,
                     list(first.columns), first.lateness_minutes + 1, first.max_future)
    module.sources.append(twin)
    column = first.columns[0]
    for var in (first.var, "source_twin"):
        module.blocks.append(f"@fdag.window({var}, agg='count', over='1h')\n"
                             f"def count_of_{var}({column.name}: {column.kind}) -> {column.kind}:\n"
                             f"    return {column.name}\n")
    module.expect_error = "DagError"


def _key_named_as_of(module: Module) -> None:
    """A source keyed by a column named ``as_of``: the key would be the request's instant."""
    module.sources[0].key = "as_of"
    module.expect_error = "DagError"


INVALID_KINDS: tuple[Callable[[Module], None], ...] = (_clashing_sources, _key_named_as_of)


@st.composite
def modules(draw: st.DrawFn, invalid: bool | None = None) -> Module:
    """A feature module: sources, 1 to 8 nodes drawn from ``NODE_KINDS``; with ``invalid``, one deliberate mistake."""
    module = Module()
    draw(sources(module))
    draw(window_nodes(module, module.sources[0]))  # the invalid kinds break the first source: it has a node
    for _ in range(draw(st.integers(0, 7))):
        draw(draw(st.sampled_from(NODE_KINDS))(module))
    # One in 20 (a middle value: hypothesis favours the bounds of a range, which would make it one in 3).
    if invalid if invalid is not None else draw(st.integers(0, 19)) == 7:
        mistake = draw(st.sampled_from(INVALID_KINDS))
        mistake(module)
        module.categories = {f"invalid: {mistake.__name__.strip('_').replace('_', ' ')}"}
    return module


