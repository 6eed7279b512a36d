"""`import fdag` stays cheap: a model service must not pay for what only checks, backfills and drawings use."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

# Each is imported where it is used: hypothesis by fdag.check, networkx by a cycle report, pyarrow by list
# aggregations, pandas only when a pandas frame is passed, Ray/Dagster by their integrations, graphviz by
# rendering, tqdm by backfill's progress bar, numpy by the offline engine (FrameDriver).
HEAVY = ["hypothesis", "networkx", "pyarrow", "pandas", "ray", "dagster", "graphviz", "tqdm", "numpy"]


def loaded_after(code: str) -> list[str]:
    """The heavy modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(ROOT)})
    return list(json.loads(result.stdout))


def test_import_fdag_loads_none_of_the_heavy_libraries() -> None:
    assert loaded_after("import fdag") == []


def test_serving_a_request_loads_none_of_them() -> None:
    code = ("import fdag\nfrom tests.resources import tiny\n"
            "row = fdag.RowDriver(fdag.Dag.from_modules(tiny))\nrow.get({'x': 1, 'y': 2.0, 'name': 'a'})")
    assert loaded_after(code) == []


def test_lazy_names_load_on_first_use() -> None:
    assert loaded_after("import fdag\nfdag.FrameDriver") == ["numpy"]
    assert "hypothesis" in loaded_after("import fdag\nfdag.check")
    assert "networkx" in loaded_after("import fdag, pytest\nfrom tests.resources import cyclic\n"
                                      "with pytest.raises(fdag.DagError): fdag.Dag.from_modules(cyclic)")
