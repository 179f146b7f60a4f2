"""The Python quick start in docs/python.md (the README's Python section) works as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "python.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    quick_start = blocks[0]
    assert "chathaul.Simulator" in quick_start
    out = subprocess.run(
        [sys.executable, "-c", quick_start], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # Three conversations, then the counts line, then the per-agent medians.
    assert len(lines[0].split()) >= 4
    counts = [line for line in lines if line.endswith(" messages")]
    assert len(counts) == 1
    n_conversations = int(counts[0].split()[0])
    assert n_conversations > 0
    assert "agent_name" in out.stdout


def test_the_readme_python_example_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "import chathaul" in b]
    assert blocks, "README.md has a Python example"
    out = subprocess.run([sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and all(len(line.split()) >= 3 for line in lines)
