"""chathaul: customer-service chat history from helpdesk APIs (Bangwo8, KF5, CareSoft), normalized.

>>> import chathaul
>>> with chathaul.Simulator(conversations=50) as sim:          # the vendors, simulated locally
...     kf5 = chathaul.connect("kf5", **sim.config("kf5"))
...     result = kf5.pull(since="2024-01-01", until="2024-02-01", progress=False)
...     conversations, messages = result.to_pandas()

See ``docs/python.md`` and ``examples/notebooks/quickstart.ipynb``.
"""

from __future__ import annotations

from typing import Any

from . import _native
from ._api import (
    ConfigField,
    Connector,
    ConnectorInfo,
    Conversations,
    Frames,
    IncrementalBatch,
    IncrementalRun,
    IncrementalTables,
    PullResult,
    PulledFiles,
    Simulator,
    SyncResult,
    connect,
    connectors,
    conversations_schema,
    incremental_run,
    messages_schema,
    sync,
)
from ._partitions import Partition, PartitionResult, plan, pull_partition
from .errors import (
    ApiError,
    AuthError,
    ClosedError,
    ConfigError,
    DecodeError,
    Error,
    InternalError,
    IoError,
    RateLimitError,
    SinkError,
    StoreError,
    TransportError,
    UnsupportedError,
)
from .model import (
    Agent,
    Attachment,
    Conversation,
    Customer,
    Message,
    Metrics,
    Rating,
    Sender,
    Summary,
    SummaryField,
    TicketRef,
)

__version__: str = _native.__version__

# The integrations import their engines (dask, ray, dlt), which take seconds and are optional
# extras: they load on first use of `chathaul.dask`, `chathaul.ray` or `chathaul.dlt`, never
# with `import chathaul`.
_INTEGRATIONS = ("dask", "ray", "dlt")


def __getattr__(name: str) -> Any:
    if name in _INTEGRATIONS:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chathaul' has no attribute {name!r}")

__all__ = [
    "Agent",
    "ApiError",
    "Attachment",
    "AuthError",
    "ClosedError",
    "ConfigError",
    "ConfigField",
    "Connector",
    "ConnectorInfo",
    "Conversation",
    "Conversations",
    "Customer",
    "DecodeError",
    "Error",
    "Frames",
    "IncrementalBatch",
    "IncrementalRun",
    "IncrementalTables",
    "InternalError",
    "IoError",
    "Message",
    "Metrics",
    "Partition",
    "PartitionResult",
    "PullResult",
    "PulledFiles",
    "RateLimitError",
    "Rating",
    "Sender",
    "Simulator",
    "SinkError",
    "StoreError",
    "Summary",
    "SummaryField",
    "SyncResult",
    "TicketRef",
    "TransportError",
    "UnsupportedError",
    "__version__",
    "connect",
    "connectors",
    "conversations_schema",
    "incremental_run",
    "messages_schema",
    "plan",
    "pull_partition",
    "sync",
]
