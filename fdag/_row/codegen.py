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

from fdag._dag.plan import Plan
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._row.vector import FeatureVector, VectorContext
from fdag._values.calls import ErrorRecord, return_error
from fdag._values.types import INT64_MAX, INT64_MIN, FType, coerce_value
from fdag.errors import FeatureError, InputTypeError, MissingInputError

Compiled = Callable[[Mapping[str, Any], datetime], FeatureVector]

# A class test per type that passes exactly the values already in canonical form.
_FAST_TESTS = {
    float: "{v}.__class__ is float and {v} == {v}",
    int: f"{{v}}.__class__ is int and {INT64_MIN} <= {{v}} <= {INT64_MAX}",
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
    context: VectorContext,
) -> Compiled:
    """Generate and compile ``compute(request, as_of) -> FeatureVector`` for ``plan``.

    ``windows`` and ``lookups`` map each source of ``plan.windows`` / ``plan.lookups`` to its window or lookup
    state; the vector gets each window source's watermark and each lookup value's as-of (what the as-of of
    the nodes downstream needs). ``locks`` holds a lock for each source with several states; their queries run
    under it.
    """
    namespace: dict[str, Any] = {"datetime": datetime, "UTC": UTC}
    lines = ["def compute(request, as_of):", "    errors = []"]
    for name, ftype in plan.inputs.items():
        namespace[f"in_{name}"] = _input_coercer(name, ftype)
        namespace[f"missing_{name}"] = _missing(name, ftype)
        lines += [
            "    try:",
            f"        v_{name} = request[{name!r}]",
            "    except KeyError:",
            f"        raise missing_{name}() from None",
            f"    if not ({_fast_test(ftype, f'v_{name}')}):",
            f"        v_{name} = in_{name}(v_{name})",
        ]
    if plan.uses_as_of:
        lines.append("    v_as_of = as_of")
    watermarks, as_ofs = [], []
    for index, (name, source) in enumerate(plan.sources.items()):
        pad = "    "
        if name in locks:  # several states of one source: read them under the lock ingest holds
            namespace[f"lock_{index}"] = locks[name]
            lines.append(f"    with lock_{index}:")
            pad = "        "
        key = source.key
        if name in windows:
            namespace[f"window_{index}"] = windows[name]
            namespace[f"empty_{index}"] = [None] * len(plan.windows[name])
            lines += [
                f"{pad}if v_{key} is None:",
                f"{pad}    w_{index}, wm_{index} = empty_{index}, window_{index}.watermark",
                f"{pad}else:",
                f"{pad}    w_{index}, wm_{index} = window_{index}.query(v_{key}, as_of)",
            ]
            watermarks.append(f"{name!r}: wm_{index}")
        if name in lookups:
            namespace[f"lookup_{index}"] = lookups[name]
            namespace[f"nothing_{index}"] = [None] * len(plan.lookups[name])
            lines += [
                f"{pad}if v_{key} is None:",
                f"{pad}    l_{index} = la_{index} = nothing_{index}",
                f"{pad}else:",
                f"{pad}    l_{index}, la_{index} = lookup_{index}.query(v_{key}, as_of)",
            ]
    for index, name in enumerate(plan.sources):
        read: tuple[tuple[str, Sequence[WindowSpec | LookupSpec]], ...] = (
            (f"w_{index}", plan.windows.get(name, ())), (f"l_{index}", plan.lookups.get(name, ())))
        for values, specs in read:
            for i, spec in enumerate(specs):
                lines.append(f"    v_{spec.node} = {values}[{i}]")
                if spec.returns.base is float:  # NaN is null, as everywhere in fdag (e.g. inf - inf in a sum)
                    lines.append(f"    if v_{spec.node} != v_{spec.node}:\n        v_{spec.node} = None")
        as_ofs += [f"{spec.node!r}: la_{index}[{i}]" for i, spec in enumerate(plan.lookups.get(name, ()))]
    for node in plan.nodes:
        if node.kind != "feature":
            continue
        lines += _node_lines(node.name, node.params, node.returns, namespace)
        namespace[f"fn_{node.name}"] = node.function
        namespace[f"out_{node.name}"] = _return_coercer(node.returns)
        namespace[f"fail_{node.name}"] = _failer(node.name, node.location, errors)
    values = ", ".join(f"{name!r}: v_{name}" for name in plan.outputs)
    namespace["FeatureVector"], namespace["context"] = FeatureVector, context
    lines.append(f"    return FeatureVector({{{values}}}, as_of, {{{', '.join(watermarks)}}}, {{{', '.join(as_ofs)}}}, "
                 "context, errors)")
    exec(compile("\n".join(lines) + "\n", f"<fdag row plan {plan.outputs[:3]}>", "exec"), namespace)
    compute: Compiled = namespace["compute"]
    return compute


def _node_lines(name: str, params: Mapping[str, FType], returns: FType, namespace: dict[str, Any]) -> list[str]:
    required = [p for p, ftype in params.items() if not ftype.optional]
    args = ", ".join(f"v_{p}" for p in params)
    body = [
        "try:",
        f"    v_{name} = fn_{name}({args})",
        "except Exception as exc:",
        f"    v_{name} = None",
        f"    fail_{name}(exc, errors, request)",
        "else:",
        f"    if not ({_fast_test(returns, f'v_{name}')}):",
        f"        v_{name} = out_{name}(v_{name}, errors, request, fail_{name})",
    ]
    if not required:
        return [f"    {line}" for line in body]
    guard = " or ".join(f"v_{p} is None" for p in required)
    return [f"    if {guard}:", f"        v_{name} = None", "    else:", *(f"        {line}" for line in body)]


def _missing(name: str, ftype: FType) -> Callable[[], MissingInputError]:
    def build() -> MissingInputError:
        return MissingInputError(name, "is missing from the request",
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
