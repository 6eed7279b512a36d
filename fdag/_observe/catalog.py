"""The feature catalog: every feature's doc, type, version, tags, kind and lineage, as JSON records, a Markdown
table, or one self-contained HTML page (search box, the DAG drawn in SVG, and optionally each feature's data
health in a backfilled dataset)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from html import escape
from typing import Any

from fdag._dag.dag import Dag
from fdag._dag.node import Node
from fdag._observe.health import FeatureHealth, data_health
from fdag._observe.html import inline_svg, page

_SCRIPT = """
const box = document.getElementById("search");
const count = document.getElementById("shown");
const cards = Array.from(document.querySelectorAll(".feature"));
function filter() {
  const words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let shown = 0;
  for (const card of cards) {
    const match = words.every((word) => card.dataset.search.includes(word));
    card.hidden = !match;
    shown += match ? 1 : 0;
  }
  count.textContent = shown + " of " + cards.length + " features";
}
box.addEventListener("input", () => {
  history.replaceState(null, "", box.value ? "#q=" + encodeURIComponent(box.value) : location.pathname);
  filter();
});
if (location.hash.startsWith("#q=")) box.value = decodeURIComponent(location.hash.slice(3));
filter();
for (const node of document.querySelectorAll(".dag g.node")) {
  node.addEventListener("click", () => {
    const card = document.getElementById("feature-" + node.querySelector("title").textContent);
    if (!card) return;
    box.value = "";
    filter();
    card.scrollIntoView({behavior: "smooth", block: "start"});
  });
}
"""


def catalog_records(dag: Dag, outputs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One record per feature (of those ``outputs`` need, or all): name, doc, type, kind, version, tags, checks
    (``@fdag.check_output``, as ``range [0.0, 1.0] (warn)``), direct upstream, location and lineage."""
    records = []
    for node in dag.plan(outputs).nodes:
        lineage = dag.lineage(node.name).to_dict()
        records.append({
            "name": node.name,
            "doc": node.doc,
            "type": str(node.returns),
            "kind": node.kind,
            "version": dag.version(node.name),
            "tags": lineage["tags"],
            "checks": [spec.describe() for spec in node.checks],
            "upstream": list(node.params),
            "location": node.location,
            "lineage": {key: lineage[key] for key in ("upstream", "inputs", "sources")},
        })
    return records


def catalog_markdown(records: list[dict[str, Any]]) -> str:
    """The records as a Markdown table; a ``|`` (or line break) in any cell is escaped so the table holds."""
    lines = ["| feature | type | version | tags | checks | upstream | description |", "|---|---|---|---|---|---|---|"]
    for r in records:
        cells = [f"`{r['name']}`", r["type"], r["version"], ", ".join(f"{k}={v}" for k, v in r["tags"].items()),
                 "; ".join(r["checks"]), ", ".join(r["upstream"]), str(r["doc"]).split("\n")[0]]
        lines.append("| " + " | ".join(_markdown_cell(str(cell)) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _markdown_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def catalog_html(dag: Dag, data: str | os.PathLike[str] | None = None, title: str = "fdag feature catalog",
                 outputs: Sequence[str] | None = None) -> str:
    """The catalog as one self-contained HTML page (of what ``outputs`` need, or every feature); with ``data`` (a
    ``FrameDriver.backfill`` dataset), each feature's rows, null rate and distribution in it."""
    health = data_health(dag, data) if data is not None else {}
    records = catalog_records(dag, outputs)
    inputs = ", ".join(f"<code>{escape(name)}: {escape(str(ftype))}</code>" for name, ftype in dag.inputs.items())
    where = f' Data: <code>{escape(os.fspath(data))}</code>.' if data is not None else ""
    header = (f'<p class="muted">{len(records)} features; request inputs: {inputs or "none"}.{where}</p>'
              '<input id="search" type="search" placeholder="Search features: name, doc, tag, type, source…" '
              'autofocus> <span id="shown" class="muted"></span>')
    cards = "\n".join(_card(dag.nodes[r["name"]], r, health.get(r["name"])) for r in records)
    body = f'<h2>DAG</h2>\n<div class="dag">{_dag_svg(dag, outputs)}</div>\n<h2>Features</h2>\n{cards}'
    return page(title, header, body, _SCRIPT)


def _dag_svg(dag: Dag, outputs: Sequence[str] | None) -> str:
    if shutil.which("dot") is None:
        return '<p class="muted">Graphviz is not installed, so the DAG is not drawn (apt-get install graphviz).</p>'
    import graphviz

    return inline_svg(graphviz.Source(dag.to_dot(outputs)).pipe(format="svg").decode())


def _card(node: Node, record: dict[str, Any], health: FeatureHealth | None) -> str:
    lineage = record["lineage"]
    tags = " ".join(f'<span class="badge">{escape(f"{k}={v}")}</span>' for k, v in record["tags"].items())
    upstream = ", ".join(f'<a href="#feature-{escape(name)}"><code>{escape(name)}</code></a> '
                         f'<span class="muted mono">{escape(version)}</span>'
                         for name, version in lineage["upstream"].items())
    facts = [("version", f"<code>{escape(record['version'])}</code>"),
             ("defined in", f"<code>{escape(record['location'])}</code>")]
    if tags:
        facts.append(("tags", tags))
    if record["checks"]:
        facts.append(("checks", "<br>".join(f"<code>{escape(check)}</code>" for check in record["checks"])))
    if node.window is not None:
        how, source = f"{node.window.agg.label} over {node.window.over_label}", node.window.source
    elif node.lookup is not None:
        how, source = f"latest row, {node.lookup.label}", node.lookup.source
    if node.window is not None or node.lookup is not None:
        facts.append(("computed as", f"{escape(how)} of <code>{escape(source.name)}</code>"))
    facts += [("upstream", upstream or '<span class="muted">none</span>'),
              ("request inputs", ", ".join(f"<code>{escape(name)}: {escape(ftype)}</code>"
                                           for name, ftype in lineage["inputs"].items()) or "none"),
              ("sources", ", ".join(f"<code>{escape(name)}</code> (key {escape(key)})"
                                    for name, key in lineage["sources"].items()) or "none")]
    if health is not None:
        facts += health.facts(record["version"])
    searchable = " ".join([record["name"], record["kind"], record["type"], record["doc"],
                           *(f"{k}={v}" for k, v in record["tags"].items()), *record["checks"], *lineage["upstream"],
                           *lineage["inputs"], *lineage["sources"]]).lower()
    doc = f"<p>{escape(record['doc'])}</p>" if record["doc"] else '<p class="muted">No description.</p>'
    plot = f'<div class="plot">{health.plot}</div>' if health is not None and health.plot else ""
    rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    return (f'<section class="feature" id="feature-{escape(record["name"])}" '
            f'data-search="{escape(searchable)}">'
            f'<h3><code>{escape(record["name"])}</code> <span class="badge">{escape(record["kind"])}</span>'
            f'<span class="badge">{escape(record["type"])}</span></h3>{doc}'
            f'<div class="health"><dl>{rows}</dl>{plot}</div></section>')
