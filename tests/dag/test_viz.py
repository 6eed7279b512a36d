"""DOT output is deterministic, escaped and snapshot-tested; rendering goes through Graphviz."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fdag
from tests.conftest import ROOT
from tests.resources import tiny

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "tiny.dot"


def test_dot_matches_the_snapshot() -> None:
    dot = fdag.Dag.from_modules(tiny).to_dot()
    if os.environ.get("FDAG_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(dot)
    assert dot == SNAPSHOT.read_text()


def test_dot_is_identical_across_processes_and_hash_seeds() -> None:
    code = "import fdag; from tests.resources import tiny; print(fdag.Dag.from_modules(tiny).to_dot(), end='')"
    outputs = {
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outputs) == 1


def test_dot_of_selected_outputs_only_draws_what_they_need() -> None:
    dot = fdag.Dag.from_modules(tiny).to_dot(outputs=["doubled"])
    assert '"doubled"' in dot and '"ratio"' not in dot and '"input:y"' not in dot


def test_labels_and_tooltips_are_escaped(make_module) -> None:  # type: ignore[no-untyped-def]
    module = make_module("quoted_mod", '''
        import fdag

        @fdag.tag(note='say "hi"\\\\')
        def q(x: int) -> int:
            """Line one "quoted".
            Line two."""
            return x
    ''')
    dot = fdag.Dag.from_modules(module).to_dot()
    assert 'tooltip="Line one \\"quoted\\".\\nLine two.\\ntags: note=' in dot
    assert shutil.which("dot") is None or subprocess.run(["dot", "-Tsvg"], input=dot, text=True,
                                                         capture_output=True).returncode == 0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_render_writes_svg_and_notebooks_get_inline_svg(tmp_path: Path) -> None:
    dag = fdag.Dag.from_modules(tiny)
    path = dag.render(tmp_path / "tiny.svg")
    assert path.read_text().lstrip().startswith("<?xml") and "<svg" in path.read_text()
    assert "<svg" in dag._repr_svg_()
    assert dag.render(tmp_path / "tiny.dot").read_text() == dag.to_dot()
