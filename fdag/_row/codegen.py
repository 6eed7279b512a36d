"""Compile a plan into one straight-line Python function: the row engine's hot path.

The generated code reads each request input once, checks its type with a class test (coercing only when the
test fails), calls every feature in dependency order with the null and error rules inlined, and reads window
and lookup values from one query per state (a source read by both has two, queried under one lock). No dicts of
intermediate results, no per-call interpretation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._row.checks import RowChecks
from fdag._row.vector import FeatureVector, VectorContext, returning_vector
from fdag._values.calls import WINDOW_INT64_OVERFLOW, ErrorRecord, return_error
from fdag._values.fields import split_fields
from fdag._values.types import INT64_MAX, INT64_MIN, FType, coerce_value
from fdag.errors import DagError, FeatureError, InputError, InputTypeError, MissingInputError, Problem

Compiled = Callable[[Mapping[str, Any], datetime], FeatureVector]

_COMPACT = 2**30 - 1

# A class test per type that passes exactly the values already in canonical form.
_FAST_TESTS = {
    float: "{v}.__class__ is float and {v} == {v}",
    # a compact int (one 30-bit digit) takes CPython's specialised comparison: the int64 bounds only past it
    int: f"{{v}}.__class__ is int and (-{_COMPACT} <= {{v}} <= {_COMPACT} or {INT64_MIN} <= {{v}} <= {INT64_MAX})",
    bool: "{v}.__class__ is bool",
    str: "{v}.__class__ is str",
    datetime: "{v}.__class__ is datetime and {v}.tzinfo is UTC",
}


def _fast_test(ftype: FType, var: str) -> str:
    """A test that is true for canonical values; the common (non-null) case is decided by the first clause."""
    template = _FAST_TESTS.get(ftype.base)
    return f"{template.format(v=var)} or {var} is None" if template else "False"


def compile_plan(
    plan: Plan, windows: Mapping[str, Any], lookups: Mapping[str, Any], errors: str, locks: Mapping[str, Any],
    context: VectorContext, overrides: frozenset[str] = frozenset(), kept: frozenset[str] | None = None,
) -> Compiled:
    """Generate and compile ``compute(request, as_of) -> FeatureVector`` for ``plan``.

    ``windows`` and ``lookups`` map each source of ``plan.windows`` / ``plan.lookups`` to its window or lookup
    state; the vector gets each window source's watermark and each lookup value's as-of (what the as-of of
    the nodes downstream needs). ``locks`` holds a lock for each source with several states; their queries run
    under it. The ``overrides`` are nodes read from the request instead of computed; ``kept`` (when given) are
    the inputs and nodes still needed with them: the others are neither read nor computed (window and lookup
    states are still queried, so each state's values keep their positions; a key not read is null).
    """
    # Generated code names things by position only (``v_3``, ``fn_3``): a user's name reaches it only as a str
    # literal (``_literal``), so no name, however odd, can break or extend the code.
    slot = {name: i for i, name in enumerate([*plan.inputs, *([AS_OF] if plan.uses_as_of else []), *plan.node_names])}
    var = {name: f"v_{i}" for name, i in slot.items()}
    computed = frozenset(n.name for n in plan.nodes if n.name not in overrides and (kept is None or n.name in kept))
    namespace: dict[str, Any] = {"datetime": datetime, "UTC": UTC, "window_overflow": _window_overflow,
                                 "computed": computed, "clash": _clasher(computed)}
    lines = ["def compute(request, as_of):", "    errors = []"]
    inputs = [name for name in plan.inputs if kept is None or name in kept]
    # A request key named like a computed node is refused. When every read input is required, a request of
    # exactly that many keys holds only them (a missing one raises, after the same test: ``_missing``).
    reads = len(inputs) + sum(node.name in overrides for node in plan.nodes)
    exact = "" if any(name in plan.defaults for name in inputs) else f"len(request) != {reads} and "
    lines += [f"    if {exact}not computed.isdisjoint(request):", "        raise clash(request)"]
    for name, ftype in plan.inputs.items():
        if name in inputs:
            lines += _read_input(name, ftype, slot[name], plan.defaults, namespace)
        else:
            lines.append(f"    {var[name]} = None")
    if plan.uses_as_of:
        lines.append(f"    {var[AS_OF]} = as_of")
    watermarks, as_ofs = [], []
    for index, (name, source) in enumerate(plan.sources.items()):
        pad = "    "
        if name in locks:  # several states of one source: read them under the lock ingest holds
            namespace[f"lock_{index}"] = locks[name]
            lines.append(f"    with lock_{index}:")
            pad = "        "
        key = var[source.key]
        if name in windows:
            namespace[f"window_{index}"] = windows[name]
            namespace[f"empty_{index}"] = [None] * len(plan.windows[name])
            lines += [
                f"{pad}if {key} is None:",
                f"{pad}    w_{index}, wm_{index} = empty_{index}, window_{index}.watermark",
                f"{pad}else:",
                f"{pad}    w_{index}, wm_{index} = window_{index}.query({key}, as_of)",
            ]
            watermarks.append(f"{_literal(name)}: wm_{index}")
        if name in lookups:
            namespace[f"lookup_{index}"] = lookups[name]
            namespace[f"nothing_{index}"] = [None] * len(plan.lookups[name])
            lines += [
                f"{pad}if {key} is None:",
                f"{pad}    l_{index} = la_{index} = nothing_{index}",
                f"{pad}else:",
                f"{pad}    l_{index}, la_{index} = lookup_{index}.query({key}, as_of)",
            ]
    locations = {node.name: node.location for node in plan.nodes}
    for index, name in enumerate(plan.sources):
        read: tuple[tuple[str, Sequence[WindowSpec | LookupSpec]], ...] = (
            (f"w_{index}", plan.windows.get(name, ())), (f"l_{index}", plan.lookups.get(name, ())))
        for values, specs in read:
            for i, spec in enumerate(specs):
                v = var[spec.node]
                lines.append(f"    {v} = {values}[{i}]")
                if spec.returns.base is float:  # NaN is null, as everywhere in fdag (e.g. inf - inf in a sum)
                    lines.append(f"    if {v} != {v}:\n        {v} = None")
                elif spec.returns.base is int:  # an int sum beyond int64 is an error, as a feature's int result is
                    at = slot[spec.node]
                    namespace[f"fail_{at}"] = _failer(spec.node, locations[spec.node], errors)
                    lines += [f"    if {v} is not None and not ({INT64_MIN} <= {v} <= {INT64_MAX}):",
                              f"        {v} = None",
                              f"        fail_{at}(window_overflow(), errors, request)"]
        as_ofs += [f"{_literal(spec.node)}: la_{index}[{i}]" for i, spec in enumerate(plan.lookups.get(name, ()))]
    for node in plan.nodes:
        if node.name in overrides:
            lines += _read_input(node.name, node.returns, slot[node.name], {}, namespace)
    groups: dict[str, int] = {}  # extract_fields function -> the slot of its first field node
    for node in plan.nodes:
        skipped = node.name in overrides or (kept is not None and node.name not in kept)
        if node.kind not in ("feature", "field") or skipped:
            continue
        i = slot[node.name]
        args = []
        for k, argument in enumerate(node.call_arguments()):
            if argument.source is None:
                namespace[f"c_{i}_{k}"] = argument.value
                args.append(f"c_{i}_{k}")
            else:
                args.append(var[argument.source])
        # the request instant is never None (``get`` made it a UTC datetime): no null test for it
        required = [var[p] for p, ftype in node.params.items() if not ftype.optional and p != AS_OF]
        namespace[f"fail_{i}"] = _failer(node.name, node.location, errors)
        if node.extracted is None:
            lines += _node_lines(i, args, required, node.returns)
            namespace[f"fn_{i}"] = node.function
            namespace[f"out_{i}"] = _return_coercer(node.returns)
            continue
        extracted = node.extracted
        if extracted.group not in groups:
            groups[extracted.group] = g = i
            namespace[f"fn_{g}"] = node.function
            namespace[f"failg_{g}"] = failer = _failer(extracted.group, extracted.location, errors)
            namespace[f"split_{g}"] = _splitter(extracted.group, extracted.fields, failer)
            lines += _group_lines(g, args, required)
        g = groups[extracted.group]
        position = [f for f, _ in extracted.fields].index(extracted.field)
        lines += [f"    v_{i} = s_{g}[{position}]",
                  f"    if e_{g} is not None and e_{g}[{position}] is not None:",
                  f"        fail_{i}(e_{g}[{position}], errors, request)"]
    values = ", ".join(f"{_literal(name)}: {var[name]}" for name in plan.outputs)
    namespace["context"] = context
    checks = RowChecks(plan)
    lines += checks.lines(var, namespace)
    returning, names = returning_vector(f"{{{values}}}", f"{{{', '.join(watermarks)}}}", f"{{{', '.join(as_ofs)}}}",
                                        checks.result)
    lines += returning
    namespace.update(names)
    exec(compile("\n".join(lines) + "\n", f"<fdag row plan {plan.outputs[:3]}>", "exec"), namespace)
    compute: Compiled = namespace["compute"]
    return compute


def _read_input(name: str, ftype: FType, i: int, defaults: Mapping[str, Any], namespace: dict[str, Any]
                ) -> list[str]:
    """Read request value ``name`` into ``v_<i>``, type-checked once (its default when absent and optional)."""
    v = f"v_{i}"
    namespace[f"in_{i}"] = _input_coercer(name, ftype)
    if name in defaults:  # an optional input: the parameter's default when the request lacks it
        namespace[f"default_{i}"] = defaults[name]
        absent = f"        {v} = default_{i}"
    else:
        namespace[f"missing_{i}"] = _missing(name, ftype, namespace["clash"])
        absent = f"        raise missing_{i}(request) from None"
    return [
        "    try:",
        f"        {v} = request[{_literal(name)}]",
        "    except KeyError:",
        absent,
        f"    if not ({_fast_test(ftype, v)}):",
        f"        {v} = in_{i}({v})",
    ]


def _literal(name: str) -> str:
    """``name`` as a Python string literal: the only form in which a user's name enters the generated code."""
    if type(name) is not str:  # a str subclass could repr to anything
        raise DagError([Problem(str(name), "", f"is named by a {type(name).__name__}, not a str",
                                "name every feature, input and source with a str")])
    return repr(name)


def _node_lines(slot: int, args: list[str], required: list[str], returns: FType) -> list[str]:
    """Call feature ``fn_<slot>`` on the variables ``args``, skipped when a ``required`` one is null."""
    v = f"v_{slot}"
    body = [
        "try:",
        f"    {v} = fn_{slot}({', '.join(args)})",
        "except Exception as exc:",
        f"    {v} = None",
        f"    fail_{slot}(exc, errors, request)",
        "else:",
        f"    if not ({_fast_test(returns, v)}):",
        f"        {v} = out_{slot}({v}, errors, request, fail_{slot})",
    ]
    if not required:
        return [f"    {line}" for line in body]
    guard = " or ".join(f"{p} is None" for p in required)
    return [f"    if {guard}:", f"        {v} = None", "    else:", *(f"        {line}" for line in body)]


def _group_lines(slot: int, args: list[str], required: list[str]) -> list[str]:
    """Call the extract_fields function ``fn_<slot>`` once: ``s_<slot>`` its field values, ``e_<slot>`` their
    errors (None when there are none), the function's own error recorded under its name."""
    s, e = f"s_{slot}", f"e_{slot}"
    call = [
        "try:",
        f"    raw_{slot} = fn_{slot}({', '.join(args)})",
        "except Exception as exc:",
        f"    {s}, {e} = split_{slot}(None, errors, request)",
        f"    failg_{slot}(exc, errors, request)",
        "else:",
        f"    {s}, {e} = split_{slot}(raw_{slot}, errors, request)",
    ]
    if not required:
        return [f"    {line}" for line in call]
    guard = " or ".join(f"{p} is None" for p in required)
    return [f"    if {guard}:", f"        {s}, {e} = split_{slot}(None, errors, request)", "    else:",
            *(f"        {line}" for line in call)]


def _splitter(group: str, fields: tuple[tuple[str, FType], ...], fail: Callable[..., None]
              ) -> Callable[..., tuple[list[Any], Any]]:
    """Field values of what an extract_fields function returned; its own error (not a dict) is recorded here."""
    nothing = [None] * len(fields)

    def split(value: Any, errors: list[ErrorRecord], request: Any) -> tuple[list[Any], Any]:
        if value is None:
            return nothing, None
        values, error, field_errors = split_fields(value, group, fields)
        if error is not None:
            fail(error, errors, request)
        return values, (field_errors if any(e is not None for e in field_errors) else None)

    return split


def _window_overflow() -> OverflowError:
    """The error of a window whose int value (a sum) leaves int64."""
    return OverflowError(WINDOW_INT64_OVERFLOW)


def _clasher(computed: frozenset[str]) -> Callable[[Mapping[str, Any]], InputError | None]:
    """The error for a request with a key named like a node in ``computed``, None for one without."""
    def clash(request: Mapping[str, Any]) -> InputError | None:
        name = next((key for key in request if key in computed), None)
        if name is None:
            return None
        return InputError(name, "is both a request key and a node this request computes",
                          f"drop that key, or pass overrides=[{name!r}] to use its value instead of computing it")

    return clash


def _missing(name: str, ftype: FType, clash: Callable[[Mapping[str, Any]], InputError | None]
             ) -> Callable[[Mapping[str, Any]], InputError]:
    """The error for a request without input ``name``; a key named like a computed node is reported first."""
    def build(request: Mapping[str, Any]) -> InputError:
        return clash(request) or MissingInputError(
            name, "is missing from the request",
            f"pass it, e.g. {{{name!r}: <{ftype}>}}, or ask for outputs that do not need it")

    return build


def _input_coercer(name: str, ftype: FType) -> Callable[[Any], Any]:
    def coerce(value: Any) -> Any:
        try:
            return coerce_value(value, ftype)
        except (TypeError, OverflowError) as exc:
            raise InputTypeError(name, str(exc), f"pass a {ftype.required()} or None") from None

    return coerce


def _return_coercer(returns: FType) -> Callable[..., Any]:
    def coerce(value: Any, errors: list[ErrorRecord], request: Any, fail: Callable[..., None]) -> Any:
        try:
            return coerce_value(value, returns)
        except (TypeError, OverflowError) as exc:
            fail(return_error(exc), errors, request)
            return None

    return coerce


def _failer(name: str, location: str, mode: str) -> Callable[[BaseException, list[ErrorRecord], Any], None]:
    if mode == "raise":
        def fail(exc: BaseException, errors: list[ErrorRecord], request: Any) -> None:
            raise FeatureError(name, location, exc, dict(request)) from exc
    else:
        def fail(exc: BaseException, errors: list[ErrorRecord], request: Any) -> None:
            errors.append(ErrorRecord(name, type(exc).__name__, str(exc)))
    return fail
