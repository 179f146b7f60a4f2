#!/usr/bin/env python3
"""Executes the example notebooks in place, so that the repository shows them with their outputs
(tables and charts). Run it with the test environment's interpreter after changing a notebook or
anything it shows:

    .venv-test/bin/python scripts/execute-notebooks.py [NOTEBOOK ...]

Each notebook runs in a temporary working directory (what it writes, such as `out/`, stays out
of the repository). tests/python/test_notebook.py executes them again and fails if a cell errors.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))


def main(paths: list[str]) -> None:
    for path in [Path(p).resolve() for p in paths] or NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as cwd:
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
        nbformat.write(nb, path)
        print(f"executed {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
