"""Shared fixtures: one in-process simulator for the whole session."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import chathaul

VENDORS = ["bangwo8", "caresoft", "kf5"]


@pytest.fixture(scope="session")
def sim() -> Iterator[chathaul.Simulator]:
    with chathaul.Simulator(seed=7, conversations=40, messages=8) as s:
        yield s


def by_id(items: List[chathaul.Conversation]) -> List[chathaul.Conversation]:
    """Sorted by id, numeric ids numerically (as the simulator's truth is)."""
    return sorted(items, key=lambda c: (len(c.id), c.id) if c.id.isdigit() else (0, c.id))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Dict[str, Any]]:
    """A throwaway PostgreSQL server (crates/chathaul-test-postgres), stopped at the end.

    Built with cargo; a machine without the server binaries fails here with the
    harness's message saying how to install them (scripts/ensure-postgres.sh)."""
    root = Path(__file__).resolve().parents[2]
    subprocess.run(["cargo", "build", "-q", "-p", "chathaul-test-postgres"], cwd=root, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    proc = subprocess.Popen(
        [str(target / "debug" / "chathaul-test-postgres")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        pytest.fail("the test PostgreSQL server did not start (see its error above)")
    info: Dict[str, Any] = json.loads(line)
    try:
        yield info
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def psql(server: Dict[str, Any], database: str, sql: str) -> str:
    """SQL as the superuser through psql: unaligned rows, `|` between columns."""
    url = f"postgresql://{server['user']}@{server['host']}:{server['port']}/{database}?sslmode=disable"
    out = subprocess.run(
        [server["psql"], url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()
