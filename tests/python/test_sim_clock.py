"""The simulator's clock, accounts and server modes, from Python."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest

import chathaul
from conftest import VENDORS, by_id

UTC = timezone.utc


def pulled(sim: chathaul.Simulator, vendor: str, account: int = 0) -> List[Dict[str, Any]]:
    conn = sim.connect(vendor, account=account)
    return [c.to_dict() for c in by_id(list(conn.conversations(progress=False)))]


def test_the_default_clock_sees_a_final_dataset() -> None:
    with chathaul.Simulator(conversations=30) as sim:
        # 30 days after the data's 90 days from 2024-01-01.
        assert sim.now == datetime(2024, 4, 30, tzinfo=UTC)
        final = sim.truth_dicts()
        assert len(final) == 90
        sim.advance(days=365)
        assert sim.truth_dicts() == final
        assert all(c["status"] != "open" for c in final)


def test_advance_moves_what_the_vendors_serve() -> None:
    with chathaul.Simulator(seed=3, conversations=120, days=20, now="2024-01-08") as sim:
        assert sim.now == datetime(2024, 1, 8, tzinfo=UTC)
        before = {v: sim.truth_dicts(v) for v in VENDORS}
        for v in VENDORS:
            assert 0 < len(before[v]) < 120, v
            assert pulled(sim, v) == before[v], v
        new = sim.advance(days=3, hours=6)
        assert new == datetime(2024, 1, 11, 6, tzinfo=UTC) == sim.now
        for v in VENDORS:
            after = sim.truth_dicts(v)
            assert len(after) > len(before[v]), v
            assert pulled(sim, v) == after, v
        # Everything ends and is rated by the default clock, 30 days after the data.
        sim.advance(timedelta(days=60))
        assert all(len(sim.truth_dicts(v)) == 120 for v in VENDORS)


def test_a_long_chat_is_open_then_closed_with_more_messages() -> None:
    with chathaul.Simulator(seed=3, conversations=300, days=30) as sim:
        long = next(
            c for c in sim.truth("kf5") if c.ended_at and c.created_at and c.ended_at - c.created_at > timedelta(days=1)
        )
        assert long.created_at is not None and long.ended_at is not None
        sim.now = long.created_at + timedelta(hours=12)
        seen = next(c for c in sim.truth("kf5") if c.id == long.id)
        assert seen.status == "open" and seen.ended_at is None
        assert len(seen.messages) < len(long.messages)
        assert [m.to_dict() for m in seen.messages] == [m.to_dict() for m in long.messages[: len(seen.messages)]]
        # What the vendor serves says the same.
        conn = sim.connect("kf5")
        served = conn.conversation(long.id)
        assert served.id == long.id and served.ended_at is None
        assert [m.to_dict() for m in served.messages] == [m.to_dict() for m in seen.messages]
        sim.advance(days=8)
        closed = next(c for c in sim.truth("kf5") if c.id == long.id)
        assert closed.status != "open" and closed.ended_at == long.ended_at
        assert len(closed.messages) == len(long.messages)


def test_the_clock_takes_dates_naive_and_aware_datetimes() -> None:
    with chathaul.Simulator(conversations=5) as sim:
        sim.now = date(2024, 2, 1)
        assert sim.now == datetime(2024, 2, 1, tzinfo=UTC)
        sim.now = datetime(2024, 2, 1, 8, 30)  # naive: UTC
        assert sim.now == datetime(2024, 2, 1, 8, 30, tzinfo=UTC)
        sim.now = datetime(2024, 2, 1, 16, 30, tzinfo=timezone(timedelta(hours=8)))
        assert sim.now == datetime(2024, 2, 1, 8, 30, tzinfo=UTC)
        assert sim.advance(minutes=-30) == datetime(2024, 2, 1, 8, 0, tzinfo=UTC)
        with pytest.raises(chathaul.ConfigError) as e:
            sim.now = "2024-02-01 08:00"
        assert e.value.field == "now" and "is not an instant" in str(e.value)
        # The control endpoint sees the same clock.
        with urllib.request.urlopen(f"{sim.url}/_sim/clock") as res:
            assert json.load(res) == {"now": "2024-02-01T08:00:00Z"}
    with pytest.raises(chathaul.ConfigError) as e:
        chathaul.Simulator(now="yesterday")
    assert e.value.field == "now"


def test_truth_after_close_is_as_of_the_last_clock() -> None:
    sim = chathaul.Simulator(conversations=50, days=10, now="2024-01-05")
    open_truth = sim.truth_dicts("kf5")
    sim.close()
    assert sim.truth_dicts("kf5") == open_truth
    assert sim.now == datetime(2024, 1, 5, tzinfo=UTC)


def test_accounts_have_their_own_config_and_data() -> None:
    with chathaul.Simulator(conversations=20, accounts=2) as sim:
        assert sim.accounts == 2
        assert sim.config("kf5", account=1)["subdomain"] == "demo1"
        assert sim.base_url("kf5", account=1) == f"{sim.url}/kf5/1"
        for v in VENDORS:
            second = sim.truth_dicts(v, account=1)
            assert len(second) == 20
            assert second != sim.truth_dicts(v)
            assert pulled(sim, v, account=1) == second
        assert [s["name"] for s in sim.sources()] == [
            "bangwo8",
            "caresoft",
            "kf5",
            "bangwo8-1",
            "caresoft-1",
            "kf5-1",
        ]
        with pytest.raises(chathaul.ConfigError) as e:
            sim.config("kf5", account=2)
        assert e.value.field == "account" and "accounts 0 to 1" in str(e.value)


def test_fail_next_fails_the_next_requests_and_the_connector_retries() -> None:
    with chathaul.Simulator(conversations=10) as sim:
        sim.fail_next(2, vendor="kf5")
        assert pulled(sim, "kf5") == sim.truth_dicts("kf5")
        assert sim.stats()["faults"] == 2
        with pytest.raises(chathaul.Error):
            sim.fail_next(1, vendor="zendesk")
        with pytest.raises(chathaul.ConfigError):
            sim.fail_next(1, account=3)


def test_a_429_without_retry_after() -> None:
    with chathaul.Simulator(conversations=5, rate_limit=1, retry_after=False) as sim:
        url = f"{sim.base_url('caresoft')}/api/v1/chats"
        statuses = []
        for _ in range(4):
            req = urllib.request.Request(url, headers={"Authorization": "Bearer caresoft-demo-token"})
            try:
                with urllib.request.urlopen(req) as res:
                    statuses.append((res.status, res.headers.get("Retry-After")))
            except urllib.error.HTTPError as err:
                statuses.append((err.code, err.headers.get("Retry-After")))
        assert (429, None) in statuses, statuses


def test_the_docs_simulator_example_runs_as_written(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text(encoding="utf-8")
    section = text.split("### The simulators", 1)[1]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    out = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["2024-01-12 06:00:00+00:00"]
    assert (tmp_path / "sync.sqlite").exists()
