"""The example notebooks execute without error (so they can never rot), and show what they say.

Both are committed with their outputs (scripts/execute-notebooks.py refreshes them); here they
run again from scratch in a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "examples" / "notebooks"


def execute(name: str, cwd: Path) -> List[Any]:
    """Runs the notebook (raising CellExecutionError on the first failing cell); its outputs."""
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    # Committed with outputs, so the charts show where the repository is browsed.
    assert all(cell.get("outputs") for cell in code[:-1]), f"{name} is committed without its outputs"
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    return outputs


def stdout(outputs: List[Any]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout")


def test_the_quickstart_notebook_runs(tmp_path: Path) -> None:
    outputs = execute("quickstart.ipynb", tmp_path)
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(charts) == 3  # first response per agent, messages per hour, rating mix
    text = stdout(outputs)
    for vendor in ("bangwo8", "caresoft", "kf5"):
        assert f"PullResult({vendor}:" in text
    assert text.count("equal: True") == 3
    # Typed objects show as HTML in a notebook.
    assert any("chathaul-conversation" in o.get("data", {}).get("text/html", "") for o in outputs)


def test_the_many_accounts_notebook_runs(tmp_path: Path) -> None:
    outputs = execute("many_accounts.ipynb", tmp_path)
    text = stdout(outputs)
    assert "156 partitions" in text  # 12 accounts x 13 weeks
    assert "from 156 partitions on 2 workers, all complete: True" in text
    assert "conversations: 3000 equal: True" in text
    assert text.count("equal: True") == 2
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(charts) == 1  # duration and satisfaction per account
    # The partitioned folders it wrote, as DuckDB read them.
    months = sorted(p.name for p in (tmp_path / "out" / "conversations" / "vendor=kf5" / "account=demo").iterdir())
    assert months == ["date=2024-01", "date=2024-02", "date=2024-03"]
