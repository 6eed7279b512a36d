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
itself, and every public name must carry a docstring whose ``Parameters`` are real parameters and whose
``Example::`` runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import shutil
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer, redis_server  # noqa: F401 (a fixture of the docstring examples)

ROOT = Path(__file__).resolve().parents[2]
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
                compile(code, f"{page.relative_to(ROOT)}:{line}", "exec")  # valid even if no block imports it
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
        warnings.warn(f"skipped for want of their requirement (tests/integrations/run.sh has it): {'; '.join(skipped)}",
                      stacklevel=1)


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


def public_objects() -> list[tuple[str, Any]]:
    """Every name of ``fdag.__all__``, and every public method and property a public class defines in fdag."""
    import fdag

    found: list[tuple[str, Any]] = []
    for name in fdag.__all__:
        value = getattr(fdag, name)
        found.append((name, value))
        if not inspect.isclass(value):
            continue
        for klass in value.__mro__:
            if not klass.__module__.startswith("fdag"):
                continue
            for attribute, member in vars(klass).items():
                if attribute.startswith("_") or any(f"{name}.{attribute}" == seen for seen, _ in found):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, property) or inspect.isfunction(member):
                    found.append((f"{name}.{attribute}", member))
    return found


def documented_parameters(doc: str) -> list[str]:
    """The names a numpy-style ``Parameters`` section lists (``a, b : int`` lists two; ``**tags`` is ``tags``)."""
    lines = doc.splitlines()
    for start in range(len(lines) - 1):
        if lines[start].strip() == "Parameters" and set(lines[start + 1].strip()) == {"-"}:
            break
    else:
        return []
    indent = len(lines[start]) - len(lines[start].lstrip())
    names: list[str] = []
    for position in range(start + 2, len(lines)):
        text = lines[position]
        if not text.strip():
            continue
        depth = len(text) - len(text.lstrip())
        following = lines[position + 1].strip() if position + 1 < len(lines) else ""
        if depth < indent or (depth == indent and (set(following) == {"-"} or text.rstrip().endswith("::"))):
            break  # the next section, or the example
        if depth == indent:
            names += [part.strip().lstrip("*") for part in text.split(" : ", 1)[0].rstrip(":").split(",")]
    return names


def signature_parameters(value: Any) -> set[str] | None:
    """The parameter names of a callable (a class: of its constructor); None when it has no signature."""
    function = value.fget if isinstance(value, property) else value
    try:
        return set(inspect.signature(function).parameters) - {"self", "cls"}
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize(("name", "value"), public_objects(), ids=[name for name, _ in public_objects()])
def test_public_names_have_docstrings_with_real_parameters(name: str, value: Callable[..., Any]) -> None:
    doc = inspect.getdoc(value.fget if isinstance(value, property) else value)
    assert doc and doc.strip(), f"fdag.{name} has no docstring"
    if inspect.isclass(value):  # a class without one inherits nothing, but a dataclass makes one of its signature
        assert value.__doc__ and not value.__doc__.startswith(f"{value.__name__}("), f"fdag.{name} has no docstring"
    listed = documented_parameters(doc)
    actual = signature_parameters(value)
    assert len(listed) == len(set(listed)), f"fdag.{name} documents a parameter twice: {listed}"
    if actual is not None:
        stale = [p for p in listed if p not in actual]
        assert not stale, f"fdag.{name} documents {stale}, which its signature {sorted(actual)} does not have"
        missing = sorted(actual - set(listed)) if listed else []  # a section, once written, covers every parameter
        assert not missing, f"fdag.{name} has a Parameters section without {missing}"


def test_parameters_are_read_as_documented() -> None:
    doc = inspect.cleandoc('''Summary.

    Parameters
    ----------
    spine : frame
        The requests.
    sources, as_of
        Two at once.
    **tags : Any
        Metadata.

    Returns
    -------
    int
        Not a parameter.
    ''')
    assert documented_parameters(doc) == ["spine", "sources", "as_of", "tags"]
    assert documented_parameters("Summary.\n\nParameters\n----------\nx : int\n\nExample::\n\n    f(1)\n") == ["x"]
    assert documented_parameters("No section.") == []


def examples_of(doc: str) -> list[str]:
    """The literal blocks (``Example::`` and the indented lines after it) of a docstring, dedented."""
    lines = doc.splitlines()
    found: list[str] = []
    for start, text in enumerate(lines):
        if not text.rstrip().endswith("::"):
            continue
        indent = len(text) - len(text.lstrip())
        body = []
        for line in lines[start + 1:]:
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
        found.append(textwrap.dedent("\n".join(body)).strip("\n") + "\n")
    return found


EXAMPLES = [
    (f"{name}#{number}", example)
    for name, value in public_objects()
    for number, example in enumerate(examples_of(inspect.getdoc(value.fget if isinstance(value, property) else value)
                                                 or ""), 1)
]


@pytest.mark.parametrize("example", [code for _, code in EXAMPLES], ids=[name for name, _ in EXAMPLES])
def test_docstring_examples_run(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                request: pytest.FixtureRequest) -> None:
    monkeypatch.chdir(tmp_path)
    if "REDIS_URL" in example:
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_server").url)
    exec(compile(example, "<docstring example>", "exec"), {"__name__": "docstring_example"})


def test_examples_are_read_as_written() -> None:
    doc = "Summary.\n\nExample::\n\n    x = 1\n\n    y = x\n\nAfter.\n"
    assert examples_of(doc) == ["x = 1\n\ny = x\n"]
    assert len(EXAMPLES) >= 10
