"""The Python face of chathaul: connectors, queries, Arrow pulls, sync and the simulators."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Union,
)

from . import _native
from ._progress import Progress, ProgressArg
from .errors import error_class
from .model import Conversation, format_instant, parse_instant

TimeArg = Union[datetime, date, str, None]
"""A time argument: an aware ``datetime`` (any zone), a naive ``datetime`` or a
``date`` (read on the vendor's wall clock, the connector's ``timezone``), or an
ISO 8601 string of either form."""


def _time(name: str, value: TimeArg) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (datetime, date)):  # datetime is a date: one branch keeps both exact
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a datetime, a date or an ISO 8601 string, not {type(value).__name__}")


DurationArg = Union[timedelta, str]
"""A duration: a ``timedelta``, or text such as ``"1d"``, ``"12h"``, ``"30m"``, ``"90s"``."""


def _duration(name: str, value: Optional[DurationArg]) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return f"{int(value.total_seconds())}s"
    if isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a timedelta or a duration such as '1d', not {type(value).__name__}")


def _config_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    raise TypeError(f"config field {key!r} must be a string or a number, not {type(value).__name__}")


# ------------------------------------------------------------------ registry


@dataclass(frozen=True)
class ConfigField:
    """One configuration field of a connector."""

    name: str
    required: bool
    secret: bool
    default: Optional[str]
    env: str
    """The environment variable it can come from: ``CHATHAUL_<VENDOR>_<FIELD>``."""
    help: str


@dataclass(frozen=True)
class ConnectorInfo:
    """A registered vendor: its name, what it connects to, what it can do and the config it takes."""

    name: str
    description: str
    capabilities: Dict[str, Any]
    fields: List[ConfigField]

    def required_fields(self) -> List[str]:
        """The names of the fields that must be given (or set in the environment)."""
        return [f.name for f in self.fields if f.required]


def connectors() -> List[ConnectorInfo]:
    """The registered vendors, sorted by name, with their config fields."""
    return [
        ConnectorInfo(
            name=c["name"],
            description=c["description"],
            capabilities=dict(c["capabilities"]),
            fields=[ConfigField(**f) for f in c["fields"]],
        )
        for c in _native.connectors()
    ]


def connect(vendor: str, config: Optional[Mapping[str, Any]] = None, /, **fields: Any) -> Connector:
    """Builds a connector: ``connect("kf5", base_url=..., email=..., password=...)``.

    Fields may also come as a dict (``connect("kf5", sim.config("kf5"))``);
    keyword fields win. A field not given is read from the environment
    (``CHATHAUL_KF5_PASSWORD``), then its default.

    Raises:
        ConfigError: unknown vendor, unknown field, missing required field or an invalid value.
    """
    merged: Dict[str, str] = {}
    for source in (config or {}), fields:
        for k, v in source.items():
            if v is not None:
                merged[k] = _config_value(k, v)
    return Connector(_native.connect(vendor, merged))


# ------------------------------------------------------------------ streams


class Conversations(Iterator[Conversation], AsyncIterator[Conversation]):
    """The conversations of one query, as typed :class:`Conversation` objects.

    Iterate with ``for`` or ``async for``; the work runs in Rust with the GIL
    released. Closing it (or leaving a ``with`` block) cancels the rest.
    """

    def __init__(self, native: _native.ConversationIterator, progress: Progress) -> None:
        self._native = native
        self._progress = progress

    def __iter__(self) -> Conversations:
        return self

    def __next__(self) -> Conversation:
        try:
            d = next(self._native)
        except BaseException:
            self.close()
            raise
        self._progress.set(self._native.count, self._native.message_count)
        return Conversation.from_dict(d)

    def __aiter__(self) -> Conversations:
        return self

    async def __anext__(self) -> Conversation:
        loop = asyncio.get_running_loop()
        d = await loop.run_in_executor(None, _next_or_none, self._native)
        if d is None:
            self.close()
            raise StopAsyncIteration
        self._progress.set(self._native.count, self._native.message_count)
        return Conversation.from_dict(d)

    @property
    def count(self) -> int:
        """Conversations yielded so far."""
        return self._native.count

    def to_list(self) -> List[Conversation]:
        """Every (remaining) conversation, in order."""
        return list(self)

    def close(self) -> None:
        """Stops the stream and cancels the work behind it."""
        self._native.close()
        self._progress.close()

    def __enter__(self) -> Conversations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _next_or_none(it: _native.ConversationIterator) -> Optional[Dict[str, Any]]:
    try:
        return next(it)
    except StopIteration:
        return None


# ------------------------------------------------------------------ pull


class Frames(NamedTuple):
    """The two tables as DataFrames."""

    conversations: Any
    messages: Any


class _Reported:
    """``complete`` and ``shortfalls`` read from a pull's ``report``."""

    report: Dict[str, Any]

    @property
    def complete(self) -> bool:
        """Whether what the vendor reported matches what was fetched (no shortfall)."""
        return not self.report.get("shortfalls")

    @property
    def shortfalls(self) -> List[str]:
        """Every difference between what the vendor reported and what was fetched."""
        return list(self.report.get("shortfalls") or [])

    @property
    def rejects(self) -> List[Dict[str, Any]]:
        """The records set aside under ``on_bad_record="skip"``, one dict each (``vendor``,
        ``account``, ``endpoint``, ``page``, ``path``, ``error``, ``id``, ``raw``); ``pull_to``
        also writes them to ``NAME.rejects.jsonl`` (or a database's ``rejects`` table)."""
        return list(self.report.get("rejects", []))


@dataclass(frozen=True)
class PullResult(_Reported):
    """What ``Connector.pull()`` fetched: two Arrow tables built in Rust, and a report.

    ``conversations`` has one row per conversation and ``messages`` one per
    message; they join on (``vendor``, ``account``, ``id``) =
    (``vendor``, ``account``, ``conversation_id``). The columns are those of
    ``chathaul.conversations_schema()`` and ``chathaul.messages_schema()``.
    """

    conversations: Any
    """``pyarrow.Table``, one row per conversation."""
    messages: Any
    """``pyarrow.Table``, one row per message."""
    report: Dict[str, Any] = field(default_factory=dict)
    """Counts, the connector's counters (requests, pages, reported totals) and shortfalls."""

    def to_pandas(self) -> Frames:
        """The two tables as pandas DataFrames (nullable integer and boolean columns, UTC timestamps)."""
        import pandas as pd
        import pyarrow as pa

        mapping = {pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype()}
        return Frames(
            self.conversations.to_pandas(types_mapper=mapping.get),
            self.messages.to_pandas(types_mapper=mapping.get),
        )

    def to_polars(self) -> Frames:
        """The two tables as polars DataFrames (needs polars installed)."""
        try:
            import polars as pl
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_polars() needs polars: pip install polars") from e
        return Frames(pl.from_arrow(self.conversations), pl.from_arrow(self.messages))

    def __repr__(self) -> str:
        r = self.report
        return (
            f"PullResult({r.get('vendor')}:{r.get('account')}: {self.conversations.num_rows} conversations, "
            f"{self.messages.num_rows} messages, complete={self.complete})"
        )


@dataclass(frozen=True)
class PulledFiles(_Reported):
    """What ``Connector.pull_to()`` wrote: the files, and the report of the pull."""

    files: List[str]
    """Every file written (for partitioned output: every part file of every partition written)."""
    report: Dict[str, Any] = field(default_factory=dict)
    """Counts, the connector's counters (requests, pages, reported totals), shortfalls, the records
    set aside (``rejects``) and where they were kept (``rejects_at``)."""

    def __repr__(self) -> str:
        r = self.report
        rejected = f", {len(self.rejects)} rejected" if self.rejects else ""
        return (
            f"PulledFiles({r.get('vendor')}:{r.get('account')}: {r.get('conversations')} conversations, "
            f"{r.get('messages')} messages in {len(self.files)} files{rejected}, complete={self.complete})"
        )


def conversations_schema() -> Any:
    """The ``pyarrow.Schema`` of the conversations table (the facade's one schema)."""
    return _native.schemas()[0]


def messages_schema() -> Any:
    """The ``pyarrow.Schema`` of the messages table (the facade's one schema)."""
    return _native.schemas()[1]


# ------------------------------------------------------------------ connector


class Connector:
    """A connector to one vendor account; build it with :func:`connect`."""

    def __init__(self, native: _native.Connector) -> None:
        self._native = native

    @property
    def vendor(self) -> str:
        """The vendor name (``kf5``)."""
        return self._native.vendor

    @property
    def account(self) -> str:
        """The account (tenant) it reads."""
        return self._native.account

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._native.base_url

    @property
    def timezone(self) -> str:
        """The vendor's wall-clock zone: dates and naive datetimes in queries are read in it."""
        return self._native.timezone

    @property
    def capabilities(self) -> Dict[str, Any]:
        """What it can do (messages, summaries, which filters the vendor applies, the page-size cap)."""
        return dict(self._native.capabilities)

    def stats(self) -> Dict[str, Any]:
        """Counters of everything pulled so far: requests, retries, pages, reported totals."""
        return dict(self._native.stats())

    def conversations(
        self,
        *,
        since: TimeArg = None,
        until: TimeArg = None,
        by: str = "created",
        agent: Optional[str] = None,
        customer: Optional[str] = None,
        channel: Optional[str] = None,
        messages: bool = True,
        summaries: bool = True,
        limit: Optional[int] = None,
        page_size: Optional[int] = None,
        progress: ProgressArg = None,
    ) -> Conversations:
        """The conversations in ``[since, until)`` on their creation (``by="created"``) or end
        (``by="ended"``) time, optionally only one agent's (id or e-mail), customer's or channel's,
        with messages and summaries unless turned off, at most ``limit`` of them.

        Returns an iterator (also ``async for``) of :class:`Conversation`.

        Raises:
            ConfigError: an invalid time, window, ``by`` or ``limit``.
            AuthError, RateLimitError, DecodeError, ApiError, TransportError: while iterating.
        """
        native = self._native.conversations(
            since=_time("since", since),
            until=_time("until", until),
            by=by,
            agent=agent,
            customer=customer,
            channel=channel,
            messages=messages,
            summaries=summaries,
            limit=limit,
            page_size=page_size,
        )
        return Conversations(native, Progress(progress, desc=self.vendor, total=limit))

    def conversation(self, id: str, *, messages: bool = True, summaries: bool = True) -> Conversation:
        """One conversation by id. Raises :class:`ApiError` (status 404) when there is none."""
        return Conversation.from_dict(self._native.conversation(str(id), messages=messages, summaries=summaries))

    def pull(
        self,
        *,
        since: TimeArg = None,
        until: TimeArg = None,
        by: str = "created",
        agent: Optional[str] = None,
        customer: Optional[str] = None,
        channel: Optional[str] = None,
        messages: bool = True,
        summaries: bool = True,
        limit: Optional[int] = None,
        page_size: Optional[int] = None,
        on_bad_record: str = "fail",
        progress: ProgressArg = None,
    ) -> PullResult:
        """Pulls the same conversations as :meth:`conversations` straight into two Arrow tables
        built in Rust (no Python object per row). Ctrl-C stops it with ``KeyboardInterrupt``.

        ``on_bad_record`` says what a record that cannot be decoded does, as ``chathaul pull
        --on-bad-record``: ``"fail"`` (the default) raises its ``DecodeError`` (naming vendor,
        endpoint, page and field); ``"skip"`` leaves it out of the tables and sets it aside in
        ``result.rejects``.

        Raises:
            ConfigError: an invalid time, window or ``on_bad_record``.
        """
        bar = Progress(progress, desc=self.vendor, total=limit)
        try:
            convs, msgs, report = self._native.pull(
                since=_time("since", since),
                until=_time("until", until),
                by=by,
                agent=agent,
                customer=customer,
                channel=channel,
                messages=messages,
                summaries=summaries,
                limit=limit,
                page_size=page_size,
                on_bad_record=on_bad_record,
                progress=bar.set if bar.active else None,
            )
        finally:
            bar.close()
        return PullResult(convs, msgs, dict(report))

    def incremental(
        self,
        state: Union[None, str, Mapping[str, Any]] = None,
        *,
        since: TimeArg = None,
        lookback: DurationArg = "1d",
        revisit_for: DurationArg = "14d",
        full_refresh_every: Optional[DurationArg] = None,
        rating_window: Optional[DurationArg] = None,
        messages: bool = True,
        summaries: bool = True,
        page_size: Optional[int] = None,
        on_bad_record: str = "skip",
        now: TimeArg = None,
        batch_size: int = 100,
    ) -> IncrementalRun:
        """One incremental run of this account, with the same change tracking as :func:`sync`
        (a cursor on the time the vendor's listing follows, revisits of the conversations that
        can still change, a full re-read when ``full_refresh_every`` is due, bad records set
        aside) but no database: ``state`` is the last run's :attr:`IncrementalRun.state` (a dict
        or its JSON text; ``None`` for the first run). See :func:`incremental_run`.
        """
        text = state if isinstance(state, str) or state is None else json.dumps(dict(state))
        native = self._native.incremental(
            text,
            since=_time("since", since),
            lookback=_duration("lookback", lookback) or "1d",
            revisit_for=_duration("revisit_for", revisit_for) or "14d",
            full_refresh_every=_duration("full_refresh_every", full_refresh_every),
            rating_window=_duration("rating_window", rating_window),
            messages=messages,
            summaries=summaries,
            page_size=page_size,
            on_bad_record=on_bad_record,
            now=_time("now", now),
            batch_size=batch_size,
        )
        return IncrementalRun(native)

    def pull_to(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        partition_by: Optional[str] = None,
        since: TimeArg = None,
        until: TimeArg = None,
        by: str = "created",
        agent: Optional[str] = None,
        customer: Optional[str] = None,
        channel: Optional[str] = None,
        messages: bool = True,
        summaries: bool = True,
        limit: Optional[int] = None,
        page_size: Optional[int] = None,
        on_bad_record: str = "fail",
        progress: ProgressArg = None,
    ) -> PulledFiles:
        """Pulls the same conversations as :meth:`conversations` into files, as ``chathaul pull -o``
        does, without building them in Python.

        ``path``'s extension picks the format: ``.jsonl``, ``.csv`` and ``.parquet`` (two tables,
        ``NAME.conversations.EXT`` and ``NAME.messages.EXT``), ``.sqlite``. With
        ``partition_by="day"`` (or ``"month"``), ``path`` is a folder of hive-partitioned Parquet,
        ``path/conversations/vendor=…/account=…/date=…/part-00000.parquet`` and the same under
        ``path/messages/``, by the UTC date each conversation was created; each partition the pull
        writes is swapped in whole when it is complete, so a re-run replaces it.

        ``on_bad_record`` says what a record that cannot be decoded does, as ``chathaul pull
        --on-bad-record``: ``"fail"`` (the default) ends the pull with a :class:`DecodeError`;
        ``"skip"`` sets it aside and goes on. Records set aside are in :attr:`PulledFiles.rejects`
        and kept beside the output: ``NAME.rejects.jsonl`` (one JSON object a line), or the
        ``rejects`` table of a ``.sqlite`` output; ``report["rejects_at"]`` says where.

        Raises:
            ConfigError: an invalid time, window, ``partition_by`` or ``on_bad_record``.
            SinkError: a file or folder that cannot be written; a file where a folder is asked for.
            AuthError, RateLimitError, DecodeError, ApiError, TransportError: from the pull; a
                partitioned folder is then left as it was.
        """
        bar = Progress(progress, desc=self.vendor, total=limit)
        try:
            report = self._native.pull_to(
                os.fspath(path),
                partition_by=partition_by,
                since=_time("since", since),
                until=_time("until", until),
                by=by,
                agent=agent,
                customer=customer,
                channel=channel,
                messages=messages,
                summaries=summaries,
                limit=limit,
                page_size=page_size,
                on_bad_record=on_bad_record,
                progress=bar.set if bar.active else None,
            )
        finally:
            bar.close()
        report = dict(report)
        return PulledFiles(list(report.pop("files")), report)

    def __repr__(self) -> str:
        return repr(self._native)


class IncrementalBatch(NamedTuple):
    """One batch of an incremental run: conversations (dicts in the JSON contract; store them
    together, upserting by ``(vendor, account, id)``) and the records set aside."""

    conversations: List[Dict[str, Any]]
    rejects: List[Dict[str, Any]]


class IncrementalTables(NamedTuple):
    """One batch of an incremental run as the two Arrow tables of :func:`conversations_schema`
    and :func:`messages_schema` (built in Rust, as :meth:`Connector.pull` builds them) and the
    records set aside."""

    conversations: Any
    """``pyarrow.Table``, one row per conversation: upsert by ``(vendor, account, id)``."""
    messages: Any
    """``pyarrow.Table``, one row per message of those conversations (all of each one's
    messages): upsert by ``(vendor, account, conversation_id, seq)``."""
    rejects: List[Dict[str, Any]]


class IncrementalRun(Iterator[IncrementalBatch]):
    """One incremental run: iterate for its batches; then :attr:`state` is the state to hand
    to the next run and :attr:`report` says what the run did.

    A failure raises from the iteration (the class of the error, as everywhere): the state then
    keeps the cursor where it was, so the next run asks for the same window again.
    """

    def __init__(self, native: _native.IncrementalRun) -> None:
        self._native = native

    def __iter__(self) -> IncrementalRun:
        return self

    def __next__(self) -> IncrementalBatch:
        d = next(self._native)
        return IncrementalBatch(list(d["conversations"]), list(d["rejects"]))

    def tables(self) -> Iterator[IncrementalTables]:
        """The rest of the run's batches as Arrow tables (:class:`IncrementalTables`) instead of
        dicts; a failure raises from the iteration, as it does from ``for batch in run``."""
        while True:
            got = self._native.next_tables()
            if got is None:
                return
            conversations, messages, rejects = got
            yield IncrementalTables(conversations, messages, list(rejects))

    @property
    def state(self) -> Dict[str, Any]:
        """The state as of the batches yielded so far; once the run is over, the state for the
        next run (JSON-ready: instants as RFC 3339 strings)."""
        return dict(self._native.state)

    @property
    def report(self) -> Optional[Dict[str, Any]]:
        """Once the run is over: ``changes`` (revisited, changed, new, still pending, expired,
        rejects, ...), ``plan``, ``stats``, ``shortfalls``, ``complete``, ``error``."""
        r = self._native.report
        return None if r is None else dict(r)

    @property
    def complete(self) -> bool:
        """Whether the run is over and fetched everything it set out to."""
        return self._native.complete

    def close(self) -> None:
        """Stops the run (the state stays as of the batches yielded)."""
        self._native.close()

    def __enter__(self) -> IncrementalRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def incremental_run(
    connector: Connector,
    state: Union[None, str, Mapping[str, Any]] = None,
    **options: Any,
) -> IncrementalRun:
    """One incremental run of ``connector``'s account from ``state`` (``None`` for the first
    run), with :meth:`Connector.incremental`'s options: the change tracking of :func:`sync`
    for callers that keep the state themselves (a dlt resource keeps it in dlt's state)::

        run = chathaul.incremental_run(kf5, state)
        for batch in run:
            load(batch.conversations)   # upsert by (vendor, account, id)
        state = run.state               # hand it to the next run
    """
    return connector.incremental(state, **options)


# ------------------------------------------------------------------ sync


@dataclass(frozen=True)
class SyncResult:
    """What a sync run did: one report per source (counts, reported totals, shortfalls, error, state)."""

    db: str
    sources: List[Dict[str, Any]]

    @property
    def complete(self) -> bool:
        """Whether every source fetched everything asked for."""
        return all(s.get("complete") for s in self.sources)

    @property
    def errors(self) -> List[str]:
        """The error of every source that failed."""
        return [s["pull"]["error"] for s in self.sources if s["pull"].get("error")]

    @property
    def rejects(self) -> List[Dict[str, Any]]:
        """The records this run set aside because they could not be decoded, every source's,
        each with ``source``, ``vendor``, ``account``, ``endpoint``, ``page``, ``path``,
        ``error``, ``id`` (when known) and ``raw`` (the record's text). They are in the
        database's ``rejects`` table too."""
        return [dict(r, source=s["pull"]["source"]) for s in self.sources for r in s["pull"].get("rejects", [])]

    @property
    def changes(self) -> Dict[str, Dict[str, Any]]:
        """What the change tracking did, per source: ``revisited``, ``changed``, ``new``,
        ``still_pending``, ``oldest_pending``, ``expired``, ``rejects``, ``full_refresh``, ..."""
        return {s["pull"]["source"]: dict(s.get("changes") or {}) for s in self.sources}

    def __repr__(self) -> str:
        parts = [
            f"{s['pull']['source']}: {s['pull']['conversations']} conversations"
            + (f", {len(s['pull']['rejects'])} rejected" if s["pull"].get("rejects") else "")
            + (f" (error: {s['pull']['error_kind']})" if s["pull"].get("error") else "")
            for s in self.sources
        ]
        return f"SyncResult({self.db}: {'; '.join(parts)})"


SourceLike = Union[Mapping[str, Any], "Simulator"]


def _sources(config_or_sources: Any) -> tuple[List[Dict[str, Any]], Optional[str]]:
    """The sources, and the config file they came from (whose ``db`` the sync defaults to)."""
    if isinstance(config_or_sources, (str, os.PathLike)):
        path = os.fspath(config_or_sources)
        found, _db = _native.load_config(path)
        return [dict(s) for s in found], path
    if isinstance(config_or_sources, Simulator):
        return config_or_sources.sources(), None
    if isinstance(config_or_sources, Mapping):
        config_or_sources = [config_or_sources]
    out: List[Dict[str, Any]] = []
    for s in config_or_sources:
        if isinstance(s, Mapping):
            if "vendor" not in s:
                raise TypeError(f"a source needs a `vendor`: {sorted(s)}")
            d = dict(s)
            d["config"] = {k: _config_value(k, v) for k, v in dict(d.get("config") or {}).items() if v is not None}
            if "since" in d:
                d["since"] = _time("since", d["since"])
            for key in ("lookback", "revisit_for", "full_refresh_every", "rating_window"):
                if key in d:
                    d[key] = _duration(key, d[key])
            out.append(d)
        elif isinstance(s, Simulator):
            out.extend(s.sources())
        else:
            raise TypeError(f"a source is a dict with vendor and config, not {type(s).__name__}")
    return out, None


def sync(
    config_or_sources: Union[str, "os.PathLike[str]", "Simulator", Mapping[str, Any], Sequence[SourceLike]],
    db: Union[str, "os.PathLike[str]", None] = None,
    *,
    progress: ProgressArg = None,
    batch_size: int = 100,
    raise_on_error: bool = True,
    now: TimeArg = None,
    full_refresh: bool = False,
) -> SyncResult:
    """Syncs one or many sources into a SQLite or Postgres database, incrementally: each run lists from
    the source's cursor (the newest time seen, on the time its vendor's listing follows, minus
    the look-back), revisits the conversations that can still change (open, or unrated within
    the rating window) until they are final or ``revisit_for`` has passed, re-reads everything
    when ``full_refresh_every`` is due, sets records that cannot be decoded aside (``rejects``)
    and upserts by (vendor, account, id); data, revisits and rejects move in one transaction
    per batch, the cursor when the run is complete.

    ``config_or_sources`` is a ``chathaul.toml`` path (as the CLI reads), a list of sources
    (dicts with ``vendor``, ``config`` and optionally ``name``, ``since``, ``lookback``
    such as ``"1d"``, ``revisit_for``, ``full_refresh_every``, ``rating_window`` (durations
    or ``timedelta``), ``on_bad_record`` (``"skip"``, the default, or ``"fail"``),
    ``messages``, ``summaries``, ``page_size``), one such dict, or a :class:`Simulator` (all
    its vendors). ``db`` is a SQLite path or a Postgres URL
    (``postgresql://user@host:5432/dbname?sslmode=require&schema=chathaul``; the password from
    ``PGPASSWORD`` or ``~/.pgpass``); it defaults to the file's ``db``, else ``chathaul.sqlite``;
    ``result.db`` shows it without any password. ``now`` is
    the time the run reasons about (default: the clock; a :class:`Simulator`'s own clock when
    syncing one); ``full_refresh`` re-reads everything this run.

    Raises:
        ConfigError: a bad source (before anything is fetched).
        Error: (the class of the first failure) when a source failed and ``raise_on_error``;
            the other sources still ran and what they fetched is stored.
    """
    sources, config_file = _sources(config_or_sources)
    target = os.fspath(db) if db is not None else None
    # Shown without any password: a path, or the URL without it.
    location = _native.database_location(target, config_file)
    if now is None and isinstance(config_or_sources, Simulator):
        now = config_or_sources.now
    at = now if not isinstance(now, datetime) or now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    if isinstance(at, date) and not isinstance(at, datetime):
        at = datetime(at.year, at.month, at.day, tzinfo=timezone.utc)
    bar = Progress(progress, desc="sync")
    try:
        reports = _native.sync(
            sources,
            target,
            config=config_file,
            progress=bar.set if bar.active else None,
            batch_size=batch_size,
            now=format_instant(at) if isinstance(at, datetime) else at,
            full_refresh=full_refresh,
        )
    finally:
        bar.close()
    result = SyncResult(db=location, sources=[dict(r) for r in reports])
    if raise_on_error:
        failed = [s["pull"] for s in result.sources if s["pull"].get("error")]
        if failed:
            cls = error_class(failed[0].get("error_kind"))
            err = cls("; ".join(f["error"] for f in failed), kind=failed[0].get("error_kind") or "other")
            err.source = failed[0].get("source")
            err.details["result"] = result
            raise err
    return result


# ------------------------------------------------------------------ simulator


def _sim_instant(value: Union[datetime, date, str]) -> str:
    """The simulator's clock takes instants: an aware datetime, a naive one (read as UTC),
    a date (its midnight UTC) or an RFC 3339 string."""
    if isinstance(value, datetime):
        return format_instant(value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)) or ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"now must be a datetime, a date or an RFC 3339 string, not {type(value).__name__}")


class Simulator:
    """The simulators of every vendor, in-process on 127.0.0.1, with a seeded dataset.

    Use it as a context manager::

        with chathaul.Simulator(seed=7, conversations=100) as sim:
            kf5 = chathaul.connect("kf5", **sim.config("kf5"))

    The data changes over time the way real accounts do: conversations start, get messages,
    end and are rated later. ``now`` sets the simulated clock (by default late enough that
    every conversation is final); :meth:`advance` moves it, :attr:`now` reads it, and the
    servers and :meth:`truth` follow it.

    ``accounts`` serves that many accounts per vendor, each with its own data, credentials
    and rate budget (``sim.config(vendor, account=i)``; account 0 is the demo account).

    ``latency_ms`` (plus up to ``jitter_ms``, plus ``latency_per_in_flight_ms`` per request
    already in flight to the same account) delays every answer, ``rate_limit`` answers 429
    above that many requests per second per account (with Retry-After unless
    ``retry_after=False``), ``fault_rate`` (0..1) of the answers get a fault drawn from
    ``faults`` (``"500"``, ``"502"``, ``"503"``, ``"drop"``, ``"truncate"``, ``"html"``,
    ``"slow-drip"``), and :meth:`fail_next` makes the next requests answer 500.
    """

    def __init__(
        self,
        *,
        seed: int = 42,
        conversations: int = 200,
        messages: int = 12,
        start: Union[date, str] = "2024-01-01",
        days: int = 90,
        now: Union[datetime, date, str, None] = None,
        accounts: int = 1,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        latency_per_in_flight_ms: float = 0,
        rate_limit: Optional[int] = None,
        retry_after: bool = True,
        fault_rate: float = 0.0,
        faults: Optional[Sequence[str]] = None,
        port: int = 0,
    ) -> None:
        self._native = _native.Simulator(
            seed=seed,
            conversations=conversations,
            messages=messages,
            start=start.isoformat() if isinstance(start, date) else start,
            days=days,
            now=_sim_instant(now) if now is not None else None,
            accounts=accounts,
            latency_ms=float(latency_ms),
            jitter_ms=float(jitter_ms),
            latency_per_in_flight_ms=float(latency_per_in_flight_ms),
            rate_limit=rate_limit,
            retry_after=retry_after,
            fault_rate=float(fault_rate),
            faults=list(faults) if faults is not None else None,
            port=port,
        )

    @property
    def vendors(self) -> List[str]:
        """The vendors it serves."""
        return list(self._native.vendors)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._native.url

    @property
    def seed(self) -> int:
        return self._native.seed

    @property
    def start(self) -> date:
        """The first local day of the data."""
        return date.fromisoformat(self._native.start)

    @property
    def days(self) -> int:
        """The span of the data, in days."""
        return self._native.days

    @property
    def accounts(self) -> int:
        """Accounts per vendor."""
        return self._native.accounts

    @property
    def now(self) -> datetime:
        """The simulated current time, an aware UTC ``datetime``. Assign to set it."""
        at = parse_instant(self._native.now)
        assert at is not None
        return at

    @now.setter
    def now(self, value: Union[datetime, date, str]) -> None:
        self._native.set_now(_sim_instant(value))

    def advance(
        self,
        delta: Optional[timedelta] = None,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Moves the simulated clock forward (back when negative) by ``delta`` plus the keyword
        amounts, and returns the new time. Chats start, get messages, end and are rated as the
        clock passes their times."""
        step = (delta or timedelta()) + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        at = parse_instant(self._native.advance(step // timedelta(microseconds=1)))
        assert at is not None
        return at

    def fail_next(self, n: int, *, vendor: Optional[str] = None, account: Optional[int] = None) -> None:
        """Makes the next ``n`` vendor requests answer HTTP 500 (only those to ``vendor`` and/or
        ``account`` when given): a deterministic failure for retry tests."""
        self._native.fail_next(n, vendor, account)

    def corrupt(self, vendor: str, id: str, field: str, value: str, *, account: Optional[int] = None) -> None:
        """Serves the record ``id`` of ``vendor`` with ``field`` (a dotted path such as
        ``created_at`` or ``messages.0.created_at``) replaced by the string ``value`` in every
        answer that holds it, from now on: a malformed record among good ones."""
        self._native.corrupt(vendor, str(id), field, value, account)

    def base_url(self, vendor: str, account: int = 0) -> str:
        """``http://127.0.0.1:PORT/<vendor>`` (account 0) or ``.../<vendor>/<account>``."""
        return self._native.base_url(vendor, account)

    def config(self, vendor: str, account: int = 0) -> Dict[str, str]:
        """The complete connector config of an account of the vendor (0: the demo account):
        ``connect(vendor, **sim.config(vendor))``."""
        return dict(self._native.config(vendor, account))

    def connect(self, vendor: str, *, account: int = 0, **fields: Any) -> Connector:
        """A connector to an account of the vendor (extra fields such as ``timeout_secs``
        override; ``account`` is the account's index, so Bangwo8's own ``account`` field can
        only be overridden through ``chathaul.connect``)."""
        return connect(vendor, self.config(vendor, account), **fields)

    def sources(self) -> List[Dict[str, Any]]:
        """A sync source per vendor and account, named after the vendor (``kf5``) for
        account 0 and ``<vendor>-<account>`` (``kf5-1``) for the others."""
        return [
            {"name": v if k == 0 else f"{v}-{k}", "vendor": v, "config": self.config(v, k)}
            for k in range(self.accounts)
            for v in self.vendors
        ]

    def truth(self, vendor: Optional[str] = None, *, account: int = 0) -> List[Conversation]:
        """What a perfect pull with messages and summaries gives at the simulated clock: one
        vendor's, or all (by vendor, then id), of one account."""
        return [Conversation.from_dict(d) for d in self._native.truth(vendor, account)]

    def truth_dicts(self, vendor: Optional[str] = None, *, account: int = 0) -> List[Dict[str, Any]]:
        """:meth:`truth` in the JSON contract (dicts), as the CLI's JSONL has it."""
        return list(self._native.truth(vendor, account))

    def stats(self) -> Dict[str, Any]:
        """Requests served so far: ``requests``, ``throttled``, ``faults``, ``per_vendor``."""
        return dict(self._native.stats())

    @property
    def running(self) -> bool:
        return self._native.running

    def close(self) -> None:
        """Stops serving (idempotent)."""
        self._native.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._native)


ProgressCallback = Callable[[int, int], None]
