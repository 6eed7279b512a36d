"""Docs that run: every ```python block of README.md and docs/*.md runs, each page's blocks in order.

A page is one program: its blocks share a namespace, in a fresh working directory with the repository importable,
so an example may use what an earlier block of the same page defined, and nothing else. Two first-line comments
say how a block is meant to be used, as a reader would:

- ``# my_features.py`` (a relative path ending in ``.py``): the block is a file the reader saves; it is written to
  the working directory, which is importable, as it is for a script run from there.
- ``# requires: airflow`` (comma-separated): the block needs a module (or, for a name that is not a module name,
  an executable on ``PATH``) that the main environment lacks by design. Without it the block is skipped with a
  warning, unless ``FDAG_REQUIRE_INTEGRATIONS`` names it (tests/integrations/run.sh runs such pages in the
  environment that has it); then the page fails. ``redis-server`` starts a throwaway server and exports its
  url as ``REDIS_URL`` for the page.

Besides running, the docs must not cite the design contract (a file outside this repository) but say the rule
itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE_HEADER = re.compile(r"# ((?:[\w.-]+/)*[\w-]+\.py)\s*$")
REQUIRES_HEADER = re.compile(r"# requires:\s*(.+?)\s*$")


def blocks_of(page: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each python block of ``page``."""
    text = page.read_text()
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


def first_line(code: str) -> str:
    return code.split("\n", 1)[0]


def requirements(code: str) -> list[str]:
    """What a ``# requires: a, b`` first line names (nothing without one)."""
    found = REQUIRES_HEADER.fullmatch(first_line(code))
    return [name.strip() for name in found.group(1).split(",")] if found else []


def available(requirement: str) -> bool:
    """A module name is available when importable; any other name when it is an executable on PATH."""
    if requirement.isidentifier():
        return importlib.util.find_spec(requirement) is not None
    return shutil.which(requirement) is not None


def required_here() -> set[str]:
    """The integrations this environment must have (a missing one fails instead of skipping)."""
    return {name.strip() for name in re.split(r"[,\s]+", os.environ.get("FDAG_REQUIRE_INTEGRATIONS", "")) if name}


@pytest.fixture
def forget_modules(tmp_path: Path) -> Iterator[None]:
    """Modules a page imported from its working directory are forgotten, so another page's file of that name loads."""
    yield
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").is_relative_to(tmp_path):
            del sys.modules[name]


@pytest.mark.parametrize("page", [p for p in PAGES if blocks_of(p)], ids=lambda p: p.name)
def test_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_modules: None) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.syspath_prepend(str(tmp_path))  # a script's own folder is importable
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow_home"))  # Airflow writes its config there on import
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    skipped: list[str] = []
    servers: list[RedisServer] = []
    try:
        for line, code in blocks_of(page):
            where = f"{page.name} block at line {line}"
            saved = FILE_HEADER.fullmatch(first_line(code))
            if saved:
                target = tmp_path / saved.group(1)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(code)
                importlib.invalidate_caches()
                continue
            missing = [name for name in requirements(code) if not available(name)]
            demanded = sorted(set(missing) & required_here())
            if demanded:
                pytest.fail(f"{where} requires {', '.join(demanded)} (FDAG_REQUIRE_INTEGRATIONS), not installed")
            if missing:
                skipped.append(f"{where} (needs {', '.join(missing)})")
                continue
            if "redis-server" in requirements(code) and not servers:
                servers.append(RedisServer(tmp_path / "redis").start())
                monkeypatch.setenv("REDIS_URL", servers[0].url)
            try:
                exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"{where} fails: {type(exc).__name__}: {exc}") from exc
    finally:
        for server in servers:
            server.stop()
    if skipped:
        warnings.warn(f"skipped, run by tests/integrations/run.sh: {'; '.join(skipped)}", stacklevel=1)


def test_blocks_are_found() -> None:
    assert sum(len(blocks_of(p)) for p in PAGES) >= 10
    assert os.path.exists(ROOT / "README.md") and sys.version_info >= (3, 11)


def test_block_headers_are_read() -> None:
    assert FILE_HEADER.fullmatch("# my_features.py") and FILE_HEADER.fullmatch("# pkg/sub_mod.py")
    assert not FILE_HEADER.fullmatch("# spine: request inputs + an as_of column; see features.py")
    assert requirements("# requires: airflow, redis-server\nimport airflow\n") == ["airflow", "redis-server"]
    assert requirements("import airflow  # requires: airflow\n") == []
    assert available("pytest") and not available("surely_no_such_module") and not available("surely-no-such-tool")


# The design contract lives outside this repository: a reader cannot follow a citation of it.
CITATION = re.compile(r"DESIGN|design contract", re.I)


def test_nothing_cites_the_design_contract() -> None:
    files = [ROOT / "README.md", *(p for folder in ("fdag", "docs") for p in (ROOT / folder).rglob("*") if p.is_file())]
    citing = [
        f"{path.relative_to(ROOT)}:{number}: {text.strip()}"
        for path in files
        if "__pycache__" not in path.parts
        for number, text in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if CITATION.search(text)
    ]
    assert not citing, "state the rule instead of citing the design contract:\n" + "\n".join(citing)
