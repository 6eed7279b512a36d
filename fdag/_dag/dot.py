"""DOT text of a plan and rendering through Graphviz; the text is deterministic byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag.errors import MissingDependencyError


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes, quotes and newlines escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{escaped}"'


def _attrs(**attrs: str) -> str:
    return ", ".join(f"{key}={_quote(value)}" for key, value in sorted(attrs.items()))


def dag_to_dot(plan: Plan) -> str:
    """DOT source: request inputs as ellipses, sources as cylinders, features as boxes (windows shaded)."""
    lines = [
        "digraph fdag {",
        '  graph [rankdir="LR", fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize="11"];',
    ]
    inputs = sorted(plan.inputs) + ([AS_OF] if plan.uses_as_of else [])
    for name in inputs:
        ftype = "datetime" if name == AS_OF else str(plan.inputs[name])
        lines.append(f"  {_quote('input:' + name)} [{_attrs(label=f'{name}: {ftype}', shape='ellipse')}];")
    for name in sorted(plan.sources):
        source = plan.sources[name]
        label = f"{name}\nkey={source.key}, ts={source.timestamp}"
        lines.append(f"  {_quote('source:' + name)} [{_attrs(label=label, shape='cylinder')}];")
    outputs = set(plan.outputs)
    for node in plan.nodes:
        version = plan.versions[node.name]
        tags = ", ".join(f"{k}={v!r}" for k, v in sorted(node.tags.items()))
        checks = "; ".join(spec.describe() for spec in node.checks)
        tooltip = "\n".join(part for part in (node.doc, f"tags: {tags}" if tags else "",
                                               f"checks: {checks}" if checks else "", f"version {version}",
                                               node.location) if part)
        label = f"{node.name}\n{node.returns}"
        attrs = {"label": label, "shape": "box", "tooltip": tooltip}
        how = None
        if node.window is not None:
            how = f"{node.window.agg.label} over {node.window.over_label}"
        elif node.lookup is not None:
            how = f"lookup, {node.lookup.label}"
        if how is not None:
            attrs["label"] = f"{node.name}\n{how}\n{node.returns}"
            attrs.update(style="filled", fillcolor="#e8f0fe")
        if node.name in outputs:
            attrs["penwidth"] = "2"
        lines.append(f"  {_quote(node.name)} [{_attrs(**attrs)}];")
    planned = set(plan.node_names)
    for node in plan.nodes:
        if node.source is not None:
            lines.append(f"  {_quote('source:' + node.source.name)} -> {_quote(node.name)};")
        for param in node.params:
            origin = param if param in planned else f"input:{param}"
            lines.append(f"  {_quote(origin)} -> {_quote(node.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot(dot: str, path: Path) -> Path:
    """Write ``dot`` rendered in the format named by ``path``'s suffix; the ``.dot`` suffix writes the text."""
    fmt = path.suffix.lstrip(".") or "svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("dot", "gv"):
        path.write_text(dot)
        return path
    if shutil.which("dot") is None:
        raise MissingDependencyError("dot", f"rendering {path.name}", install="apt-get install graphviz (or brew "
                                     "install graphviz), or write a '.dot' file")
    import graphviz

    path.write_bytes(graphviz.Source(dot).pipe(format=fmt))
    return path
