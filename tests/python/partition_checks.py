"""What the partition tests (threads, Dask, Ray) check against the simulator's truth."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from datetime import datetime
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import chathaul

Key = Tuple[str, str, str]


def truth_of(sim: chathaul.Simulator, parts: Sequence[chathaul.Partition]) -> Dict[Key, int]:
    """(vendor, account, id) -> message count of every simulated conversation that the
    partitions' windows cover, as of the simulator's clock."""
    spans: Dict[Tuple[str, str], List[Tuple[datetime, datetime]]] = defaultdict(list)
    for p in parts:
        spans[(p.vendor, p.account)].append((p.since, p.until))
    want: Dict[Key, int] = {}
    for account in range(sim.accounts):
        for vendor in sim.vendors:
            for c in sim.truth(vendor, account=account):
                windows = spans.get((c.vendor, c.account), [])
                assert c.created_at is not None
                if any(s <= c.created_at < u for s, u in windows):
                    want[(c.vendor, c.account, c.id)] = len(c.messages)
    return want


def got_of(conversations: Any, messages: Any) -> Dict[Key, int]:
    """The same from two pulled tables (pandas), asserting neither has a duplicate row."""
    keys = list(zip(conversations["vendor"], conversations["account"], conversations["id"]))
    assert len(keys) == len(set(keys)), "a conversation was pulled twice"
    seqs = list(zip(messages["vendor"], messages["account"], messages["conversation_id"], messages["seq"]))
    assert len(seqs) == len(set(seqs)), "a message was pulled twice"
    counts: Dict[Key, int] = {k: 0 for k in keys}
    for v, a, c, _ in seqs:
        counts[(v, a, c)] += 1
    return counts


def overlaps(intervals: Iterable[Tuple[str, datetime, datetime]]) -> List[Tuple[str, Any, Any]]:
    """Pairs of intervals of the same account that overlap in time."""
    by_account: Dict[str, List[Tuple[datetime, datetime]]] = defaultdict(list)
    for account, start, end in intervals:
        by_account[account].append((start, end))
    out = []
    for account, spans in by_account.items():
        spans.sort()
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            if s2 < e1:
                out.append((account, (s1, e1), (s2, e2)))
    return out


DOCS = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def docs_example(heading: str, cwd: Path) -> str:
    """Runs the first Python block under `heading` in docs/python.md as written; its stdout."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    out = subprocess.run([sys.executable, "-c", block], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout
