"""chathaul on Ray: many accounts and long histories pulled in parallel, partition by partition.

``pip install "chathaul[ray]"``, then::

    import ray
    import chathaul.ray

    ray.init()
    tables = chathaul.ray.read(sources, since="2024-01-01", until="2024-04-01", every="7d")
    tables.conversations.write_parquet("out/conversations")

:class:`PartitionDatasource` is a Ray Data ``Datasource`` whose read tasks are the partitions
(see :func:`chathaul.plan`): each pulls one account over one window and yields one block, its
report and both tables. :func:`read` reads it once into Ray's object store and derives the
``conversations``, ``messages`` and ``partitions`` datasets from those blocks, so no
partition is pulled twice. This module imports Ray only when it is imported itself;
``import chathaul`` stays light.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

try:
    import pyarrow as pa
    import ray
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError('chathaul.ray needs ray[data]: pip install "chathaul[ray]"') from e

from ._api import Simulator, SourceLike, TimeArg, conversations_schema, messages_schema
from ._partitions import EveryArg, Partition, plan, pull_partition
from ._pulled import CONVERSATIONS_IPC, MESSAGES_IPC, PARTITION_COLUMNS, PULLED_SCHEMA, pulled_row, tables_of

__all__ = ["PartitionDatasource", "Tables", "read", "from_partitions", "PARTITION_COLUMNS"]


@ray.remote(num_cpus=0)
class _AccountLeases:
    """The cluster-wide budget of every account of one read: ``per_account`` leases each.
    One actor for all accounts (an actor is a process: one per account would not scale)."""

    def __init__(self) -> None:
        self._leases: Dict[str, asyncio.Semaphore] = {}
        # What each account's partitions learned of its server's limit, passed on to the
        # next one (read tasks run in many worker processes, each pacing on its own).
        self._rates: Dict[str, float] = {}

    async def acquire(self, account: str, leases: int) -> Optional[float]:
        """Waits for one of the account's leases; returns the rate its partitions learned."""
        await self._leases.setdefault(account, asyncio.Semaphore(leases)).acquire()
        return self._rates.get(account)

    async def release(self, account: str, learned_rate: Optional[float] = None) -> None:
        if learned_rate is not None:
            self._rates[account] = learned_rate
        self._leases[account].release()


@dataclass
class _Lease:
    """One of an account's leases: the rate its earlier partitions learned (``seed_rate``),
    and what this one learned (``learned_rate``, handed back with the lease)."""

    seed_rate: Optional[float] = None
    learned_rate: Optional[float] = None


@contextmanager
def _account_lease(leases: Optional[Any], partition: Partition) -> Iterator[_Lease]:
    if leases is None:
        yield _Lease()
        return
    lease = _Lease(seed_rate=ray.get(leases.acquire.remote(partition.account_key, partition.per_account)))
    try:
        yield lease
    finally:
        ray.get(leases.release.remote(partition.account_key, lease.learned_rate))


def _read_partition(partition: Partition, batch_rows: int, leases: Optional[Any]) -> Iterable[pa.Table]:
    with _account_lease(leases, partition) as lease:
        result = pull_partition(partition, batch_rows=batch_rows, seed_rate=lease.seed_rate)
        lease.learned_rate = result.learned_rate
    return [pulled_row(result)]


class PartitionDatasource(Datasource):
    """A Ray Data source whose read tasks are chathaul partitions, one block each: one row
    with the partition's report (:data:`PARTITION_COLUMNS`) and its two tables as Arrow IPC
    streams (columns ``conversations_ipc`` and ``messages_ipc``).

    ``leases`` is an account-lease actor (made by :func:`read`): with it, at most
    ``partition.per_account`` partitions of one account are pulled at once, cluster-wide.
    """

    def __init__(self, partitions: Sequence[Partition], *, batch_rows: int = 4096, leases: Optional[Any] = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.partitions = list(partitions)
        self.batch_rows = batch_rows
        self.leases = leases

    def get_name(self) -> str:
        return "ChathaulPartitions"

    def estimate_inmemory_data_size(self) -> Optional[int]:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: Optional[int] = None, data_context: Any = None) -> List[ReadTask]:
        # One task per partition whatever the parallelism asked for: a partition is the
        # smallest unit that can be retried alone, and merging two would share one retry.
        def task(p: Partition) -> ReadTask:
            batch_rows, leases = self.batch_rows, self.leases
            return ReadTask(
                lambda: _read_partition(p, batch_rows, leases),
                BlockMetadata(num_rows=1, size_bytes=None, exec_stats=None, input_files=None),
                schema=PULLED_SCHEMA,
            )

        return [task(p) for p in self.partitions]


def _conversations(batch: pa.Table) -> pa.Table:
    return tables_of(batch.column(CONVERSATIONS_IPC).to_pylist(), conversations_schema())


def _messages(batch: pa.Table) -> pa.Table:
    return tables_of(batch.column(MESSAGES_IPC).to_pylist(), messages_schema())


def _partitions(batch: pa.Table) -> pa.Table:
    return batch.drop_columns([CONVERSATIONS_IPC, MESSAGES_IPC])


class Tables:
    """The datasets of a read: ``conversations``, ``messages`` (the two tables of
    :func:`chathaul.conversations_schema` and :func:`chathaul.messages_schema`) and
    ``partitions`` (one row per partition: :data:`PARTITION_COLUMNS`). Unpacks as
    ``conversations, messages = chathaul.ray.read(...)``.

    All three are lazy transformations of the pulled blocks, which :func:`read` already
    holds in Ray's object store (``pulled``)."""

    def __init__(self, pulled: "ray.data.Dataset") -> None:
        self.pulled = pulled
        self.conversations = pulled.map_batches(_conversations, batch_format="pyarrow", batch_size=None)
        self.messages = pulled.map_batches(_messages, batch_format="pyarrow", batch_size=None)
        self.partitions = pulled.map_batches(_partitions, batch_format="pyarrow", batch_size=None)

    def __iter__(self) -> Iterator["ray.data.Dataset"]:
        return iter((self.conversations, self.messages))

    def __repr__(self) -> str:
        return f"<chathaul.ray.Tables: {self.pulled.num_blocks()} partitions>"


def from_partitions(
    partitions: Sequence[Partition], *, batch_rows: int = 4096, retries: int = 2, num_cpus: float = 1.0
) -> Tables:
    """Pulls these partitions (from :func:`chathaul.plan`) on the Ray cluster, one read task
    each, and returns their :class:`Tables`. Waits until every partition is pulled.

    ``retries``: how many times Ray runs a failed partition again (its ``max_retries``, on
    any exception); a partition is idempotent, so a retry replaces the failed try.
    ``num_cpus``: the CPUs each read task reserves. A pull mostly waits on the vendor, so a
    fraction (``0.25``: four partitions per CPU) keeps more accounts busy at once.

    Raises:
        the partition's error (a :class:`chathaul.Error`, inside Ray's task error) when a
        partition still fails after its retries.
    """
    parts = list(partitions)
    if not parts:
        raise ValueError("no partitions to read: the plan is empty")
    if not ray.is_initialized():
        ray.init()
    # One actor for this read: a name of its own keeps two reads (or two drivers) from sharing
    # a budget they did not agree on.
    leases = _AccountLeases.options(name=f"chathaul-account-leases-{uuid.uuid4().hex}").remote()  # type: ignore[attr-defined]
    source = PartitionDatasource(parts, batch_rows=batch_rows, leases=leases)
    try:
        with warnings.catch_warnings():
            # Ray 2.60 (the version the extra pins) names no parameter for a read task's
            # retries: `ray_remote_args` is still the place, though marked for removal.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            dataset = ray.data.read_datasource(
                source,
                num_cpus=num_cpus,
                override_num_blocks=len(parts),
                ray_remote_args={"max_retries": retries, "retry_exceptions": True},
            )
        pulled = dataset.materialize()
    finally:
        # Every read task has ended (or the read failed): the leases' process goes with them.
        ray.kill(leases)
    return Tables(pulled)


def read(
    sources: Union[str, "os.PathLike[str]", Simulator, Mapping[str, Any], Sequence[SourceLike]],
    since: TimeArg,
    until: TimeArg,
    every: EveryArg = "7d",
    *,
    per_account: int = 1,
    batch_rows: int = 4096,
    retries: int = 2,
    num_cpus: float = 1.0,
) -> Tables:
    """Plans the partitions of ``sources`` over ``[since, until)`` (:func:`chathaul.plan`),
    pulls them on the Ray cluster (``ray.init()`` first if no cluster is connected) and
    returns the :class:`Tables`.

    At most ``per_account`` partitions of one account run at once, cluster-wide (an actor
    holds each account's leases; a partition waiting for one holds its read task's CPU).
    The same actor passes on what the account's partitions learned of an undisclosed rate
    limit: once one partition was throttled, the next ones start paced at the rate it
    learned, whichever worker process they run in, rather than each meeting the limit
    with a burst of refusals.

    Raises:
        ConfigError: a bad source, time, window or ``every`` (before anything is scheduled).
    """
    parts = plan(sources, since, until, every, per_account=per_account)
    return from_partitions(parts, batch_rows=batch_rows, retries=retries, num_cpus=num_cpus)
