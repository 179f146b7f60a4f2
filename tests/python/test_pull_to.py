"""conn.pull_to(): files as `chathaul pull -o` writes them; partitioned Parquet read back by DuckDB and pandas."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Dict, List, Tuple

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

import chathaul
from conftest import VENDORS

ROOT = Path(__file__).resolve().parents[2]


def tree(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` (staging folders included), by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def duck(sql: str, lake: Path) -> List[Tuple]:
    con = duckdb.connect()
    try:
        return con.execute(
            sql.replace("CONVERSATIONS", f"read_parquet('{lake}/conversations/**/*.parquet', hive_partitioning = true)")
            .replace("MESSAGES", f"read_parquet('{lake}/messages/**/*.parquet', hive_partitioning = true)")
        ).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def lake(sim: chathaul.Simulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every vendor of the session's simulator, pulled into one partitioned folder."""
    root = tmp_path_factory.mktemp("lake") / "chats"
    for vendor in VENDORS:
        written = sim.connect(vendor).pull_to(root, partition_by="day", progress=False)
        assert written.complete, written.shortfalls
        assert written.report["conversations"] == 40
        assert all(f.endswith(".parquet") for f in written.files)
        assert repr(written).startswith(f"PulledFiles({vendor}:")
    return root


def test_duckdb_reads_the_partitioned_folder_as_the_truth(sim: chathaul.Simulator, lake: Path) -> None:
    truth = sim.truth()
    got = duck("SELECT vendor, account, id, message_count, date, created_at FROM CONVERSATIONS", lake)
    assert sorted((v, a, i) for v, a, i, *_ in got) == sorted((c.vendor, c.account, c.id) for c in truth)
    by_key = {(c.vendor, c.id): c for c in truth}
    for vendor, _, id, message_count, day, created_at in got:
        c = by_key[(vendor, id)]
        assert message_count == len(c.messages)
        # The partition is the UTC date of creation, and DuckDB reads it as a date.
        assert c.created_at is not None
        assert day == c.created_at.date() == created_at.astimezone(c.created_at.tzinfo).date()
    counted = duck("SELECT vendor, conversation_id, count(*) FROM MESSAGES GROUP BY ALL", lake)
    assert sorted(counted) == sorted((c.vendor, c.id, len(c.messages)) for c in truth if c.messages)
    # A message is in its conversation's partition.
    misplaced = duck(
        "SELECT count(*) FROM MESSAGES m JOIN CONVERSATIONS c "
        "ON m.vendor = c.vendor AND m.account = c.account AND m.conversation_id = c.id WHERE m.date <> c.date",
        lake,
    )
    assert misplaced == [(0,)]


def test_pandas_reads_each_tree_as_one_table(sim: chathaul.Simulator, lake: Path) -> None:
    conversations = pd.read_parquet(lake / "conversations")
    messages = pd.read_parquet(lake / "messages")
    assert len(conversations) == 3 * 40
    assert len(messages) == sum(len(c.messages) for c in sim.truth())
    assert set(conversations["vendor"].astype(str)) == set(VENDORS)


def test_a_rerun_over_the_same_window_leaves_the_same_files_and_rows(sim: chathaul.Simulator, lake: Path) -> None:
    before = tree(lake)
    assert not [f for f in before if ".chathaul-staging" in f or f.endswith(".partial")]
    counts = duck("SELECT count(*), count(DISTINCT (vendor, id)) FROM CONVERSATIONS", lake)
    written = sim.connect("kf5").pull_to(lake, partition_by="day", progress=False)
    assert sorted(str(Path(f).relative_to(lake)) for f in written.files) == sorted(
        f for f in before if "vendor=kf5" in f
    )
    after = tree(lake)
    assert sorted(after) == sorted(before)
    assert duck("SELECT count(*), count(DISTINCT (vendor, id)) FROM CONVERSATIONS", lake) == counts == [(120, 120)]
    n_messages = sum(len(c.messages) for c in sim.truth())
    assert duck("SELECT count(*) FROM MESSAGES", lake) == [(n_messages,)]


def test_by_month_a_partition_per_month(sim: chathaul.Simulator, tmp_path: Path) -> None:
    written = sim.connect("caresoft").pull_to(tmp_path, partition_by="month", messages=False, progress=False)
    months = sorted({c.created_at.strftime("%Y-%m") for c in sim.truth("caresoft") if c.created_at})
    dirs = sorted({Path(f).parent.name for f in written.files})
    assert dirs == [f"date={m}" for m in months]
    assert duck("SELECT count(*) FROM CONVERSATIONS", tmp_path) == [(40,)]


def test_single_files_by_extension(sim: chathaul.Simulator, tmp_path: Path) -> None:
    conn = sim.connect("bangwo8")
    written = conn.pull_to(tmp_path / "out.parquet", progress=False)
    assert written.files == [str(tmp_path / "out.conversations.parquet"), str(tmp_path / "out.messages.parquet")]
    assert pq.read_table(written.files[0]).num_rows == 40
    assert pq.read_table(written.files[1]).num_rows == sum(len(c.messages) for c in sim.truth("bangwo8"))
    jsonl = conn.pull_to(tmp_path / "out.jsonl", limit=5, progress=False)
    assert jsonl.files == [str(tmp_path / "out.jsonl")]
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 5
    assert jsonl.report["limit_reached"]


def test_bad_arguments_are_refused_before_anything_is_written(sim: chathaul.Simulator, tmp_path: Path) -> None:
    conn = sim.connect("kf5")
    with pytest.raises(chathaul.ConfigError, match="partition_by must be `day` or `month`, not `week`"):
        conn.pull_to(tmp_path / "lake", partition_by="week", progress=False)
    taken = tmp_path / "taken"
    taken.write_text("mine")
    with pytest.raises(chathaul.SinkError, match="partitioned output \\(by day\\) is a folder, not a file"):
        conn.pull_to(taken, partition_by="day", progress=False)
    with pytest.raises(chathaul.SinkError, match="unknown output format"):
        conn.pull_to(tmp_path / "out.xlsx", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_failed_pull_leaves_the_folder_as_it_was(sim: chathaul.Simulator, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    sim.connect("kf5").pull_to(lake, partition_by="day", progress=False)
    before = tree(lake)
    wrong = chathaul.connect("kf5", sim.config("kf5"), password="not-the-password")
    with pytest.raises(chathaul.AuthError):
        wrong.pull_to(lake, partition_by="day", progress=False)
    assert tree(lake) == before


CHILD = textwrap.dedent(
    """
    import signal, sys, time
    import chathaul

    # A child started in the background of a shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with chathaul.Simulator(conversations=400, latency_ms=200) as sim:
        conn = sim.connect("kf5")
        print("ready", flush=True)
        try:
            conn.pull_to(sys.argv[1], partition_by="day", progress=False)
        except KeyboardInterrupt:
            print("interrupted", time.monotonic(), flush=True)
            sys.exit(0)
        print("finished", flush=True)
        sys.exit(1)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX")
def test_ctrl_c_stops_a_partitioned_pull_and_replaces_nothing(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(lake)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().split()
        assert child.wait(timeout=10) == 0, child.stderr.read() if child.stderr else ""
    finally:
        if child.poll() is None:
            child.kill()
    assert line[0] == "interrupted", line
    assert float(line[1]) - sent < 1.0
    assert tree(lake) == {}, "no partition and no staging folder"
    assert Counter(p.is_dir() for p in lake.iterdir()) == Counter()


def test_the_docs_partitioned_example_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "python.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "partition_by=" in b]
    out = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n = int(out.stdout.split()[0])
    assert 2 <= n <= 2 * 31, out.stdout
    days = {p.name for p in (tmp_path / "lake" / "conversations").glob("vendor=*/account=*/date=*")}
    # January on the vendors' clock (Asia/Shanghai) starts on December 31 at 16:00 UTC.
    assert days and all(d.startswith(("date=2024-01-", "date=2023-12-31")) for d in days), days


def test_on_bad_record_fails_by_default_and_skip_keeps_the_good_records_and_the_rejected_one(tmp_path: Path) -> None:
    with chathaul.Simulator(seed=9, conversations=30, messages=3) as sim:
        bad = sim.truth("kf5")[4].id
        sim.corrupt("kf5", bad, "created_at", "not a time")
        conn = sim.connect("kf5")

        # fail (the default): the decode error names vendor, endpoint, page and field; nothing
        # is set aside and the output stays unfinished.
        for strict in [{}, {"on_bad_record": "fail"}]:
            with pytest.raises(chathaul.DecodeError) as failed:
                conn.pull_to(tmp_path / "strict.jsonl", progress=False, **strict)
            e = failed.value
            assert (e.vendor, e.endpoint, e.page, e.path) == ("kf5", "/apiv2/chats.json", 1, "chats[4].created_at")
            assert "kf5" in str(e) and "/apiv2/chats.json" in str(e) and "chats[4].created_at" in str(e), str(e)
            assert not (tmp_path / "strict.jsonl").exists()
            assert not (tmp_path / "strict.rejects.jsonl").exists()

        # skip: every good record is written, the bad one is reported and kept beside the output.
        written = conn.pull_to(tmp_path / "out.jsonl", on_bad_record="skip", progress=False)
        assert written.files == [str(tmp_path / "out.jsonl")]
        ids = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(ids) == 29 and bad not in ids
        assert sorted(ids) == sorted(c.id for c in sim.truth("kf5") if c.id != bad)
        assert written.report["conversations"] == 29
        [r] = written.rejects
        assert (r["vendor"], r["endpoint"], r["page"], r["path"]) == ("kf5", "/apiv2/chats.json", 1, "chats[4].created_at")
        assert json.loads(r["raw"])["created_at"] == "not a time"
        assert "not a time" in r["error"]
        assert written.report["rejects_at"] == str(tmp_path / "out.rejects.jsonl")
        kept = (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in kept] == [r]
        assert "1 rejected" in repr(written)

        # Into a database, as `chathaul pull -o x.sqlite`: the rejects table has it.
        db = tmp_path / "out.sqlite"
        into_db = conn.pull_to(db, on_bad_record="skip", progress=False)
        assert into_db.report["rejects_at"] == f"{db} (table rejects)"
        with closing(sqlite3.connect(db)) as con:
            assert con.execute("SELECT vendor, path FROM rejects").fetchall() == [("kf5", "chats[4].created_at")]
            assert con.execute("SELECT count(*) FROM conversations").fetchone() == (29,)

        # A clean pull reports none.
        clean = sim.connect("bangwo8").pull_to(tmp_path / "clean.jsonl", on_bad_record="skip", progress=False)
        assert clean.rejects == [] and clean.report["rejects_at"] is None
        assert not (tmp_path / "clean.rejects.jsonl").exists()

        with pytest.raises(chathaul.ConfigError, match="on_bad_record `ignore`: expected `fail` or `skip`"):
            conn.pull_to(tmp_path / "never.jsonl", on_bad_record="ignore", progress=False)
        assert not (tmp_path / "never.jsonl").exists()
