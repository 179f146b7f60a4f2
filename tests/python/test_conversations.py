"""conn.conversations(): typed objects equal to the simulator's truth, filters, async, one by id."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime, timedelta, timezone
from typing import List

import pytest

import chathaul
from conftest import VENDORS, by_id

UTC = timezone.utc


def in_window(c: chathaul.Conversation, since: datetime, until: datetime) -> bool:
    return c.created_at is not None and since <= c.created_at < until


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_conversation_equals_the_truth(sim: chathaul.Simulator, vendor: str) -> None:
    conn = sim.connect(vendor)
    got = by_id(list(conn.conversations(progress=False)))
    truth = sim.truth(vendor)
    assert len(got) == len(truth) == 40
    assert [c.id for c in got] == [c.id for c in truth]
    # Field by field, messages and summaries included, through the typed objects.
    assert got == truth
    assert [c.to_dict() for c in got] == sim.truth_dicts(vendor)


def test_objects_are_typed(sim: chathaul.Simulator) -> None:
    c = next(iter(sim.connect("bangwo8").conversations(progress=False)))
    assert isinstance(c, chathaul.Conversation)
    assert c.vendor == "bangwo8" and c.account == "admin@demo"
    assert isinstance(c.created_at, datetime) and c.created_at.tzinfo is not None
    assert c.created_at.utcoffset() == timedelta(0)
    assert isinstance(c.customer, chathaul.Customer)
    assert isinstance(c.metrics, chathaul.Metrics)
    assert c.messages_fetched and c.messages
    m = c.messages[0]
    assert isinstance(m, chathaul.Message) and isinstance(m.sender, chathaul.Sender)
    assert m.sender.role in {"customer", "agent", "bot", "system", "unknown"}
    times = [x.sent_at for x in c.messages if x.sent_at]
    assert times == sorted(times)
    assert c.key == ("bangwo8", "admin@demo", c.id)
    # to_dict() is the JSON contract and from_dict() reads it back.
    d = c.to_dict()
    assert d["created_at"].endswith("Z")
    assert chathaul.Conversation.from_dict(d) == c


def test_repr_and_html_repr_are_readable(sim: chathaul.Simulator) -> None:
    c = next(iter(sim.connect("kf5").conversations(progress=False)))
    text = repr(c)
    assert text.startswith(f"Conversation(kf5:demo:{c.id}, created_at={c.created_at.isoformat()}")
    assert f"messages={len(c.messages)}" in text
    assert len(text) < 300
    html = c._repr_html_()
    assert html.startswith("<div class='chathaul-conversation'>")
    assert f"kf5 / demo / {c.id}" in html
    assert html.count("<tr>") >= min(len(c.messages), 20)
    assert repr(c.messages[0]).startswith("Message(sent_at=")


@pytest.mark.parametrize("vendor", VENDORS)
def test_window_on_creation_time_is_half_open_and_exact(sim: chathaul.Simulator, vendor: str) -> None:
    truth = sim.truth(vendor)
    # A window whose ends fall exactly on conversations: since is in, until is out.
    times = sorted(c.created_at for c in truth if c.created_at)
    since, until = times[5], times[25]
    got = list(sim.connect(vendor).conversations(since=since, until=until, progress=False))
    want = [c for c in truth if in_window(c, since, until)]
    assert len(want) == 20
    assert by_id(got) == want


@pytest.mark.parametrize("vendor", ["bangwo8", "caresoft"])
def test_window_on_end_time(sim: chathaul.Simulator, vendor: str) -> None:
    truth = sim.truth(vendor)
    ends = sorted(c.ended_at for c in truth if c.ended_at)
    since, until = ends[3], ends[20]
    got = list(sim.connect(vendor).conversations(since=since, until=until, by="ended", progress=False))
    want = [c for c in truth if c.ended_at is not None and since <= c.ended_at < until]
    assert len(want) >= 17
    assert by_id(got) == want


def test_dates_and_naive_times_are_the_vendors_wall_clock(sim: chathaul.Simulator) -> None:
    conn = sim.connect("kf5")  # Asia/Shanghai, UTC+8
    a = [c.id for c in conn.conversations(since="2024-01-20", until=date(2024, 2, 10), progress=False)]
    b = [
        c.id
        for c in conn.conversations(
            since=datetime(2024, 1, 19, 16, tzinfo=UTC), until="2024-02-09T16:00:00Z", progress=False
        )
    ]
    c = [c.id for c in conn.conversations(since=datetime(2024, 1, 20), until="2024-02-10 00:00:00", progress=False)]
    assert a and a == b == c


def test_agent_customer_and_channel_filters(sim: chathaul.Simulator) -> None:
    truth = sim.truth("bangwo8")
    conn = sim.connect("bangwo8")
    agent = next(c.agent.id for c in truth if c.agent and c.agent.id)
    got = list(conn.conversations(agent=agent, progress=False))
    assert got and by_id(got) == [c for c in truth if c.agent and c.agent.id == agent]
    customer = truth[3].customer.id
    assert customer
    got = list(conn.conversations(customer=customer, progress=False))
    assert [c.id for c in got] == [c.id for c in truth if c.customer.id == customer]
    channel = next(c.channel for c in truth if c.channel)
    got = list(conn.conversations(channel=channel, progress=False))
    assert by_id(got) == [c for c in truth if c.channel == channel]


def test_without_messages_and_summaries_and_with_a_limit(sim: chathaul.Simulator) -> None:
    got = list(sim.connect("bangwo8").conversations(messages=False, summaries=False, limit=7, progress=False))
    assert len(got) == 7
    assert all(not c.messages_fetched and c.messages == [] and c.summary is None for c in got)


def test_one_conversation_by_id(sim: chathaul.Simulator) -> None:
    truth = sim.truth("kf5")[11]
    got = sim.connect("kf5").conversation(truth.id)
    # `raw` is the record as served: the detail endpoint's, not the list item's.
    assert dataclasses.replace(got, raw=None) == dataclasses.replace(truth, raw=None)
    assert got.raw["id"] == truth.raw["id"]
    with pytest.raises(chathaul.ApiError) as e:
        sim.connect("kf5").conversation("999999999")
    assert e.value.status == 404


def test_async_for(sim: chathaul.Simulator) -> None:
    async def collect() -> List[chathaul.Conversation]:
        out = []
        async for c in sim.connect("kf5").conversations(limit=12, progress=False):
            out.append(c)
        return out

    got = asyncio.run(collect())
    assert [c.id for c in got] == [c.id for c in sim.truth("kf5")[:12]]


def test_an_inverted_window_is_a_config_error(sim: chathaul.Simulator) -> None:
    with pytest.raises(chathaul.ConfigError, match="^invalid query: the window is empty"):
        sim.connect("kf5").conversations(since="2024-02-01", until="2024-01-01")
    with pytest.raises(chathaul.ConfigError, match="time field `opened`: expected `created` or `ended`"):
        sim.connect("kf5").conversations(by="opened")
    with pytest.raises(chathaul.ConfigError, match="since: `yesterday` is not a time: use RFC 3339"):
        sim.connect("kf5").conversations(since="yesterday")
    with pytest.raises(TypeError, match="since must be a datetime, a date or an ISO 8601 string, not int"):
        sim.connect("kf5").conversations(since=20240101)  # type: ignore[arg-type]


def test_closing_the_iterator_stops_it(sim: chathaul.Simulator) -> None:
    with sim.connect("kf5").conversations(progress=False) as it:
        first = next(it)
    assert first.id == sim.truth("kf5")[0].id
    assert it.count == 1
    with pytest.raises(StopIteration):
        next(it)
