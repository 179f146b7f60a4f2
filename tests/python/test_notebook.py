"""examples/notebooks/quickstart.ipynb executes without error (so it can never rot)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(charts) == 3  # first response per agent, messages per hour, rating mix
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout")
    for vendor in ("bangwo8", "caresoft", "kf5"):
        assert f"PullResult({vendor}:" in text
    assert text.count("equal: True") == 3
    # Typed objects show as HTML in a notebook.
    assert any("chathaul-conversation" in o.get("data", {}).get("text/html", "") for o in outputs)
