"""Self-contained HTML pages (the catalog, the skew report): inline CSS, JS and SVG, nothing fetched from a URL."""

from __future__ import annotations

import re
from html import escape
from typing import Any

import polars as pl

_STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0969da; --bad: #cf222e;
        --good: #1a7f37; }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; }
header { padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--soft); }
header h1 { margin: 0 0 4px; font-size: 20px; }
main { padding: 16px 24px; max-width: 1200px; }
.muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: var(--bad); font-weight: 600; }
.good { color: var(--good); font-weight: 600; }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; border: 1px solid var(--line);
         font-size: 12px; background: var(--soft); margin-right: 4px; }
#search { width: 100%; max-width: 480px; padding: 6px 10px; font-size: 15px; border: 1px solid var(--line);
          border-radius: 6px; }
.feature { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 12px 0; }
.feature h3 { margin: 0 0 4px; font-size: 16px; }
.feature dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; }
.feature dt { color: var(--muted); }
.feature dd { margin: 0; }
.health { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.dag { overflow: auto; border: 1px solid var(--line); border-radius: 8px; padding: 8px; max-height: 520px; }
.dag svg { max-width: 100%; height: auto; }
.dag g.node { cursor: pointer; }
.plot svg { width: 320px; height: auto; }
"""


def page(title: str, header: str, body: str, script: str = "") -> str:
    """A whole HTML document: ``header`` and ``body`` are HTML fragments; ``script`` is inline JavaScript."""
    code = f"<script>\n{script}\n</script>" if script else ""
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<header><h1>{escape(title)}</h1>{header}</header>\n<main>\n{body}\n</main>\n{code}\n</body>\n</html>\n")


def table(frame: pl.DataFrame, highlight: str | None = None) -> str:
    """``frame`` as an HTML table; numbers right-aligned, a non-zero ``highlight`` column in red."""
    head = "".join(f"<th>{escape(name)}</th>" for name in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        cells = []
        for name, value in row.items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            classes = ["num"] if numeric else []
            if name == highlight and value:
                classes.append("bad")
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attribute}>{escape(cell_text(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def cell_text(value: Any) -> str:
    """A value as table text: floats to 6 significant digits, null as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->|<metadata>.*?</metadata>", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def inline_svg(svg: str) -> str:
    """An SVG document (from Graphviz or matplotlib) as an element to put in HTML: no XML prolog, comments,
    metadata or namespace declarations (HTML needs none, and they are the only URLs such files hold)."""
    return _NAMESPACES.sub("", _PROLOG.sub("", svg)).strip()
