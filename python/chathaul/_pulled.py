"""One pulled partition as one Arrow row: its report and both tables as Arrow IPC streams, the
form in which Dask and Ray move a partition between processes (one object per partition, so
both tables and the report travel and are retried together)."""

from __future__ import annotations

import os
import socket
from typing import Any, Dict, Iterable, Optional

import pyarrow as pa

from ._partitions import PartitionResult

CONVERSATIONS_IPC = "conversations_ipc"
MESSAGES_IPC = "messages_ipc"

#: The columns of the ``partitions`` frame: one row per partition, what it asked for and how
#: its pull went (``started_at``/``ended_at`` are when it ran, ``worker`` where).
PARTITION_COLUMNS: Dict[str, pa.DataType] = {
    "index": pa.int64(),
    "source": pa.string(),
    "vendor": pa.string(),
    "account": pa.string(),
    "since": pa.timestamp("us", tz="UTC"),
    "until": pa.timestamp("us", tz="UTC"),
    "conversations": pa.int64(),
    "messages": pa.int64(),
    "requests": pa.int64(),
    "retries": pa.int64(),
    "throttled": pa.int64(),
    "complete": pa.bool_(),
    "shortfalls": pa.list_(pa.string()),
    "started_at": pa.timestamp("us", tz="UTC"),
    "ended_at": pa.timestamp("us", tz="UTC"),
    "elapsed_secs": pa.float64(),
    "worker": pa.string(),
}

PULLED_SCHEMA = pa.schema(
    [pa.field(name, t) for name, t in PARTITION_COLUMNS.items()]
    + [pa.field(CONVERSATIONS_IPC, pa.binary()), pa.field(MESSAGES_IPC, pa.binary())]
)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def pulled_row(result: PartitionResult) -> pa.Table:
    p, http = result.partition, result.report.get("stats", {}).get("http", {})
    values: Dict[str, Any] = {
        "index": p.index,
        "source": p.source,
        "vendor": p.vendor,
        "account": p.account,
        "since": p.since,
        "until": p.until,
        "conversations": result.conversations.num_rows,
        "messages": result.messages.num_rows,
        "requests": http.get("requests"),
        "retries": http.get("retries"),
        "throttled": http.get("throttled"),
        "complete": result.complete,
        "shortfalls": result.shortfalls,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "elapsed_secs": result.report.get("elapsed_secs"),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        CONVERSATIONS_IPC: to_ipc(result.conversations),
        MESSAGES_IPC: to_ipc(result.messages),
    }
    return pa.Table.from_pylist([values], schema=PULLED_SCHEMA)


def tables_of(blobs: Iterable[Optional[bytes]], schema: pa.Schema) -> pa.Table:
    """The table that a column of IPC blobs holds, concatenated (empty with ``schema`` when
    there is none)."""
    tables = [pa.ipc.open_stream(pa.py_buffer(b)).read_all() for b in blobs if b is not None]
    return pa.concat_tables(tables) if tables else schema.empty_table()
