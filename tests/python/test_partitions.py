"""chathaul.plan / chathaul.pull_partition: the unit of distributed work, on the simulator."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List

import pytest

import chathaul
from partition_checks import docs_example, got_of, overlaps, truth_of


@pytest.fixture(scope="module")
def accounts_sim() -> chathaul.Simulator:
    with chathaul.Simulator(seed=11, conversations=40, messages=6, accounts=2) as s:
        yield s


def test_a_plan_cuts_every_account_into_consecutive_windows(accounts_sim: chathaul.Simulator) -> None:
    parts = chathaul.plan(accounts_sim, "2024-01-01", "2024-03-31", every="15d")
    assert len(parts) == 3 * 2 * 6
    assert [p.index for p in parts] == list(range(36))
    # Window by window, every account in turn.
    assert [p.source for p in parts[:6]] == ["bangwo8", "caresoft", "kf5", "bangwo8-1", "caresoft-1", "kf5-1"]
    by_source = {}
    for p in parts:
        by_source.setdefault(p.source, []).append(p)
    shanghai_midnight = datetime(2023, 12, 31, 16, tzinfo=timezone.utc)
    for source, ps in by_source.items():
        assert [(b.since - a.since) for a, b in zip(ps, ps[1:])] == [timedelta(days=15)] * 5
        assert all(a.until == b.since for a, b in zip(ps, ps[1:]))
        # A date is local midnight on the vendor's wall clock.
        if source.startswith(("bangwo8", "kf5")):
            assert ps[0].since == shanghai_midnight
            assert ps[-1].until == shanghai_midnight + timedelta(days=90)
    assert {p.account_key for p in parts} == {
        f"{v}/{accounts_sim.connect(v, account=a).account}" for v in accounts_sim.vendors for a in (0, 1)
    }
    # A timedelta works as well as a string; the last window is shorter when every does not divide.
    weeks = chathaul.plan(accounts_sim, "2024-01-01", "2024-01-20", every=timedelta(days=7))
    kf5 = [p for p in weeks if p.source == "kf5"]
    assert [(p.until - p.since).days for p in kf5] == [7, 7, 5]


def test_a_partition_pickles_and_shows_no_secret(accounts_sim: chathaul.Simulator) -> None:
    p = chathaul.plan(accounts_sim, "2024-01-01", "2024-01-08", every="7d")[2]
    secret = accounts_sim.config("kf5")["password"]
    assert p.vendor == "kf5" and dict(p.config)["password"] == secret
    assert pickle.loads(pickle.dumps(p)) == p
    for shown in (repr(p), str(p), p.key, repr([p])):
        assert secret not in shown, shown
    assert str(p) == f"kf5/{p.account} [2023-12-31T16:00:00Z, 2024-01-07T16:00:00Z)"
    assert "config keys=['base_url', 'email', 'password', 'subdomain']" in repr(p)


def test_the_partitions_pulled_one_by_one_equal_the_truth(accounts_sim: chathaul.Simulator) -> None:
    parts = chathaul.plan(accounts_sim, "2024-01-01", "2024-03-31", every="30d")
    results = [chathaul.pull_partition(p) for p in parts]
    assert all(r.complete for r in results)
    import pandas as pd

    conversations = pd.concat([r.to_pandas().conversations for r in results])
    messages = pd.concat([r.to_pandas().messages for r in results])
    want = truth_of(accounts_sim, parts)
    assert len(want) == 3 * 2 * 40
    assert got_of(conversations, messages) == want
    for r in results:
        assert r.started_at <= r.ended_at
        assert r.conversations.schema.equals(chathaul.conversations_schema())
        created = r.conversations.column("created_at").to_pylist()
        assert all(r.partition.since <= t < r.partition.until for t in created)
    # Idempotent: a second pull of a partition gives the same rows.
    again = chathaul.pull_partition(parts[4])
    assert again.conversations.equals(results[4].conversations)


def test_a_failed_partition_raises_naming_it_and_the_error_survives_pickling(
    accounts_sim: chathaul.Simulator,
) -> None:
    cfg = dict(accounts_sim.config("kf5", account=1), max_attempts="1")
    [p] = chathaul.plan([{"name": "kf5-1", "vendor": "kf5", "config": cfg}], "2024-01-01", "2024-01-15", "14d")
    accounts_sim.fail_next(1, vendor="kf5", account=1)
    with pytest.raises(chathaul.ApiError) as e:
        chathaul.pull_partition(p)
    assert str(e.value).startswith(f"partition {p}: ")
    assert "HTTP 500" in str(e.value)
    assert e.value.partition == str(p) and e.value.status == 500 and e.value.kind == "api"
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is chathaul.ApiError
    assert (str(back), back.kind, back.status, back.partition) == (str(e.value), "api", 500, str(p))
    # The fault was the first request's only: the same partition pulls whole now.
    assert chathaul.pull_partition(p).conversations.num_rows > 0


def test_secrets_left_out_of_a_plan_come_from_the_environment_where_it_is_pulled(
    accounts_sim: chathaul.Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = accounts_sim.config("kf5")
    password = cfg.pop("password")
    monkeypatch.setenv("CHATHAUL_KF5_PASSWORD", password)
    [p] = chathaul.plan([{"vendor": "kf5", "config": cfg}], "2024-01-01", "2024-01-15", "14d")
    assert "password" not in dict(p.config)
    assert password not in pickle.dumps(p).decode("latin-1")
    assert chathaul.pull_partition(p).conversations.num_rows > 0
    monkeypatch.setenv("CHATHAUL_KF5_PASSWORD", "not-it")
    with pytest.raises(chathaul.AuthError):
        chathaul.pull_partition(p)


def test_a_bad_plan_is_refused_before_anything_is_pulled(accounts_sim: chathaul.Simulator) -> None:
    with pytest.raises(chathaul.ConfigError, match=r"every `7 days` is not a duration"):
        chathaul.plan(accounts_sim, "2024-01-01", "2024-02-01", every="7 days")
    with pytest.raises(chathaul.ConfigError, match=r"the window \[2024-02-01, 2024-01-01\) is empty"):
        chathaul.plan(accounts_sim, "2024-02-01", "2024-01-01")
    with pytest.raises(chathaul.ConfigError) as e:
        chathaul.plan([{"name": "x", "vendor": "kf5", "config": {"base_url": "http://127.0.0.1:9"}}], "2024-01-01", "2024-02-01")
    assert e.value.source == "x" and e.value.field == "email"
    with pytest.raises(ValueError, match="needs both since and until"):
        chathaul.plan(accounts_sim, "2024-01-01", None)
    with pytest.raises(ValueError, match="per_account must be a whole number of at least 1"):
        chathaul.plan(accounts_sim, "2024-01-01", "2024-02-01", per_account=0)


def test_threads_pull_at_most_per_account_partitions_of_one_account_at_once() -> None:
    with chathaul.Simulator(seed=3, conversations=30, latency_ms=40) as sim:
        def run(per_account: int) -> List[chathaul.PartitionResult]:
            parts = chathaul.plan(
                [{"vendor": "kf5", "config": sim.config("kf5")}], "2024-01-01", "2024-03-31", "15d", per_account=per_account
            )
            with ThreadPoolExecutor(max_workers=4) as pool:
                return list(pool.map(chathaul.pull_partition, parts))

        one = run(1)
        assert len(one) == 6
        assert overlaps((r.partition.account_key, r.started_at, r.ended_at) for r in one) == []
        two = run(2)
        intervals = sorted((r.started_at, r.ended_at) for r in two)
        # Never three at once, and (with four threads and six partitions of 40 ms requests) some two.
        for i, (start, _) in enumerate(intervals):
            assert sum(1 for s, e in intervals if s <= start < e) <= 2
        assert overlaps((r.partition.account_key, r.started_at, r.ended_at) for r in two) != []


def test_a_seeded_rate_paces_a_partition_from_its_first_request() -> None:
    # What an earlier partition of the account learned in another process: the pull starts
    # paced at it (no burst), and reports it as the rate it ended at.
    with chathaul.Simulator(seed=4, conversations=40) as sim:
        src = [{"vendor": "kf5", "config": sim.config("kf5")}]
        (part,) = chathaul.plan(src, "2024-01-01", "2024-04-01", "100d")
        unseeded = chathaul.pull_partition(part)
        assert unseeded.learned_rate is None
    with chathaul.Simulator(seed=4, conversations=40) as sim:
        (part,) = chathaul.plan([{"vendor": "kf5", "config": sim.config("kf5")}], "2024-01-01", "2024-04-01", "100d")
        seeded = chathaul.pull_partition(part, seed_rate=20.0)
    requests = seeded.report["stats"]["http"]["requests"]
    assert requests == unseeded.report["stats"]["http"]["requests"] and requests >= 10
    assert got_of(seeded.conversations.to_pandas(), seeded.messages.to_pandas()) == got_of(
        unseeded.conversations.to_pandas(), unseeded.messages.to_pandas()
    )
    # One request every 50 ms from the first: at least (requests - 1) / 20 s.
    assert (seeded.ended_at - seeded.started_at).total_seconds() >= 0.95 * (requests - 1) / 20.0
    assert (unseeded.ended_at - unseeded.started_at).total_seconds() < 0.5 * (requests - 1) / 20.0
    assert seeded.learned_rate is not None and abs(seeded.learned_rate - 20.0) < 0.5


def test_import_chathaul_loads_no_integration_engine() -> None:
    code = textwrap.dedent(
        """
        import sys, chathaul
        assert not {"dask", "distributed", "ray", "dlt"} & set(sys.modules), sorted(sys.modules)
        print("light")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "light", out.stderr
    with pytest.raises(AttributeError, match="has no attribute 'sparkle'"):
        getattr(chathaul, "sparkle")


def test_the_docs_partitions_example_runs_as_written(tmp_path: Path) -> None:
    lines = docs_example("## Many accounts: partitions", tmp_path).splitlines()
    assert lines[0] == "156 bangwo8/admin@demo [2023-12-31T16:00:00Z, 2024-01-07T16:00:00Z)"
    rows, started, requests = lines[1].split(" ", 1)[0], lines[1].split()[1], lines[1].split()[-1]
    assert int(rows) > 0 and started.startswith("20") and int(requests) > 0
