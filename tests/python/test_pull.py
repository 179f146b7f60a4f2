"""conn.pull(): Arrow tables built in Rust, their documented schema, pandas and polars."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import List, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import chathaul
from conftest import VENDORS, by_id

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def documented(table: str) -> List[Tuple[str, str, bool]]:
    """The (column, type, nullable) rows of a table as docs/python.md documents it."""
    text = DOC.read_text(encoding="utf-8")
    # The section that documents the tables (other sections name them too).
    text = text[text.index("\n## The tables\n") :]
    start = text.index(f"`{table}`")
    rows = []
    for line in text[start:].splitlines()[1:]:
        m = re.match(r"^\| `([a-z_]+)` \| `([^`]+)` \| (yes|no) \|$", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3) == "yes"))
        elif rows and not line.startswith("|"):
            break
    return rows


def schema_rows(schema: pa.Schema) -> List[Tuple[str, str, bool]]:
    return [(f.name, str(f.type), f.nullable) for f in schema]


def test_tables_have_the_documented_schema(sim: chathaul.Simulator) -> None:
    result = sim.connect("bangwo8").pull(progress=False)
    assert isinstance(result.conversations, pa.Table) and isinstance(result.messages, pa.Table)
    conv_doc, msg_doc = documented("conversations"), documented("messages")
    assert len(conv_doc) == 42 and len(msg_doc) == 14
    assert schema_rows(result.conversations.schema) == conv_doc
    assert schema_rows(result.messages.schema) == msg_doc
    assert result.conversations.schema.equals(chathaul.conversations_schema())
    assert result.messages.schema.equals(chathaul.messages_schema())


@pytest.mark.parametrize("vendor", VENDORS)
def test_rows_equal_the_truth(sim: chathaul.Simulator, vendor: str) -> None:
    truth = sim.truth(vendor)
    result = sim.connect(vendor).pull(progress=False)
    convs = result.conversations.to_pylist()
    msgs = result.messages.to_pylist()
    assert len(convs) == len(truth) == 40
    assert len(msgs) == sum(len(c.messages) for c in truth)
    rows = {r["id"]: r for r in convs}
    assert set(rows) == {c.id for c in truth}
    for c in truth:
        r = rows[c.id]
        assert (r["vendor"], r["account"]) == (c.vendor, c.account)
        assert r["created_at"] == c.created_at
        assert r["ended_at"] == c.ended_at
        assert r["channel"] == c.channel
        assert r["agent_id"] == (c.agent.id if c.agent else None)
        assert r["customer_id"] == c.customer.id
        assert r["rating_satisfaction"] == (c.rating.satisfaction if c.rating else None)
        assert r["first_response_secs"] == c.metrics.first_response_secs
        assert r["message_count"] == len(c.messages)
        assert r["messages_fetched"] == c.messages_fetched
        assert json.loads(r["raw_json"]) == c.raw
        assert json.loads(r["agents_json"]) == [a.to_dict() for a in c.agents]
    # Messages: in order within each conversation, seq from 0.
    by_conv: dict = {}
    for m in msgs:
        by_conv.setdefault(m["conversation_id"], []).append(m)
    for c in truth:
        got = by_conv.get(c.id, [])
        assert [m["seq"] for m in got] == list(range(len(c.messages)))
        assert [m["text"] for m in got] == [m.text for m in c.messages]
        assert [m["sent_at"] for m in got] == [m.sent_at for m in c.messages]
        assert [m["sender_role"] for m in got] == [m.sender.role for m in c.messages]
    assert result.report["conversations"] == 40
    assert result.report["messages"] == len(msgs)
    assert result.complete and result.shortfalls == []
    assert repr(result) == f"PullResult({vendor}:{truth[0].account}: 40 conversations, {len(msgs)} messages, complete=True)"


def test_pull_takes_the_same_query_as_conversations(sim: chathaul.Simulator) -> None:
    conn = sim.connect("kf5")
    ids = [c.id for c in conn.conversations(since="2024-01-10", until="2024-02-20", progress=False)]
    result = conn.pull(since="2024-01-10", until="2024-02-20", progress=False)
    assert ids and result.conversations.column("id").to_pylist() == ids
    limited = conn.pull(limit=5, messages=False, progress=False)
    assert limited.conversations.num_rows == 5 and limited.messages.num_rows == 0
    assert limited.report["limit_reached"] is True
    assert limited.conversations.column("messages_fetched").to_pylist() == [False] * 5


def test_an_empty_pull_has_the_schema_and_no_rows(sim: chathaul.Simulator) -> None:
    result = sim.connect("kf5").pull(since="2030-01-01", until="2030-02-01", progress=False)
    assert result.conversations.num_rows == 0 and result.messages.num_rows == 0
    assert result.conversations.schema.equals(chathaul.conversations_schema())


def test_to_pandas(sim: chathaul.Simulator) -> None:
    import pandas as pd

    truth = sim.truth("bangwo8")
    convs, msgs = sim.connect("bangwo8").pull(progress=False).to_pandas()
    assert isinstance(convs, pd.DataFrame) and isinstance(msgs, pd.DataFrame)
    assert list(convs.columns) == chathaul.conversations_schema().names
    assert len(convs) == 40 and len(msgs) == sum(len(c.messages) for c in truth)
    assert str(convs["created_at"].dtype) == "datetime64[ms, UTC]"
    assert str(convs["first_response_secs"].dtype) == "UInt64"
    assert str(convs["messages_fetched"].dtype) == "boolean"
    first = by_id(truth)[0]
    row = convs.set_index("id").loc[first.id]
    assert row["created_at"] == pd.Timestamp(first.created_at)
    # The join key works: messages per conversation match.
    counts = msgs.groupby("conversation_id").size()
    assert counts.get(first.id, 0) == len(first.messages)
    # Missing numbers are <NA>, not NaN floats.
    assert convs["wait_secs"].isna().sum() == sum(1 for c in truth if c.metrics.wait_secs is None)


def test_to_polars(sim: chathaul.Simulator) -> None:
    import polars as pl

    result = sim.connect("kf5").pull(progress=False)
    convs, msgs = result.to_polars()
    assert isinstance(convs, pl.DataFrame) and isinstance(msgs, pl.DataFrame)
    assert convs.columns == chathaul.conversations_schema().names
    assert convs.height == 40 and msgs.height == result.messages.num_rows
    assert convs.schema["created_at"] == pl.Datetime("ms", "UTC")
    assert convs.schema["message_count"] == pl.UInt64
    assert convs["id"].to_list() == result.conversations.column("id").to_pylist()


def test_a_kf5_message_without_type_has_no_kind_in_every_form(tmp_path: Path) -> None:
    with chathaul.Simulator(seed=9, conversations=10, messages=3) as sim:
        target = sim.truth("kf5")[2]
        assert target.messages, "the chat has messages"
        # The vendor's first message of the chat comes without a `type` (blank counts as none).
        sim.corrupt("kf5", target.id, "messages.0.type", "")
        conn = sim.connect("kf5")
        untyped = [(c.id, m.raw["id"]) for c in conn.conversations(progress=False) for m in c.messages if m.kind is None]
        assert len(untyped) == 1 and untyped[0][0] == target.id, untyped
        # The dict form: null, not "".
        chat = conn.conversation(target.id)
        [m] = [m for m in chat.messages if m.kind is None]
        assert m.raw["id"] == untyped[0][1]
        assert all(m.kind is not None for c in sim.truth("kf5") if c.id != target.id for m in c.messages)

        result = conn.pull(progress=False)
        kind = result.messages.column("kind")
        assert result.messages.schema.field("kind").nullable
        assert kind.null_count == 1
        rows = result.messages.to_pylist()
        assert [(r["conversation_id"], r["kind"]) for r in rows if r["kind"] is None] == [(target.id, None)]
        assert "" not in kind.to_pylist()
        frames = result.to_pandas()
        assert int(frames.messages["kind"].isna().sum()) == 1
        assert result.to_polars().messages["kind"].null_count() == 1

        # Files: JSONL writes null, CSV an empty cell, Parquet a null.
        conn.pull_to(tmp_path / "out.jsonl", progress=False)
        lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
        kinds = [m["kind"] for c in lines if c["id"] == target.id for m in c["messages"]]
        assert kinds.count(None) == 1 and "" not in kinds
        conn.pull_to(tmp_path / "out.csv", progress=False)
        with open(tmp_path / "out.messages.csv", newline="", encoding="utf-8") as f:
            cells = [r["kind"] for r in csv.DictReader(f)]
        assert cells.count("") == 1
        conn.pull_to(tmp_path / "out.parquet", progress=False)
        assert pq.read_table(tmp_path / "out.messages.parquet").column("kind").null_count == 1


def test_pull_on_bad_record_fails_by_default_and_skip_returns_the_good_records_and_the_rejected_one() -> None:
    with chathaul.Simulator(seed=9, conversations=30, messages=3) as sim:
        bad = sim.truth("kf5")[4].id
        sim.corrupt("kf5", bad, "created_at", "not a time")
        conn = sim.connect("kf5")
        for strict in [{}, {"on_bad_record": "fail"}]:
            with pytest.raises(chathaul.DecodeError) as failed:
                conn.pull(progress=False, **strict)
            e = failed.value
            assert (e.vendor, e.endpoint, e.page, e.path) == ("kf5", "/apiv2/chats.json", 1, "chats[4].created_at")
        result = conn.pull(on_bad_record="skip", progress=False)
        ids = result.conversations.column("id").to_pylist()
        assert sorted(ids) == sorted(c.id for c in sim.truth("kf5") if c.id != bad)
        assert set(result.messages.column("conversation_id").to_pylist()) <= set(ids)
        [r] = result.rejects
        assert (r["vendor"], r["endpoint"], r["page"], r["path"]) == ("kf5", "/apiv2/chats.json", 1, "chats[4].created_at")
        assert "not a time" in r["error"]
        with pytest.raises(chathaul.ConfigError):
            conn.pull(on_bad_record="ignore", progress=False)

