"""chathaul as a dlt source: chat history loaded incrementally into any dlt destination.

``pip install "chathaul[dlt]"``, then::

    import dlt
    import chathaul.dlt

    pipeline = dlt.pipeline("helpdesk", destination="duckdb", dataset_name="chats")
    pipeline.run(chathaul.dlt.source([{"vendor": "kf5", "name": "acme"}]))

Each ``pipeline.run`` runs one incremental run per account, with the change tracking of
``chathaul sync``: it lists from the cursor (minus the look-back), revisits the conversations
that can still change (open, or not yet rated) and upserts them. The runs' state lives in dlt's
state, which dlt saves with the load package: it reaches the destination only with the data it
describes, and a package that is aborted takes its state back with it.

This module imports dlt only when it is imported itself; ``import chathaul`` stays light.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import date, datetime, timezone
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Union

try:
    import dlt
    import pyarrow as pa
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError('chathaul.dlt needs dlt: pip install "chathaul[dlt]"') from e

from ._api import (
    Connector,
    DurationArg,
    IncrementalTables,
    Simulator,
    SourceLike,
    TimeArg,
    _sources,
    connect,
    connectors,
    conversations_schema,
    messages_schema,
)
from .errors import ConfigError
from .model import format_instant, parse_instant

__all__ = ["source", "CONVERSATIONS_KEY", "MESSAGES_KEY", "REJECTS_KEY", "STATE_RESOURCE"]

#: The primary key of the ``conversations`` table.
CONVERSATIONS_KEY = ("vendor", "account", "id")
#: The primary key of the ``messages`` table; a conversation's messages are also replaced as
#: a whole (merge key ``vendor, account, conversation_id``), since they always come complete.
MESSAGES_KEY = ("vendor", "account", "conversation_id", "seq")
#: The primary key of the ``rejects`` table: one row per record set aside, per source.
REJECTS_KEY = ("source", "endpoint", "raw_digest")
#: The resource that runs the incremental runs; its state holds their states. It is not
#: loaded itself: ``conversations``, ``messages`` and ``rejects`` take its batches apart.
STATE_RESOURCE = "batches"

_TABLES = ("conversations", "messages")
# The options a source dict may set for itself, over the source's keyword defaults.
_SOURCE_OPTIONS = (
    "since",
    "lookback",
    "revisit_for",
    "full_refresh_every",
    "rating_window",
    "on_bad_record",
    "page_size",
)

log = logging.getLogger("chathaul.dlt")


class _Account(NamedTuple):
    """One source, ready to run: its name, its connector and its run options."""

    name: str
    connector: Connector
    options: Dict[str, Any]


class _Batch(NamedTuple):
    """What the state resource hands to the three tables: one batch of one source's run."""

    source: str
    tables: IncrementalTables
    at: datetime
    """The time the run reasoned about."""


def _config_error(name: str, message: str) -> ConfigError:
    err = ConfigError(f"dlt source {name!r}: {message}", kind="config")
    err.source = name
    return err


def _from_dlt_settings(name: str, vendor: str, config: Dict[str, str]) -> Dict[str, str]:
    """The source's config with the fields it lacks read from dlt's settings:
    ``sources.chathaul.<name>.<field>`` (``secrets.toml``, ``config.toml``, or the environment
    as ``SOURCES__CHATHAUL__<NAME>__<FIELD>``). Secret fields come from ``dlt.secrets`` only.
    Fields found in none of them are left to the connector (``CHATHAUL_<VENDOR>_<FIELD>``,
    then the default)."""
    info = {c.name: c for c in connectors()}.get(vendor)
    if info is None:
        return config  # connect() names the unknown vendor
    out = dict(config)
    for f in info.fields:
        if f.name in out:
            continue
        key = f"sources.chathaul.{name}.{f.name}"
        value: Any = None if f.secret else dlt.config.get(key)
        if value is None:
            value = dlt.secrets.get(key)
        if value is not None:
            out[f.name] = str(value)
    return out


def _duration_text(value: Optional[DurationArg]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    return f"{int(value.total_seconds())}s"


def _instant(value: Union[datetime, date, str, None]) -> Optional[datetime]:
    """``now`` as an aware UTC datetime: a datetime (naive = UTC), a date (its midnight UTC) or
    an ISO 8601 string of either."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            text = value.strip()
            value = parse_instant(text) if text.endswith(("Z", "z")) else datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"now: `{value}` is not a time: use RFC 3339 (2024-03-01T08:00:00Z), a date-time without"
                " offset (read in UTC) or a date (its midnight UTC)",
                kind="config",
                field="now",
            ) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    raise TypeError(f"now must be a datetime, a date or an ISO 8601 string, not {type(value).__name__}")


def _accounts(
    sources: Any,
    defaults: Dict[str, Any],
) -> List[_Account]:
    specs, _db = _sources(sources)
    if not specs:
        raise ValueError("chathaul.dlt.source() needs at least one source")
    out: List[_Account] = []
    names = set()
    for spec in specs:
        name = str(spec.get("name") or spec["vendor"])
        if name in names:
            raise _config_error(name, "is the name of two sources: give each its own name")
        names.add(name)
        config = _from_dlt_settings(name, spec["vendor"], dict(spec.get("config") or {}))
        try:
            connector = connect(spec["vendor"], config)
        except ConfigError as e:
            e.source = name
            raise
        options = {k: v for k, v in defaults.items() if v is not None}
        for key in _SOURCE_OPTIONS:
            if spec.get(key) is not None:
                options[key] = spec[key]
        if spec.get("summaries") is not None:
            options["summaries"] = bool(spec["summaries"])
        # A source that asks for no messages gets none, whatever the tables selected.
        options["messages"] = spec.get("messages") is not False
        out.append(_Account(name, connector, options))
    return out


def _selected_tables() -> List[str]:
    """The tables this run loads, of those that decide what is fetched."""
    selected = dlt.current.source().selected_resources
    return [t for t in _TABLES if t in selected]


def _microseconds(schema: Any) -> Any:
    """The schema with its timestamps in microseconds (the values are whole milliseconds): the
    precision most destinations default to, and the only one DuckDB combines with a time zone,
    so no destination is asked for a type it must change."""
    return pa.schema(
        [f.with_type(pa.timestamp("us", tz=f.type.tz)) if pa.types.is_timestamp(f.type) else f for f in schema],
        metadata=schema.metadata,
    )


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dlt.source(name="chathaul", section="chathaul", max_table_nesting=0)
def source(
    sources: Union[str, "os.PathLike[str]", Simulator, Mapping[str, Any], Sequence[SourceLike]],
    since: TimeArg = None,
    lookback: DurationArg = "1d",
    revisit_for: DurationArg = "14d",
    full_refresh_every: Optional[DurationArg] = None,
    rating_window: Optional[DurationArg] = None,
    summaries: bool = True,
    page_size: Optional[int] = None,
    on_bad_record: str = "skip",
    now: Union[datetime, date, str, None] = None,
    batch_size: int = 500,
) -> Any:
    """The chathaul dlt source: resources ``conversations``, ``messages`` and ``rejects``.

    ``sources`` is what :func:`chathaul.sync` takes: a list of source dicts (``vendor``,
    ``config``, optionally ``name`` and the per-source options below), one such dict, a
    ``chathaul.toml`` path, or a :class:`chathaul.Simulator` (every vendor and account). A
    source's name (its vendor's by default) keys its state: keep it when the config changes.
    Config fields a source leaves out are read from dlt's settings, as
    ``sources.chathaul.<name>.<field>`` (``secrets.toml``, ``config.toml`` or
    ``SOURCES__CHATHAUL__<NAME>__<FIELD>``; secret fields from the secrets only), then from
    ``CHATHAUL_<VENDOR>_<FIELD>``.

    The keyword options are those of :func:`chathaul.incremental_run`, for every source that
    does not set its own: ``since`` (where the first run starts; default: the vendor's whole
    history), ``lookback``, ``revisit_for``, ``full_refresh_every``, ``rating_window``,
    ``summaries``, ``page_size``, ``on_bad_record``. ``now`` is the time the runs reason
    about (default: the clock when the pipeline runs; a :class:`chathaul.Simulator`'s own
    clock when loading one). ``batch_size`` is the conversations per Arrow table.

    Every ``pipeline.run`` runs each source once from its state (kept in the state of the
    ``batches`` resource, per source, and per set of selected tables: a pipeline that loads
    only ``conversations`` fetches no messages and keeps a state of its own). ``conversations``
    and ``messages`` are merged on :data:`CONVERSATIONS_KEY` and :data:`MESSAGES_KEY`;
    ``rejects`` holds the records set aside (``on_bad_record="skip"``), one row each.

    A source whose run fails fails the extraction: nothing of this run is loaded and no state
    moves, so the next run asks again.

    Raises:
        ConfigError: a bad source, or two sources with one name (``error.source`` names it),
            when the source is created.
    """
    defaults = {
        "since": since,
        "lookback": _duration_text(lookback),
        "revisit_for": _duration_text(revisit_for),
        "full_refresh_every": _duration_text(full_refresh_every),
        "rating_window": _duration_text(rating_window),
        "summaries": summaries,
        "page_size": page_size,
        "on_bad_record": on_bad_record,
    }
    accounts = _accounts(sources, defaults)
    clock = sources if isinstance(sources, Simulator) else None
    fixed_now = _instant(now)
    conversations_us = _microseconds(conversations_schema())
    messages_us = _microseconds(messages_schema())

    @dlt.resource(name=STATE_RESOURCE, selected=False)
    def batches() -> Iterator[_Batch]:
        tables = _selected_tables()
        fetch_messages = "messages" in tables
        # The tables loaded decide what a state stands for: each set keeps its own.
        every_state: Dict[str, Any] = dlt.current.resource_state().setdefault("runs", {})
        runs: Dict[str, Any] = every_state.setdefault("+".join(tables) or "none", {})
        for account in accounts:
            at = fixed_now or (clock.now if clock is not None else datetime.now(timezone.utc))
            options = dict(account.options)
            options["messages"] = options["messages"] and fetch_messages
            run = account.connector.incremental(
                runs.get(account.name), now=format_instant(at), batch_size=batch_size, **options
            )
            with run:
                for batch in run.tables():
                    yield _Batch(account.name, batch, at)
            report = run.report or {}
            if report.get("shortfalls"):
                log.warning(
                    "chathaul source %r fetched less than the vendor reported: %s", account.name, report["shortfalls"]
                )
            changes = report.get("changes") or {}
            if changes.get("rejects"):
                log.warning(
                    "chathaul source %r set %d records aside (the rejects table has them)",
                    account.name,
                    changes["rejects"],
                )
            log.info("chathaul source %r: %s", account.name, changes)
            # Set once the run is over, so the state dlt saves with this load package is the
            # state after every batch of it.
            runs[account.name] = run.state

    @dlt.transformer(
        data_from=batches,
        name="conversations",
        primary_key=list(CONVERSATIONS_KEY),
        write_disposition="merge",
    )
    def conversations(batch: _Batch) -> Iterator[Any]:
        if batch.tables.conversations.num_rows:
            yield batch.tables.conversations.cast(conversations_us)

    @dlt.transformer(
        data_from=batches,
        name="messages",
        primary_key=list(MESSAGES_KEY),
        merge_key=["vendor", "account", "conversation_id"],
        write_disposition="merge",
    )
    def messages(batch: _Batch) -> Iterator[Any]:
        if batch.tables.messages.num_rows:
            yield batch.tables.messages.cast(messages_us)

    @dlt.transformer(
        data_from=batches,
        name="rejects",
        primary_key=list(REJECTS_KEY),
        write_disposition="merge",
    )
    def rejects(batch: _Batch) -> Iterator[Any]:
        rows = [
            {
                "source": batch.source,
                "vendor": r.get("vendor"),
                "account": r.get("account"),
                "endpoint": r.get("endpoint"),
                "page": r.get("page"),
                "path": r.get("path"),
                "conversation_id": r.get("id"),
                "error": r.get("error"),
                "raw": r.get("raw"),
                "raw_digest": _digest(r.get("raw") or ""),
                "last_seen": batch.at,
            }
            for r in batch.tables.rejects
        ]
        if rows:
            yield rows

    return batches, conversations, messages, rejects
