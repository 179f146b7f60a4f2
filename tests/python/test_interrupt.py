"""Ctrl-C stops a pull within a second; other Python threads run while Rust works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Iterator

import pytest

import chathaul


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """Python's own SIGINT handler for the test's duration, whatever this process inherited
    (a test run started in the background of a non-interactive shell ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

# A child process that pulls from a slow simulator (every request takes 200 ms,
# so the pull would take many seconds) and reports how long Ctrl-C took.
#
# The child first restores Python's own SIGINT handler: a process started with
# SIGINT ignored (a background job of a non-interactive shell, and so its
# children) keeps SIG_IGN, and Ctrl-C would then never reach it.
CHILD = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import chathaul

    mode = sys.argv[1]
    with chathaul.Simulator(conversations=400, latency_ms=200) as sim:
        conn = sim.connect("bangwo8")
        print("ready", flush=True)
        try:
            if mode == "pull":
                conn.pull(progress=False)
            elif mode == "iterate":
                for _ in conn.conversations(progress=False):
                    pass
            else:
                chathaul.sync(sim, db=sys.argv[2], progress=False)
        except KeyboardInterrupt:
            print("interrupted", time.monotonic(), flush=True)
            sys.exit(0)
        print("finished", flush=True)
        sys.exit(1)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX")
@pytest.mark.parametrize("mode", ["pull", "iterate", "sync"])
def test_sigint_raises_keyboard_interrupt_within_a_second(mode: str, tmp_path: object) -> None:
    db = os.path.join(str(tmp_path), "interrupted.sqlite")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # well inside the pull
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().split()
        assert child.wait(timeout=10) == 0, child.stderr.read() if child.stderr else ""
    finally:
        if child.poll() is None:
            child.kill()
    assert line[0] == "interrupted", line
    assert float(line[1]) - sent < 1.0


def test_an_interrupted_sync_leaves_a_consistent_database(tmp_path: object) -> None:
    """What a sync killed by Ctrl-C committed is whole: rerun, and the database equals the truth."""
    import sqlite3

    db = os.path.join(str(tmp_path), "resume.sqlite")
    with chathaul.Simulator(conversations=100, latency_ms=150) as sim:
        script = CHILD.replace("conversations=400, latency_ms=200", "conversations=100, latency_ms=150")
        child = subprocess.Popen([sys.executable, "-c", script, "sync", db], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(1.5)
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline().split()[:1] == ["interrupted"]
        child.wait(timeout=10)
        want = sorted((c.vendor, c.id) for c in sim.truth())
        with sqlite3.connect(db) as con:
            partial = con.execute("SELECT count(*) FROM conversations").fetchone()[0]
        assert 0 < partial < len(want)
        # The child's simulator had the same seed, so the same data: finish the job against ours.
        result = chathaul.sync(sim, db=db, progress=False)
        assert result.complete
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT vendor, id FROM conversations").fetchall()
        assert sorted(rows) == want


def test_other_threads_run_during_a_pull() -> None:
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    with chathaul.Simulator(conversations=120, latency_ms=100) as sim:
        conn = sim.connect("kf5")
        t = threading.Thread(target=spin)
        t.start()
        try:
            time.sleep(0.05)
            before = ticks
            started = time.monotonic()
            result = conn.pull(progress=False)
            elapsed = time.monotonic() - started
            during = ticks - before
        finally:
            stop.set()
            t.join()
    assert result.conversations.num_rows == 120
    # Two listing pages, then a detail request of 100 ms for each chat whose
    # list item lacks messages (about half), at most 8 at a time.
    assert elapsed > 0.5
    # With the GIL held the spinner could not tick; released, it ticks about once a millisecond.
    assert during > 0.25 * elapsed * 1000, (during, elapsed)


@pytest.mark.skipif(sys.platform == "win32", reason="raise_signal(SIGINT) needs POSIX")
def test_ctrl_c_in_process_stops_the_whole_sync(tmp_path: object, sigint_raises: None) -> None:
    """After KeyboardInterrupt no source keeps writing in the background, and the database is whole."""
    import sqlite3

    db = os.path.join(str(tmp_path), "stopped.sqlite")
    with chathaul.Simulator(conversations=100, latency_ms=150) as sim:
        timer = threading.Timer(1.0, lambda: signal.raise_signal(signal.SIGINT))
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            chathaul.sync(sim, db=db, progress=False)
        assert time.monotonic() - started < 2.0

        def count() -> int:
            with sqlite3.connect(db) as con:
                return int(con.execute("SELECT count(*) FROM conversations").fetchone()[0])

        at_interrupt = count()
        time.sleep(1.0)
        assert count() == at_interrupt < 300
        assert chathaul.sync(sim, db=db, progress=False).complete
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = con.execute("SELECT vendor, id FROM conversations").fetchall()
        assert sorted(rows) == sorted((c.vendor, c.id) for c in sim.truth())
