"""drivers/backfill.ipynb runs top to bottom in a real Jupyter kernel and shows what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

import fdag

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (dev dependency)")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (dev dependency)")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (dev dependency)")

ROOT = Path(__file__).resolve().parents[2]


def text_of(output: dict) -> str:
    """What an output shows as text: a stream's text or a result's ``text/plain``."""
    return output.get("text") or output.get("data", {}).get("text/plain", "")


def test_backfill_notebook_runs_and_shows_the_dag_the_run_and_the_training_set() -> None:
    notebook = nbformat.read(ROOT / "drivers" / "backfill.ipynb", as_version=4)
    # "python3" is the kernel ipykernel installs into the venv; jupyter_client starts it with this interpreter.
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120,
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    shown = "\n".join(text_of(output) for output in outputs)
    assert any("image/svg+xml" in output.get("data", {}) for output in outputs), "the DAG is not drawn inline"
    assert "14 partitions written (4000 rows), 0 up to date" in shown
    assert "0 partitions written (0 rows), 14 up to date" in shown
    assert "100%" in shown and "14/14" in shown  # the progress bar
    assert "shape: (8, 8)" in shown and "amount_vs_mean_10d" in shown
    assert f"'fdag_version': '{fdag.__version__}'" in shown
