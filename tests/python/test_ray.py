"""chathaul.ray on a local two-CPU Ray instance, against the simulator's truth.

Runs in `make test` (a few seconds for Ray to start). Skipped only on an interpreter for
which Ray publishes no wheel (Ray 2.60: Python 3.9), and then it says so; anywhere else a
missing Ray is a failure of the test environment.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

import chathaul
from partition_checks import docs_example, got_of, overlaps, truth_of

if sys.version_info < (3, 10):
    pytest.skip(
        f"Ray 2.60 publishes no wheel for Python {sys.version_info.major}.{sys.version_info.minor}: the Ray tests cannot run here",
        allow_module_level=True,
    )

import ray  # noqa: E402
import ray.data  # noqa: E402  (a missing Ray on 3.10+ fails here: install tests/python/requirements.txt)

import chathaul.ray  # noqa: E402


@ray.remote
def _warm_up() -> int:
    import time

    time.sleep(0.5)
    return 0


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    # Two worker processes up before any test, so that two read tasks can run at once
    # from the first one (Ray starts workers lazily, a second or so each).
    ray.get([_warm_up.remote() for _ in range(2)])
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def sim() -> Iterator[chathaul.Simulator]:
    with chathaul.Simulator(seed=5, conversations=30, messages=6, accounts=4, latency_ms=2) as s:
        yield s


def test_three_vendors_by_four_accounts_by_six_windows_equal_the_truth(cluster: None, sim: chathaul.Simulator) -> None:
    tables = chathaul.ray.read(sim, "2024-01-01", "2024-03-31", every="15d")
    assert tables.pulled.num_blocks() == 72
    conversations_ds, messages_ds = tables
    conversations, messages = conversations_ds.to_pandas(), messages_ds.to_pandas()
    partitions = tables.partitions.to_pandas()
    parts = chathaul.plan(sim, "2024-01-01", "2024-03-31", every="15d")
    want = truth_of(sim, parts)
    assert len(want) == 3 * 4 * 30
    assert got_of(conversations, messages) == want
    assert sorted(partitions["index"]) == list(range(72))
    assert partitions["complete"].all()
    assert tables.conversations.schema().names == chathaul.conversations_schema().names
    spans = zip(partitions["vendor"] + "/" + partitions["account"], partitions["started_at"], partitions["ended_at"])
    assert overlaps(spans) == []


def test_per_account_is_a_cluster_wide_budget(cluster: None) -> None:
    with chathaul.Simulator(seed=9, conversations=60, latency_ms=150) as one:
        src = [{"vendor": "kf5", "config": one.config("kf5")}]
        parts = chathaul.plan(src, "2024-01-01", "2024-03-31", every="30d")
        p = chathaul.ray.read(src, "2024-01-01", "2024-03-31", every="30d").partitions.to_pandas()
        assert sorted(p["index"]) == list(range(3))
        assert overlaps(zip(p["vendor"] + "/" + p["account"], p["started_at"], p["ended_at"])) == []

    # The leases are what keeps them apart: two tasks on the two CPUs, each holding a lease of
    # one account for half a second, overlap with two leases and never with one. (Through
    # read() the same check would depend on when Ray Data starts its second read task.)
    @ray.remote
    def hold(leases: Any, partition: chathaul.Partition) -> Any:
        with chathaul.ray._account_lease(leases, partition):
            started = datetime.now(timezone.utc)
            time.sleep(0.5)
            return partition.account_key, started, datetime.now(timezone.utc)

    for per_account, overlapping in ((1, False), (2, True)):
        partition = dataclasses.replace(parts[0], per_account=per_account)
        leases = chathaul.ray._AccountLeases.remote()
        held = ray.get([hold.remote(leases, partition) for _ in range(2)])
        assert bool(overlaps(held)) is overlapping, (per_account, held)


def test_the_lease_actor_passes_an_accounts_learned_rate_to_its_next_partition(cluster: None) -> None:
    # A read task in a worker process that has never paced this account: what the actor
    # holds from the partition before it is where it starts.
    with chathaul.Simulator(seed=6, conversations=40) as sim:
        src = [{"vendor": "kf5", "config": sim.config("kf5")}]
        first, second = chathaul.plan(src, "2024-01-01", "2024-04-01", "50d")
        leases = chathaul.ray._AccountLeases.remote()
        assert ray.get(leases.acquire.remote(first.account_key, 1)) is None
        ray.get(leases.release.remote(first.account_key, 8.0))

        @ray.remote
        def read(partition: chathaul.Partition) -> Any:
            (row,) = chathaul.ray._read_partition(partition, 4096, leases)
            return row.to_pylist()[0]

        row = ray.get(read.remote(second))
        # Paced at 8 requests/s from its first request.
        assert row["requests"] >= 5
        assert row["elapsed_secs"] >= 0.95 * (row["requests"] - 1) / 8.0
        # What it ended at went back to the actor for the partition after it.
        handed_on = ray.get(leases.acquire.remote(first.account_key, 1))
        assert handed_on is not None and abs(handed_on - 8.0) < 0.3
        ray.kill(leases)


def test_a_partition_whose_first_try_fails_is_retried_by_ray(cluster: None, sim: chathaul.Simulator) -> None:
    sources = [dict(s, config=dict(s["config"], max_attempts="1")) for s in sim.sources()]
    faults = sim.stats()["faults"]
    sim.fail_next(1, vendor="bangwo8", account=3)
    tables = chathaul.ray.read(sources, "2024-01-01", "2024-03-31", every="15d", retries=2)
    assert sim.stats()["faults"] == faults + 1
    conversations, messages = tables.conversations.to_pandas(), tables.messages.to_pandas()
    parts = chathaul.plan(sim, "2024-01-01", "2024-03-31", every="15d")
    assert got_of(conversations, messages) == truth_of(sim, parts)
    assert sorted(tables.partitions.to_pandas()["index"]) == list(range(72))


def test_the_docs_ray_example_runs_as_written(tmp_path: Path) -> None:
    # Its own process and its own Ray (the example calls ray.init()).
    lines = [line for line in docs_example("### Ray", tmp_path).splitlines() if "partitions," in line]
    assert len(lines) == 1 and lines[0].startswith("36 partitions, ")
    assert int(lines[0].split()[2]) > 0
    assert any((tmp_path / "out" / "conversations").iterdir())
