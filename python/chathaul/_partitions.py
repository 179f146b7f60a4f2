"""Partitions: one source (a vendor account) over one window of creation times, the unit of
work that Dask, Ray or a thread pool schedules, retries and writes alone."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from ._api import Frames, PullResult, Simulator, SourceLike, TimeArg, _Reported, _sources, _time
from .errors import Error
from .model import format_instant, parse_instant

EveryArg = Union[str, timedelta]
"""A window length: ``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"``, or a ``timedelta``."""


@dataclass(frozen=True)
class Partition:
    """One source over one window ``[since, until)`` of creation times.

    Picklable, so it can be shipped to worker processes. It carries the connector config it
    was planned with, exactly as given: fields left out (a password, a token) are read from
    the ``CHATHAUL_<VENDOR>_<FIELD>`` environment variables of the process that pulls it.
    ``repr()`` and ``str()`` show the config's keys at most, never a value.
    """

    index: int
    """Its position in the plan."""
    source: str
    """The source's name (unique within the plan)."""
    vendor: str
    account: str
    """The account the source's connector reads."""
    since: datetime
    """Inclusive start (aware UTC)."""
    until: datetime
    """Exclusive end (aware UTC)."""
    messages: bool = True
    summaries: bool = True
    page_size: Optional[int] = None
    per_account: int = 1
    """How many partitions of this account may be pulled at once."""
    config: Tuple[Tuple[str, str], ...] = field(default=(), repr=False)
    """The connector's key/values as given (secrets among them if they were given)."""

    @property
    def account_key(self) -> str:
        """``vendor/account``: partitions with the same key share that account's rate budget."""
        return f"{self.vendor}/{self.account}"

    @property
    def key(self) -> str:
        """A stable name: ``vendor/account/since``."""
        return f"{self.account_key}/{format_instant(self.since)}"

    def __str__(self) -> str:
        return f"{self.account_key} [{format_instant(self.since)}, {format_instant(self.until)})"

    def __repr__(self) -> str:
        keys = [k for k, _ in self.config]
        return f"Partition(#{self.index} {self} source={self.source!r} config keys={keys})"

    def _native_spec(self) -> Dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "vendor": self.vendor,
            "account": self.account,
            "config": dict(self.config),
            "since": format_instant(self.since),
            "until": format_instant(self.until),
            "messages": self.messages,
            "summaries": self.summaries,
            "page_size": self.page_size,
        }


@dataclass(frozen=True)
class PartitionResult(_Reported):
    """One partition, pulled: the two Arrow tables and when and how the pull ran."""

    partition: Partition
    conversations: Any
    """``pyarrow.Table``, one row per conversation (``chathaul.conversations_schema()``)."""
    messages: Any
    """``pyarrow.Table``, one row per message (``chathaul.messages_schema()``)."""
    report: Dict[str, Any]
    """Counts, the connector's counters (requests, retries, pages, reported totals), shortfalls."""
    started_at: datetime
    ended_at: datetime

    @property
    def learned_rate(self) -> Optional[float]:
        """The rate (requests per second) the account was paced at when the pull ended: what
        it learned from the server's throttles, or was seeded with; ``None`` if neither."""
        rate = self.report.get("stats", {}).get("http", {}).get("rate")
        return None if rate is None else float(rate)

    def to_pandas(self) -> Frames:
        """The two tables as pandas DataFrames, as :meth:`PullResult.to_pandas`."""
        return PullResult(self.conversations, self.messages, self.report).to_pandas()

    def __repr__(self) -> str:
        return (
            f"PartitionResult({self.partition}: {self.conversations.num_rows} conversations, "
            f"{self.messages.num_rows} messages, complete={self.complete})"
        )


def _every(every: EveryArg) -> str:
    if isinstance(every, timedelta):
        seconds = every.total_seconds()
        if seconds != int(seconds):
            raise ValueError(f"every must be a whole number of seconds, not {every}")
        return f"{int(seconds)}s"
    if isinstance(every, str):
        return every
    raise TypeError(f"every must be a duration such as '7d' or a timedelta, not {type(every).__name__}")


def plan(
    sources: Union[str, "os.PathLike[str]", Simulator, Mapping[str, Any], Sequence[SourceLike]],
    since: TimeArg,
    until: TimeArg,
    every: EveryArg = "7d",
    *,
    per_account: int = 1,
) -> List[Partition]:
    """Cuts every source's ``[since, until)`` into windows of ``every`` and returns the
    partitions, window by window (each window's sources in the order given, so a runner that
    takes them in order spreads the work over accounts).

    ``sources`` is what :func:`chathaul.sync` takes: a :class:`Simulator` (each vendor and
    account), a list of source dicts (``vendor``, ``config``, optionally ``name``,
    ``messages``, ``summaries``, ``page_size``, and ``since``, a lower bound for that
    source), one such dict, or a ``chathaul.toml`` path. ``since`` and ``until`` are read as
    in :meth:`Connector.pull`: a date or naive time is on each source's own wall clock.
    ``per_account`` is how many partitions of one account may be pulled at once (by
    :func:`pull_partition` in one process, and cluster-wide by ``chathaul.dask`` and
    ``chathaul.ray``).

    Every source's connector is built here, so a configuration mistake raises now, naming
    the source (``error.source``), and not on a worker.

    Raises:
        ConfigError: a bad source, time, window or ``every``.
    """
    if not isinstance(per_account, int) or isinstance(per_account, bool) or per_account < 1:
        raise ValueError(f"per_account must be a whole number of at least 1, not {per_account!r}")
    specs, _db = _sources(sources)
    since_text = _time("since", since)
    until_text = _time("until", until)
    if since_text is None or until_text is None:
        raise ValueError("plan() needs both since and until: a partition is a bounded window")
    out = []
    for d in _native.plan(specs, since_text, until_text, _every(every)):
        since_at, until_at = parse_instant(d["since"]), parse_instant(d["until"])
        assert since_at is not None and until_at is not None
        out.append(
            Partition(
                index=d["index"],
                source=d["source"],
                vendor=d["vendor"],
                account=d["account"],
                since=since_at,
                until=until_at,
                messages=d["messages"],
                summaries=d["summaries"],
                page_size=d["page_size"],
                per_account=per_account,
                config=tuple(sorted(dict(d["config"]).items())),
            )
        )
    return out


# One semaphore per account in this process, so threads that pull partitions of the same
# account take turns. Cluster-wide runners (chathaul.dask, chathaul.ray) hold their own
# lease around this one.
_slots: Dict[Tuple[str, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextmanager
def account_slot(partition: Partition) -> Iterator[None]:
    """Holds one of the ``partition.per_account`` slots of its account in this process."""
    key = (partition.account_key, partition.per_account)
    with _slots_lock:
        slot = _slots.setdefault(key, threading.BoundedSemaphore(partition.per_account))
    with slot:
        yield


def pull_partition(partition: Partition, *, batch_rows: int = 4096, seed_rate: Optional[float] = None) -> PartitionResult:
    """Pulls one partition into two Arrow tables built in Rust.

    All or nothing: a failure raises (the error's message starts with the partition, and
    ``error.partition`` holds it as text) and returns no rows, so a runner retries the
    partition whole; pulling it again gives the same rows. In one process, at most
    ``partition.per_account`` partitions of one account are pulled at once (callers on other
    threads wait their turn). Ctrl-C raises ``KeyboardInterrupt``.

    ``seed_rate`` (requests per second) starts the account paced at that rate, unless this
    process has learned one for it already: for a runner whose partitions of one account run
    in different processes, to pass on the rate an earlier partition learned
    (``result.learned_rate``) instead of each one finding the server's limit again with a
    burst of refusals. :func:`chathaul.ray.read` does this.

    Raises:
        AuthError, RateLimitError, DecodeError, ApiError, TransportError: the pull failed.
        ConfigError: a config field missing from the partition and from the environment.
    """
    with account_slot(partition):
        try:
            convs, msgs, report = _native.pull_partition(
                partition._native_spec(), batch_rows=batch_rows, seed_rate=seed_rate
            )
        except Error as e:
            e.message = f"partition {partition}: {e.message}"
            e.args = (e.message,)
            e.partition = str(partition)
            raise
    started, ended = parse_instant(report["started_at"]), parse_instant(report["ended_at"])
    assert started is not None and ended is not None
    return PartitionResult(partition, convs, msgs, dict(report), started, ended)
