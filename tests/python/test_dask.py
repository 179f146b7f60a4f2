"""chathaul.dask on a local two-worker cluster, against the simulator's truth."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import chathaul
from partition_checks import docs_example, got_of, overlaps, truth_of

if sys.version_info < (3, 10):
    pytest.skip(
        f"Dask 2026.8 needs Python 3.10 or later, not {sys.version_info.major}.{sys.version_info.minor}: "
        "the Dask tests cannot run here",
        allow_module_level=True,
    )

import distributed  # noqa: E402  (missing on 3.10+: install tests/python/requirements.txt)

import chathaul.dask  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def sim() -> Iterator[chathaul.Simulator]:
    with chathaul.Simulator(seed=5, conversations=30, messages=6, accounts=4, latency_ms=2) as s:
        yield s


def sources(sim: chathaul.Simulator, **extra: str) -> List[Dict[str, Any]]:
    return [dict(s, config=dict(s["config"], **extra)) for s in sim.sources()]


def test_three_vendors_by_four_accounts_by_six_windows_equal_the_truth(client: Any, sim: chathaul.Simulator) -> None:
    tables = chathaul.dask.read(sim, "2024-01-01", "2024-03-31", every="15d")
    assert tables.conversations.npartitions == 3 * 4 * 6
    conversations_frame, messages_frame = tables  # unpacks as the two tables
    assert conversations_frame is tables.conversations and messages_frame is tables.messages
    conversations, messages, partitions = tables.compute()
    parts = chathaul.plan(sim, "2024-01-01", "2024-03-31", every="15d")
    want = truth_of(sim, parts)
    assert len(want) == 3 * 4 * 30
    assert got_of(conversations, messages) == want
    # No missing partition, none twice, every one complete; pyarrow dtypes throughout.
    assert sorted(partitions["index"]) == list(range(72))
    assert partitions["complete"].all()
    assert int(partitions["conversations"].sum()) == len(want)
    assert str(conversations["created_at"].dtype) == "timestamp[ms, tz=UTC][pyarrow]"
    assert str(messages["seq"].dtype) == "uint64[pyarrow]"
    # Both workers took part, and no two partitions of one account overlapped (per_account=1).
    assert partitions["worker"].nunique() == 2
    spans = zip(partitions["vendor"] + "/" + partitions["account"], partitions["started_at"], partitions["ended_at"])
    assert overlaps(spans) == []


def test_per_account_is_a_cluster_wide_budget(client: Any) -> None:
    # One account, three windows of a second or more each: both workers want it at once.
    with chathaul.Simulator(seed=9, conversations=60, latency_ms=150) as one:
        src = [{"vendor": "kf5", "config": one.config("kf5")}]

        def intervals(per_account: int) -> Any:
            tables = chathaul.dask.read(src, "2024-01-01", "2024-03-31", every="30d", per_account=per_account)
            p = tables.partitions.compute()
            assert sorted(p["index"]) == list(range(3))
            return list(zip(p["vendor"] + "/" + p["account"], p["started_at"], p["ended_at"]))

        assert overlaps(intervals(1)) == []
        # With two leases the two workers do pull the same account at once.
        assert overlaps(intervals(2)) != []


def test_a_partition_whose_first_try_fails_is_retried_by_dask(client: Any, sim: chathaul.Simulator) -> None:
    # One attempt per request, so the injected 500 fails the partition, not just a request.
    tables = chathaul.dask.read(sources(sim, max_attempts="1"), "2024-01-01", "2024-03-31", every="15d")
    faults = sim.stats()["faults"]
    sim.fail_next(1, vendor="kf5", account=2)
    conversations, messages, partitions = tables.compute(retries=2)
    assert sim.stats()["faults"] == faults + 1
    parts = chathaul.plan(sim, "2024-01-01", "2024-03-31", every="15d")
    assert got_of(conversations, messages) == truth_of(sim, parts)
    assert sorted(partitions["index"]) == list(range(72))


def test_without_retries_the_failure_reaches_the_caller_with_its_class(client: Any, sim: chathaul.Simulator) -> None:
    tables = chathaul.dask.read(sources(sim, max_attempts="1"), "2024-01-01", "2024-01-16", every="15d")
    sim.fail_next(1, vendor="caresoft", account=1)
    with pytest.raises(chathaul.ApiError) as e:
        tables.compute()
    assert e.value.status == 500 and e.value.vendor == "caresoft"
    assert e.value.partition is not None and e.value.partition.startswith("caresoft/")
    assert str(e.value).startswith(f"partition {e.value.partition}: ")


def test_the_docs_dask_example_runs_as_written(tmp_path: Path) -> None:
    assert docs_example("### Dask", tmp_path).splitlines() == ["2400 conversations from 36 partitions"]


def test_without_a_cluster_the_threaded_scheduler_keeps_to_one_partition_per_account() -> None:
    # No distributed client: Dask's local threads, and the process-local slot of each account.
    with chathaul.Simulator(seed=9, conversations=30, latency_ms=20, accounts=2) as two:
        tables = chathaul.dask.read(two, "2024-01-01", "2024-03-31", every="30d")
        conversations, messages, partitions = tables.compute(scheduler="threads", num_workers=4)
        parts = chathaul.plan(two, "2024-01-01", "2024-03-31", every="30d")
        assert got_of(conversations, messages) == truth_of(two, parts)
        assert sorted(partitions["index"]) == list(range(18))
        assert partitions["worker"].nunique() == 1
        spans = zip(partitions["vendor"] + "/" + partitions["account"], partitions["started_at"], partitions["ended_at"])
        assert overlaps(spans) == []
