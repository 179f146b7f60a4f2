"""benches/many_accounts.py runs at its tiny size (figures printed, no time asserted), so it
cannot rot between bench rounds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.version_info < (3, 10), reason="Dask 2026.8 and Ray 2.60 need Python 3.10 or later")
def test_the_many_accounts_benchmark_runs_at_its_tiny_size(tmp_path: Path) -> None:
    env = dict(os.environ, BENCH_SIZE="tiny")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benches" / "many_accounts.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("6 accounts x 14 days, 12 partitions (7d windows)")
    rows = [line.split(" | ") for line in lines if line.startswith("| ") and not line.startswith("| runner")]
    assert [r[0].strip("| ").split(",")[0] for r in rows] == ["one process", "Dask LocalCluster", "Ray"]
    # Every runner pulled every conversation (the script exits non-zero otherwise): 6 x 20.
    assert [int(r[3]) for r in rows] == [120, 120, 120]
    assert all(0 < float(r[-1].strip(" |")) for r in rows)
