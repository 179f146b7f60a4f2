"""The docs work as written: the Python quick start in docs/python.md (the README's Python
section) runs, and every link between the docs leads somewhere inside the repository."""

from __future__ import annotations

import os
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


# The product docs: every Markdown file of the repository a user reads.
DOCS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", ROOT / "BENCHMARKS.md"]
    + list((ROOT / "docs").rglob("*.md"))
    + list((ROOT / "crates").glob("*/README.md"))
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchor(heading: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, blanks as `-`."""
    kept = "".join(ch for ch in heading.strip().lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+\s+(.*)$", _prose(path.read_text(encoding="utf-8")), flags=re.M)
    return {_anchor(h.replace("`", "")) for h in headings}


def test_every_relative_link_in_the_docs_resolves() -> None:
    assert (ROOT / "docs" / "vendors" / "README.md") in DOCS
    broken = []
    for doc in DOCS:
        for target in LINK.findall(_prose(doc.read_text(encoding="utf-8"))):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve()
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_docs_and_code_point_at_nothing_outside_the_repository() -> None:
    # Vendor knowledge lives in docs/vendors/; the team's notes beside the
    # repository are not something a user of the crates has.
    outside = re.compile(r"\.\./" + "shared|shared/" + "VENDORS|docs/" + "mapping\\.md")
    hits = []
    for folder, dirs, files in os.walk(ROOT):
        # Build output and virtual environments are not ours (and are large).
        dirs[:] = [d for d in dirs if d not in {".git", "target", "node_modules"} and not d.startswith(".venv")]
        for name in files:
            path = Path(folder) / name
            if path.suffix not in {".md", ".rs", ".py", ".toml"}:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if outside.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)
    pages = {p.name for p in (ROOT / "docs" / "vendors").glob("*.md")}
    assert {"README.md", "bangwo8.md", "kf5.md", "caresoft.md"} <= pages
