"""Docs that run: every ```python block of README.md and docs/*.md runs, each page's blocks in order.

A page is one program: its blocks share a namespace, in a fresh working directory with the repository importable,
so an example may use what an earlier block of the same page defined, and nothing else.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks_of(page: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each python block of ``page``."""
    text = page.read_text()
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


@pytest.mark.parametrize("page", [p for p in PAGES if blocks_of(p)], ids=lambda p: p.name)
def test_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, code in blocks_of(page):
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.name} block at line {line} fails: {type(exc).__name__}: {exc}") from exc


def test_blocks_are_found() -> None:
    assert sum(len(blocks_of(p)) for p in PAGES) >= 10
    assert os.path.exists(ROOT / "README.md") and sys.version_info >= (3, 11)
