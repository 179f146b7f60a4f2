"""chathaul.dlt: pipelines into DuckDB (and the change test into Postgres too) on the
simulator, run after run as its clock moves, against its truth; failed loads and failed
fetches move no state."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import chathaul
from partition_checks import docs_example

if sys.version_info < (3, 10):
    pytest.skip(
        f"dlt 1.31 needs Python 3.10 or later, not {sys.version_info.major}.{sys.version_info.minor}: "
        "the dlt tests cannot run here",
        allow_module_level=True,
    )

# dlt reports usage to its makers unless told not to; the tests reach no network.
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

import dlt  # noqa: E402  (missing on 3.10+: install tests/python/requirements.txt)
from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402

import chathaul.dlt  # noqa: E402

Key = Tuple[str, str, str]


def pipeline(tmp_path: Path, name: str = "chats", destination: Any = None) -> Any:
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination or dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name="helpdesk",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def destination(kind: str, request: pytest.FixtureRequest) -> Any:
    """DuckDB (the default), or a fresh database on the test Postgres server."""
    if kind == "duckdb":
        return None
    from conftest import psql

    server = request.getfixturevalue("postgres")
    psql(server, "postgres", "CREATE DATABASE dlt_chats")
    # dlt insists on a password; the test server trusts loopback and ignores it.
    return dlt.destinations.postgres(
        f"postgresql://{server['user']}:unused@127.0.0.1:{server['port']}/dlt_chats?sslmode=disable"
    )


def utc(t: Optional[datetime]) -> Optional[datetime]:
    return None if t is None else t.astimezone(timezone.utc)


def truth(sim: chathaul.Simulator) -> Tuple[Dict[Key, Tuple[Any, ...]], Dict[Key, List[Tuple[Any, ...]]]]:
    """What the destination must hold at the simulator's clock: per conversation its status,
    end, rating and message count; per conversation its messages in order."""
    conversations: Dict[Key, Tuple[Any, ...]] = {}
    messages: Dict[Key, List[Tuple[Any, ...]]] = {}
    for vendor in sim.vendors:
        for c in sim.truth(vendor):
            key = (c.vendor, c.account, c.id)
            rating = c.rating
            conversations[key] = (
                c.status,
                c.ended_at,
                rating.satisfaction if rating else None,
                rating.rated_at if rating else None,
                len(c.messages),
            )
            if c.messages:
                messages[key] = [(seq, m.id, m.text, m.sent_at) for seq, m in enumerate(c.messages)]
    return conversations, messages


def loaded(p: Any) -> Tuple[Dict[Key, Tuple[Any, ...]], Dict[Key, List[Tuple[Any, ...]]]]:
    """The same, read from the destination, asserting no key is there twice."""
    with p.sql_client() as client:
        rows = client.execute_sql(
            "SELECT vendor, account, id, status, ended_at, rating_satisfaction, rated_at, message_count"
            " FROM conversations"
        )
        message_rows = client.execute_sql(
            "SELECT vendor, account, conversation_id, seq, id, text, sent_at FROM messages"
            " ORDER BY vendor, account, conversation_id, seq"
        )
    conversations = {(v, a, i): (s, utc(e), rs, utc(ra), n) for v, a, i, s, e, rs, ra, n in rows}
    assert len(conversations) == len(rows), "a conversation is in the destination twice"
    messages: Dict[Key, List[Tuple[Any, ...]]] = {}
    for v, a, c, seq, i, text, sent in message_rows:
        messages.setdefault((v, a, c), []).append((seq, i, text, utc(sent)))
    keys = [(k, m[0]) for k, ms in messages.items() for m in ms]
    assert len(keys) == len(set(keys)), "a message is in the destination twice"
    return conversations, messages


def requests(sim: chathaul.Simulator) -> Dict[str, int]:
    return dict(sim.stats()["per_vendor"])


def spent(before: Dict[str, int], after: Dict[str, int]) -> Dict[str, int]:
    return {v: after[v] - before.get(v, 0) for v in after}


@contextmanager
def database_held_by_another_process(database: Path) -> Iterator[None]:
    """Another process keeps the DuckDB file open for writing: a load cannot connect to it."""
    code = f"import duckdb, sys; c = duckdb.connect({str(database)!r}); print('held', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def chathaul_state(p: Any) -> Dict[str, Any]:
    return copy.deepcopy(dict(p.state["sources"]["chathaul"]["resources"][chathaul.dlt.STATE_RESOURCE]))


@pytest.fixture
def sim() -> Iterator[chathaul.Simulator]:
    # Early in the data: KF5 chats still open, ratings still to come.
    with chathaul.Simulator(seed=5, conversations=120, messages=4, days=20, now="2024-01-12") as s:
        yield s


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_each_run_loads_what_changed_and_the_destination_equals_the_truth(
    kind: str, sim: chathaul.Simulator, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    p = pipeline(tmp_path, destination=destination(kind, request))
    db = tmp_path / "sync.sqlite"
    before = requests(sim)
    p.run(chathaul.dlt.source(sim))
    first = spent(before, requests(sim))
    conversations, messages = loaded(p)
    want_conversations, want_messages = truth(sim)
    assert conversations == want_conversations and messages == want_messages
    assert {k[0] for k in conversations} == {"bangwo8", "caresoft", "kf5"}
    open_then = {k for k, row in conversations.items() if k[0] == "kf5" and row[0] == "open"}
    unrated_then = {k for k, row in conversations.items() if row[3] is None and row[1] is not None}
    assert open_then and unrated_then
    # `chathaul sync` on the same clock makes the same requests: the same change tracking.
    before = requests(sim)
    chathaul.sync(sim, db=db, progress=False)
    assert spent(before, requests(sim)) == first

    sim.advance(days=3)
    before = requests(sim)
    p.run(chathaul.dlt.source(sim))
    second = spent(before, requests(sim))
    # Only what changed is fetched: far fewer requests than the first run's full read.
    assert sum(second.values()) * 2 < sum(first.values()), (first, second)
    before = requests(sim)
    chathaul.sync(sim, db=db, progress=False)
    assert spent(before, requests(sim)) == second

    conversations, messages = loaded(p)
    want_conversations, want_messages = truth(sim)
    assert conversations == want_conversations and messages == want_messages
    # Chats open at the first run are closed now, late ratings arrived, new chats came.
    assert any(conversations[k][0] != "open" for k in open_then)
    assert any(conversations[k][3] is not None for k in unrated_then)
    # The state dlt keeps is the incremental run's, per source.
    runs = chathaul_state(p)["runs"]["conversations+messages"]
    assert sorted(runs) == ["bangwo8", "caresoft", "kf5"]
    assert runs["kf5"]["cursor_field"] == "created" and runs["kf5"]["cursor"] is not None


def test_a_failed_load_moves_no_state_and_the_next_run_asks_again(sim: chathaul.Simulator, tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    p.run(chathaul.dlt.source(sim))
    after_first = chathaul_state(p)
    first_rows = loaded(p)
    sim.advance(days=3)
    with database_held_by_another_process(tmp_path / "chats.duckdb"):
        before = requests(sim)
        with pytest.raises(PipelineStepFailed) as failed:
            p.run(chathaul.dlt.source(sim))
        assert failed.value.step == "load"
        failed_run = spent(before, requests(sim))
    # Nothing reached the destination, its state included: a pipeline that starts afresh
    # (a new machine, a wiped working directory) restores the first run's state from there.
    assert loaded(p) == first_rows
    p.drop()
    fresh = pipeline(tmp_path)
    before = requests(sim)
    fresh.run(chathaul.dlt.source(sim))
    assert spent(before, requests(sim)) == failed_run  # the same window asked again
    assert chathaul_state(fresh) != after_first
    assert loaded(fresh) == truth(sim)


def test_an_aborted_load_takes_its_state_back_and_a_pending_one_loses_nothing(
    sim: chathaul.Simulator, tmp_path: Path
) -> None:
    p = pipeline(tmp_path)
    p.run(chathaul.dlt.source(sim))
    after_first = chathaul_state(p)
    sim.advance(days=3)

    def fail_the_load() -> Dict[str, int]:
        with database_held_by_another_process(tmp_path / "chats.duckdb"):
            before = requests(sim)
            with pytest.raises(PipelineStepFailed) as failed:
                p.run(chathaul.dlt.source(sim))
            assert failed.value.step == "load"
            return spent(before, requests(sim))

    failed_run = fail_the_load()
    assert p.has_pending_data
    # Aborting the package restores the state it started from.
    p.abort_packages()
    assert not p.has_pending_data
    assert chathaul_state(p) == after_first
    # Fail again, and this time let dlt load the pending package: nothing fetched is lost.
    assert fail_the_load() == failed_run
    before = requests(sim)
    p.run()
    assert spent(before, requests(sim)) == {v: 0 for v in failed_run}
    assert loaded(p) == truth(sim)
    # And the next run goes on from the loaded package's state.
    sim.advance(days=1)
    p.run(chathaul.dlt.source(sim))
    assert loaded(p) == truth(sim)


def test_a_failed_fetch_loads_nothing_and_moves_no_state(sim: chathaul.Simulator, tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    p.run(chathaul.dlt.source(sim))
    after_first = chathaul_state(p)
    first_rows = loaded(p)
    sim.advance(days=3)
    sources = [dict(s, config=dict(s["config"], max_attempts="1")) for s in sim.sources()]
    sim.fail_next(1, vendor="caresoft")
    with pytest.raises(PipelineStepFailed) as failed:
        p.run(chathaul.dlt.source(sources, now=sim.now))
    assert failed.value.step == "extract"
    cause = failed.value.__cause__
    while cause is not None and not isinstance(cause, chathaul.Error):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, chathaul.ApiError) and cause.status == 500 and cause.vendor == "caresoft"
    assert chathaul_state(p) == after_first
    assert not p.has_pending_data
    assert loaded(p) == first_rows
    p.run(chathaul.dlt.source(sources, now=sim.now))
    assert loaded(p) == truth(sim)


def test_only_conversations_fetches_no_messages_and_keeps_a_state_of_its_own(
    sim: chathaul.Simulator, tmp_path: Path
) -> None:
    p = pipeline(tmp_path)
    p.run(chathaul.dlt.source(sim).with_resources("conversations"))
    with p.sql_client() as client:
        tables = {r[0] for r in client.execute_sql("SELECT table_name FROM information_schema.tables")}
        fetched = client.execute_sql("SELECT count(*) FROM conversations WHERE messages_fetched")[0][0]
    assert "conversations" in tables and "messages" not in tables
    assert fetched == 0
    runs = chathaul_state(p)["runs"]
    assert sorted(runs) == ["conversations"]
    # Loading both tables later starts over for both: nothing is missing from messages.
    p.run(chathaul.dlt.source(sim))
    assert sorted(chathaul_state(p)["runs"]) == ["conversations", "conversations+messages"]
    assert loaded(p) == truth(sim)


def test_credentials_come_from_dlt_secrets_and_stay_out_of_the_state(
    sim: chathaul.Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sim.config("kf5")
    password = config.pop("password")
    source = {"vendor": "kf5", "name": "acme", "config": config}
    with pytest.raises(chathaul.ConfigError, match="password") as missing:
        chathaul.dlt.source([source])
    assert missing.value.source == "acme"
    monkeypatch.setenv("SOURCES__CHATHAUL__ACME__PASSWORD", password)
    p = pipeline(tmp_path)
    p.run(chathaul.dlt.source([source], now=sim.now))
    conversations, _ = loaded(p)
    assert len(conversations) == len(sim.truth("kf5"))
    assert password not in json.dumps(p.state, default=str)
    with p.sql_client() as client:
        for (table,) in client.execute_sql("SELECT table_name FROM information_schema.tables"):
            for row in client.execute_sql(f'SELECT * FROM "{table}"'):
                assert password not in repr(row), table
    # Without dlt's setting, the connector's own environment variable serves.
    monkeypatch.delenv("SOURCES__CHATHAUL__ACME__PASSWORD")
    monkeypatch.setenv("CHATHAUL_KF5_PASSWORD", password)
    sim.advance(days=1)
    p.run(chathaul.dlt.source([source], now=sim.now))
    conversations, _ = loaded(p)
    assert len(conversations) == len(sim.truth("kf5"))


def test_two_sources_with_one_name_and_a_bad_now_are_refused(sim: chathaul.Simulator) -> None:
    source = {"vendor": "kf5", "config": sim.config("kf5")}
    with pytest.raises(chathaul.ConfigError, match="kf5.*two sources") as e:
        chathaul.dlt.source([source, source])
    assert e.value.source == "kf5"
    with pytest.raises(chathaul.ConfigError, match="now: `yesterday` is not a time: use RFC 3339") as bad:
        chathaul.dlt.source(source, now="yesterday")
    assert bad.value.field == "now"


def test_records_set_aside_land_in_rejects_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with chathaul.Simulator(seed=9, conversations=30, messages=3) as sim:
        bad = sim.truth("kf5")[4].id
        sim.corrupt("kf5", bad, "created_at", "not a time")
        p = pipeline(tmp_path)
        kf5 = sim.sources()[2:]
        assert [s["vendor"] for s in kf5] == ["kf5"]
        for _ in range(2):
            p.run(chathaul.dlt.source(kf5, now=sim.now, full_refresh_every="0s"))
        with p.sql_client() as client:
            rows = client.execute_sql("SELECT source, vendor, endpoint, page, path, error, raw FROM rejects")
        [(source, vendor, endpoint, page, path, error, raw)] = rows
        assert (source, vendor, endpoint, page, path) == ("kf5", "kf5", "/apiv2/chats.json", 1, "chats[4].created_at")
        assert "not a time" in error and json.loads(raw)["created_at"] == "not a time"
        conversations, _ = loaded(p)
        assert len(conversations) == 29 and ("kf5", "demo", bad) not in conversations
        warned = [r.getMessage() for r in caplog.records if r.name == "chathaul.dlt" and r.levelname == "WARNING"]
        assert warned == ["chathaul source 'kf5' set 1 records aside (the rejects table has them)"] * 2


def test_the_docs_dlt_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    lines = docs_example("### dlt", tmp_path).splitlines()
    # The second night adds the day's new chats and the ratings that came late.
    assert lines == ["281 conversations, 67 rated", "299 conversations, 72 rated"]
    assert (tmp_path / "helpdesk.duckdb").exists()


def test_a_config_file_names_the_sources_and_dlt_fills_in_the_secret(
    sim: chathaul.Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = sim.config("bangwo8")
    path = tmp_path / "chathaul.toml"
    path.write_text(
        "[[source]]\n"
        'name = "helpdesk"\n'
        'vendor = "bangwo8"\n'
        "[source.config]\n"
        f'base_url = "{cfg["base_url"]}"\n'
        f'account = "{cfg["account"]}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SOURCES__CHATHAUL__HELPDESK__PASSWORD", cfg["password"])
    p = pipeline(tmp_path)
    p.run(chathaul.dlt.source(path, now=sim.now))
    conversations, messages = loaded(p)
    want_conversations, want_messages = truth(sim)
    bangwo8 = {k: v for k, v in want_conversations.items() if k[0] == "bangwo8"}
    assert conversations == bangwo8
    assert messages == {k: v for k, v in want_messages.items() if k[0] == "bangwo8"}
    assert sorted(chathaul_state(p)["runs"]["conversations+messages"]) == ["helpdesk"]
