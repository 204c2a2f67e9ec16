"""``scripts/explore_results.ipynb`` runs end to end on a small run and a small sweep."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from synthetic_results import small_run_dir, small_sweep_dir

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "scripts" / "explore_results.ipynb"


def _read() -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    return nb


def test_committed_notebook_has_no_outputs() -> None:
    for cell in _read().cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_first_code_cell_holds_the_parameters() -> None:
    first = next(c for c in _read().cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    assert "MCENGINE_RUN" in first.source and "MCENGINE_SWEEP" in first.source


def test_notebook_executes(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipykernel")
    from nbclient import NotebookClient

    run_dir, sweep_dir = small_run_dir(), small_sweep_dir()
    monkeypatch.setenv("MCENGINE_RUN", str(run_dir / "results.nc"))
    monkeypatch.setenv("MCENGINE_SWEEP", str(sweep_dir))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    nb = _read()
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError with the traceback if a cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # fan chart, break-even, NPV CDF, waterfall, two tornados, two sweep heatmaps
    assert len(images) >= 8, f"only {len(images)} figures"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"run: {run_dir / 'results.nc'}" in text
    assert "sweep dims:" in text
