"""chathaul on Dask: many accounts and long histories pulled in parallel, partition by partition.

``pip install "chathaul[dask]"``, then::

    import chathaul.dask
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2) as cluster, Client(cluster):
        tables = chathaul.dask.read(sources, since="2024-01-01", until="2024-04-01", every="7d")
        conversations, messages, partitions = tables.compute(retries=2)

Each partition (one account over one window, see :func:`chathaul.plan`) is one task of a
``dask.dataframe.from_map`` layer; the three frames derive from that one layer, so computing
them together pulls every partition once. Columns have pyarrow dtypes (``pd.ArrowDtype``).
This module imports dask only when it is imported itself; ``import chathaul`` stays light.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from typing import Any, ContextManager, Dict, Iterator, Mapping, NamedTuple, Sequence, Union

try:
    import dask as _dask
    import dask.dataframe as _dd
    import pandas as pd
    import pyarrow as pa
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError('chathaul.dask needs dask[dataframe] and distributed: pip install "chathaul[dask]"') from e

# dask ships no type hints: its modules are used as `Any`.
dask: Any = _dask
dd: Any = _dd

from ._api import Simulator, SourceLike, TimeArg, conversations_schema, messages_schema
from ._partitions import EveryArg, Partition, plan, pull_partition
from ._pulled import CONVERSATIONS_IPC, MESSAGES_IPC, PARTITION_COLUMNS, PULLED_SCHEMA, pulled_row, tables_of

__all__ = ["Computed", "Tables", "read", "from_partitions", "PARTITION_COLUMNS"]

@contextmanager
def _cluster_slot(partition: Partition) -> Iterator[None]:
    """One of the account's ``per_account`` leases, cluster-wide when this runs on a
    ``distributed`` worker (a ``distributed.Semaphore`` named after the account and the
    lease count: reads with different ``per_account`` hold separate budgets); elsewhere
    the process-local slot of :func:`chathaul.pull_partition` is the only one."""
    slot: ContextManager[Any] = nullcontext()
    try:
        import distributed

        distributed.get_worker()
    except (ImportError, ValueError):
        pass
    else:
        # The lease count is part of the name: a distributed.Semaphore refuses a second
        # count under one name, and reads that asked for different budgets keep their own.
        name = f"chathaul-account:{partition.account_key}:{partition.per_account}"
        semaphore: Any = distributed.Semaphore
        slot = semaphore(max_leases=partition.per_account, name=name)
    with slot:
        yield


class _PullPartition:
    """The function of the ``from_map`` layer: one partition in, one row out (its report and
    both tables as Arrow IPC). A class, so the task's name says what it does."""

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows

    def __call__(self, partition: Partition) -> pd.DataFrame:
        with _cluster_slot(partition):
            result = pull_partition(partition, batch_rows=self.batch_rows)
        return _frame(pulled_row(result))

    def __repr__(self) -> str:
        return "chathaul-pull-partition"


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _conversations(pulled: pd.DataFrame) -> pd.DataFrame:
    return _frame(tables_of(pulled[CONVERSATIONS_IPC], conversations_schema()))


def _messages(pulled: pd.DataFrame) -> pd.DataFrame:
    return _frame(tables_of(pulled[MESSAGES_IPC], messages_schema()))


def _partitions(pulled: pd.DataFrame) -> pd.DataFrame:
    return pulled.drop(columns=[CONVERSATIONS_IPC, MESSAGES_IPC])


class Computed(NamedTuple):
    """The three frames of :class:`Tables`, computed: pandas DataFrames."""

    conversations: pd.DataFrame
    messages: pd.DataFrame
    partitions: pd.DataFrame


class Tables:
    """The lazy frames of a read: ``conversations``, ``messages`` (the two tables of
    :func:`chathaul.conversations_schema` and :func:`chathaul.messages_schema`) and
    ``partitions`` (one row per partition: see :data:`PARTITION_COLUMNS`).

    Unpacks as ``conversations, messages = chathaul.dask.read(...)``. The three derive from
    one ``from_map`` layer: compute them together (:meth:`compute`, or ``dask.compute``)
    and each partition is pulled once; computed one at a time, each computation pulls again.
    """

    def __init__(self, pulled: dd.DataFrame) -> None:
        conversations_meta = _frame(conversations_schema().empty_table())
        messages_meta = _frame(messages_schema().empty_table())
        partitions_meta = _partitions(_frame(PULLED_SCHEMA.empty_table()))
        self.conversations: dd.DataFrame = pulled.map_partitions(_conversations, meta=conversations_meta)
        self.messages: dd.DataFrame = pulled.map_partitions(_messages, meta=messages_meta)
        self.partitions: dd.DataFrame = pulled.map_partitions(_partitions, meta=partitions_meta)

    def __iter__(self) -> Iterator[dd.DataFrame]:
        return iter((self.conversations, self.messages))

    def compute(self, **kwargs: Any) -> Computed:
        """Computes the three frames together (each partition pulled once). Keyword arguments
        go to ``dask.compute``: ``retries=2`` on a ``distributed`` cluster retries a failed
        partition twice."""
        conversations, messages, partitions = dask.compute(
            self.conversations, self.messages, self.partitions, **kwargs
        )
        return Computed(conversations, messages, partitions)

    def __repr__(self) -> str:
        return f"<chathaul.dask.Tables: {self.conversations.npartitions} partitions>"


def from_partitions(partitions: Sequence[Partition], *, batch_rows: int = 4096) -> Tables:
    """The lazy frames of these partitions (from :func:`chathaul.plan`), one ``from_map``
    task each, in the order given."""
    parts = list(partitions)
    if not parts:
        raise ValueError("no partitions to read: the plan is empty")
    meta = _frame(PULLED_SCHEMA.empty_table())
    pulled = dd.from_map(_PullPartition(batch_rows), parts, meta=meta, label="chathaul-pull", enforce_metadata=False)
    return Tables(pulled)


def read(
    sources: Union[str, "os.PathLike[str]", Simulator, Mapping[str, Any], Sequence[SourceLike]],
    since: TimeArg,
    until: TimeArg,
    every: EveryArg = "7d",
    *,
    per_account: int = 1,
    batch_rows: int = 4096,
) -> Tables:
    """Plans the partitions of ``sources`` over ``[since, until)`` (:func:`chathaul.plan`) and
    returns their lazy frames (:class:`Tables`).

    On a ``distributed`` cluster at most ``per_account`` partitions of one account run at
    once, cluster-wide (a ``distributed.Semaphore`` per account); partitions wait for their
    account's lease while holding a worker thread, and the plan's order (window by window,
    accounts in turn) keeps that wait short. Retries: ``tables.compute(retries=N)`` (Dask's
    own; a partition is idempotent, so a retried one replaces its first try).

    Raises:
        ConfigError: a bad source, time, window or ``every`` (before anything is scheduled).
    """
    return from_partitions(plan(sources, since, until, every, per_account=per_account), batch_rows=batch_rows)

