"""chathaul.sync(): sources from a Simulator, a list or a config file; incremental; errors."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import pytest

import chathaul
from conftest import VENDORS


def rows(db: Path) -> List[Tuple[str, str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT vendor, account, id FROM conversations ORDER BY vendor, id").fetchall()


def test_sync_a_simulator_stores_the_truth_and_a_rerun_adds_nothing(sim: chathaul.Simulator, tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite"
    first = chathaul.sync(sim, db=db, progress=False)
    assert first.complete and first.errors == []
    assert [s["pull"]["source"] for s in first.sources] == VENDORS
    assert [s["pull"]["conversations"] for s in first.sources] == [40, 40, 40]
    want = sorted((c.vendor, c.account, c.id) for c in sim.truth())
    assert sorted(rows(db)) == want
    with sqlite3.connect(db) as con:
        stored = {
            (v, i): json.loads(j)
            for v, i, j in con.execute("SELECT vendor, id, conversation FROM conversations_json")
        }
        n_messages = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    for c in sim.truth_dicts():
        assert stored[(c["vendor"], c["id"])] == c
    assert n_messages == sum(len(c.messages) for c in sim.truth())
    # A second run fetches only the look-back window and stores no duplicate.
    second = chathaul.sync(sim, db=db, progress=False)
    assert second.complete
    assert all(s["pull"]["conversations"] < 40 for s in second.sources)
    assert sorted(rows(db)) == want
    assert repr(second).startswith(f"SyncResult({db}: bangwo8: ")


def test_sync_a_list_of_sources_with_names_and_since(sim: chathaul.Simulator, tmp_path: Path) -> None:
    db = tmp_path / "two.sqlite"
    since = "2024-02-01"
    result = chathaul.sync(
        [
            {"name": "kf5-main", "vendor": "kf5", "config": sim.config("kf5"), "since": since, "messages": False},
            {"vendor": "caresoft", "config": sim.config("caresoft")},
        ],
        db=db,
        progress=False,
    )
    assert [s["pull"]["source"] for s in result.sources] == ["kf5-main", "caresoft"]
    kf5_conn = sim.connect("kf5")
    want_kf5 = [c.id for c in kf5_conn.conversations(since=since, messages=False, progress=False)]
    got = rows(db)
    assert sorted(i for v, _, i in got if v == "kf5") == sorted(want_kf5)
    assert len([r for r in got if r[0] == "caresoft"]) == 40
    assert result.sources[0]["state"]["source"] == "kf5-main"


def test_sync_a_config_file(sim: chathaul.Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = sim.config("bangwo8")
    monkeypatch.setenv("DEMO_BANGWO8_PASSWORD", cfg["password"])
    path = tmp_path / "chathaul.toml"
    path.write_text(
        f'db = "{tmp_path / "from-file.sqlite"}"\n'
        "[[source]]\n"
        'name = "helpdesk"\n'
        'vendor = "bangwo8"\n'
        "[source.config]\n"
        f'base_url = "{cfg["base_url"]}"\n'
        f'account = "{cfg["account"]}"\n'
        'password = "${DEMO_BANGWO8_PASSWORD}"\n',
        encoding="utf-8",
    )
    result = chathaul.sync(path, progress=False)
    assert result.db == str(tmp_path / "from-file.sqlite")
    assert result.complete and result.sources[0]["pull"]["conversations"] == 40
    assert len(rows(tmp_path / "from-file.sqlite")) == 40


def test_a_bad_source_is_a_config_error_before_anything_is_fetched(sim: chathaul.Simulator, tmp_path: Path) -> None:
    db = tmp_path / "never.sqlite"
    with pytest.raises(chathaul.ConfigError) as e:
        chathaul.sync([{"name": "x", "vendor": "kf5", "config": {"base_url": sim.base_url("kf5")}}], db=db)
    assert e.value.source == "x"
    assert str(e.value) == "kf5: config field `email`: is required: pass `email=...` or set CHATHAUL_KF5_EMAIL"
    with pytest.raises(chathaul.ConfigError, match="unknown vendor `nope`"):
        chathaul.sync([{"vendor": "nope", "config": {}}], db=db)
    with pytest.raises(TypeError, match="a source needs a `vendor`"):
        chathaul.sync([{"config": {}}], db=db)


def test_a_failing_source_raises_after_the_others_are_stored(sim: chathaul.Simulator, tmp_path: Path) -> None:
    db = tmp_path / "partial.sqlite"
    bad = sim.config("bangwo8")
    bad["password"] = "wrong"
    sources = [{"vendor": "bangwo8", "config": bad}, {"vendor": "kf5", "config": sim.config("kf5")}]
    with pytest.raises(chathaul.AuthError) as e:
        chathaul.sync(sources, db=db, progress=False)
    assert str(e.value).startswith("source bangwo8: bangwo8: authentication failed")
    assert e.value.source == "bangwo8"
    assert "wrong" not in str(e.value)
    assert len(rows(db)) == 40  # kf5's
    result = chathaul.sync(sources, db=db, progress=False, raise_on_error=False)
    assert not result.complete and len(result.errors) == 1


def stored(db: Path) -> dict:
    # Closed before the next sync writes: two SQLite libraries must not hold one file open.
    with closing(sqlite3.connect(db)) as con:
        return {(v, i): json.loads(j) for v, i, j in con.execute("SELECT vendor, id, conversation FROM conversations_json")}


def without_raw(c: dict) -> dict:
    c = dict(c)
    c.pop("raw", None)
    c["messages"] = [{k: v for k, v in m.items() if k != "raw"} for m in c["messages"]]
    return c


class Synced:
    """Where a test syncs to, and how it reads back: a SQLite file or a Postgres database."""

    def __init__(self, db: str, server: Optional[Dict[str, Any]] = None, name: str = "") -> None:
        self.db, self.server, self.name = db, server, name

    def conversations(self) -> dict:
        if self.server is None:
            return stored(Path(self.db))
        from conftest import psql

        sql = "SELECT coalesce(jsonb_agg(conversation), '[]') FROM chathaul.conversations_json"
        rows = json.loads(psql(self.server, self.name, sql))
        return {(c["vendor"], c["id"]): c for c in rows}

    def count(self, sql: str) -> int:
        if self.server is None:
            with closing(sqlite3.connect(self.db)) as con:
                return int(con.execute(sql).fetchone()[0])
        from conftest import psql

        return int(psql(self.server, self.name, f"SET search_path TO chathaul; {sql}").splitlines()[-1])


def synced(backend: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> Synced:
    if backend == "sqlite":
        return Synced(str(tmp_path / f"{name}.sqlite"))
    from conftest import psql

    server = request.getfixturevalue("postgres")
    psql(server, "postgres", f"CREATE DATABASE {name}")
    return Synced(f"postgresql://{server['user']}@127.0.0.1:{server['port']}/{name}?sslmode=disable", server, name)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_syncs_a_changing_simulator_run_after_run_equal_to_its_truth(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    target = synced(backend, tmp_path, request, "py_days")
    with chathaul.Simulator(seed=5, conversations=120, messages=3, days=30, now="2024-01-08") as sim:
        for run in range(4):
            result = chathaul.sync(sim, db=target.db, progress=False)  # the simulator's clock is `now`
            assert result.complete and result.rejects == []
            have = {k: without_raw(v) for k, v in target.conversations().items()}
            want = {(c["vendor"], c["id"]): without_raw(c) for c in sim.truth_dicts()}
            assert have == want, f"run {run}"
            changes = result.changes["kf5"]
            assert changes["full_refresh"] == (run == 0)
            if run > 0:
                assert changes["revisited"] > 0, changes
            pending = target.count("SELECT count(*) FROM revisits WHERE source = 'kf5'")
            assert pending == changes["still_pending"]
            sim.advance(days=3)


def test_records_that_cannot_be_decoded_are_set_aside(tmp_path: Path) -> None:
    with chathaul.Simulator(seed=9, conversations=30, messages=3) as sim:
        bad = sim.truth("kf5")[4].id
        sim.corrupt("kf5", bad, "created_at", "not a time")
        db = tmp_path / "rejects.sqlite"
        result = chathaul.sync(sim, db=db, progress=False)
        assert result.complete
        [r] = result.rejects
        assert (r["source"], r["vendor"], r["endpoint"], r["page"], r["path"]) == (
            "kf5",
            "kf5",
            "/apiv2/chats.json",
            1,
            "chats[4].created_at",
        )
        assert json.loads(r["raw"])["created_at"] == "not a time"
        assert "not a time" in r["error"]
        assert "1 rejected" in repr(result)
        ids = [i for v, _, i in rows(db) if v == "kf5"]
        assert len(ids) == 29 and bad not in ids
        with closing(sqlite3.connect(db)) as con:
            assert con.execute("SELECT path FROM rejects").fetchall() == [("chats[4].created_at",)]
        # Under fail, the source's run ends with the decode error.
        with pytest.raises(chathaul.DecodeError, match=r"at chats\[4\]\.created_at"):
            chathaul.sync(
                [{"vendor": "kf5", "config": sim.config("kf5"), "on_bad_record": "fail", "name": "strict"}],
                db=tmp_path / "strict.sqlite",
                progress=False,
            )


def test_source_options_reach_the_sync_and_bad_ones_are_refused(sim: chathaul.Simulator, tmp_path: Path) -> None:
    source = {
        "vendor": "kf5",
        "config": sim.config("kf5"),
        "revisit_for": timedelta(days=21),
        "full_refresh_every": "30d",
        "rating_window": "10d",
        "on_bad_record": "fail",
    }
    result = chathaul.sync(source, db=tmp_path / "o.sqlite", progress=False)
    assert result.complete
    for key, value in [
        ("revisit_for", "3y"),
        ("revisit_for", timedelta(0)),
        ("on_bad_record", "maybe"),
        ("rating_window", "soon"),
    ]:
        bad = dict(source, **{key: value})
        with pytest.raises(chathaul.ConfigError, match=key):
            chathaul.sync(bad, db=tmp_path / "bad.sqlite", progress=False)


def test_incremental_run_keeps_its_state_outside_a_database() -> None:
    with chathaul.Simulator(seed=5, conversations=120, messages=3, days=30, now="2024-01-08") as sim:
        kf5 = sim.connect("kf5")
        kept: dict = {}
        state = None
        for run in range(3):
            it = chathaul.incremental_run(kf5, state, now=sim.now)
            for batch in it:
                for c in batch.conversations:
                    kept[(c["vendor"], c["account"], c["id"])] = c
                assert batch.rejects == []
            assert it.complete
            report = it.report
            assert report is not None and report["complete"]
            # The state is plain JSON: it goes wherever the caller keeps state.
            state = json.loads(json.dumps(it.state))
            assert state["cursor_field"] == "created"
            assert state["cursor"] is not None
            assert len(state["pending"]) == report["changes"]["still_pending"]
            want = {(c["vendor"], c["account"], c["id"]): without_raw(c) for c in sim.truth_dicts("kf5")}
            assert {k: without_raw(v) for k, v in kept.items()} == want, f"run {run}"
            sim.advance(days=3)
        # A state that is not one is refused, saying so.
        with pytest.raises(chathaul.ConfigError) as refused:
            chathaul.incremental_run(kf5, '{"cursor": 7}')
        assert str(refused.value).startswith(
            f"cannot read the stored incremental state of kf5 account `{kf5.account}`: at `cursor`: invalid type"
        ), refused.value
        assert refused.value.details["path"] == "cursor"


@pytest.mark.parametrize(
    "since",
    [
        datetime(2024, 1, 20, 8, 0, 0, 5),  # naive, with microseconds: the vendor's wall clock
        datetime(2024, 1, 20, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=7))),
        "2024-01-20T08:00:00.000005",
        "2024-01-20 08:00",
        date(2024, 1, 20),
    ],
)
def test_sync_and_conversations_read_since_with_one_parser(
    sim: chathaul.Simulator, tmp_path: Path, since: Union[datetime, date, str]
) -> None:
    want = sorted(c.id for c in sim.connect("kf5").conversations(since=since, messages=False, progress=False))
    assert 0 < len(want) < 40
    db = tmp_path / "since.sqlite"
    result = chathaul.sync(
        [{"vendor": "kf5", "config": sim.config("kf5"), "since": since, "messages": False}], db=db, progress=False
    )
    assert result.complete
    assert sorted(i for v, _, i in rows(db) if v == "kf5") == want


def test_a_bad_since_is_refused_with_the_same_words_everywhere(sim: chathaul.Simulator, tmp_path: Path) -> None:
    forms = "is not a time: use RFC 3339 (2024-03-01T08:00:00Z, 2024-03-01T08:00:00.5+07:00), a local date-time"
    with pytest.raises(chathaul.ConfigError, match=re.escape(f"since: `yesterday` {forms}")) as conv:
        sim.connect("kf5").conversations(since="yesterday", progress=False)
    with pytest.raises(chathaul.ConfigError, match=re.escape(f"source kf5: since: `yesterday` {forms}")) as synced:
        chathaul.sync([{"vendor": "kf5", "config": sim.config("kf5"), "since": "yesterday"}], db=tmp_path / "x.sqlite")
    tail = "`yesterday` is not a time"
    assert str(conv.value)[str(conv.value).index(tail) :] == str(synced.value)[str(synced.value).index(tail) :]


def test_sync_now_takes_the_time_forms_read_in_utc(sim: chathaul.Simulator, tmp_path: Path) -> None:
    source = {"vendor": "kf5", "config": sim.config("kf5"), "messages": False}
    with pytest.raises(chathaul.ConfigError, match=re.escape("now: `yesterday` is not a time: use RFC 3339")):
        chathaul.sync(source, db=tmp_path / "bad.sqlite", progress=False, now="yesterday")
    for i, now in enumerate(["2030-01-01 08:00", "2030-01-01T08:00:00.000000Z", datetime(2030, 1, 1, 8)]):
        db = tmp_path / f"now{i}.sqlite"
        assert chathaul.sync(source, db=db, progress=False, now=now).complete
        with closing(sqlite3.connect(db)) as con:
            [(at,)] = con.execute("SELECT last_full_refresh FROM sync_state").fetchall()
        # The first run is a full re-read, stamped with `now`.
        assert datetime.fromisoformat(at.replace("Z", "+00:00")) == datetime(2030, 1, 1, 8, tzinfo=timezone.utc), now


def test_incremental_run_tables_are_the_tables_a_pull_builds() -> None:
    import pyarrow as pa

    with chathaul.Simulator(seed=5, conversations=40, messages=3) as sim:
        for vendor in sim.vendors:
            conn = sim.connect(vendor)
            run = chathaul.incremental_run(conn, None, now=sim.now, batch_size=7)
            batches = list(run.tables())
            assert run.complete and len(batches) == 6  # 40 conversations, 7 a batch
            assert all(b.rejects == [] and b.conversations.num_rows <= 7 for b in batches)
            by_id = [("id", "ascending")]
            by_seq = [("conversation_id", "ascending"), ("seq", "ascending")]
            got = pa.concat_tables([b.conversations for b in batches]).sort_by(by_id)
            got_messages = pa.concat_tables([b.messages for b in batches]).sort_by(by_seq)
            pulled = conn.pull(progress=False)
            assert got.schema == chathaul.conversations_schema() and got.num_rows == 40
            assert got.equals(pulled.conversations.sort_by(by_id)), vendor
            assert got_messages.equals(pulled.messages.sort_by(by_seq)), vendor


def test_sync_into_postgres_from_python(sim: chathaul.Simulator, postgres: Dict[str, Any]) -> None:
    from conftest import psql

    psql(postgres, "postgres", "CREATE DATABASE py_sync")
    url = f"postgresql://{postgres['user']}@127.0.0.1:{postgres['port']}/py_sync?sslmode=require&schema=support"
    first = chathaul.sync(sim, db=url, progress=False)
    assert first.complete and first.errors == []
    assert first.db == f"postgresql://{postgres['user']}@127.0.0.1:{postgres['port']}/py_sync?sslmode=require&schema=support"
    assert [s["pull"]["conversations"] for s in first.sources] == [40, 40, 40]
    stored = psql(postgres, "py_sync", "SELECT count(*), count(DISTINCT (vendor, account, id)) FROM support.conversations")
    assert stored == "120|120"
    raw_type = psql(
        postgres,
        "py_sync",
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'support' "
        "AND table_name = 'conversations' AND column_name = 'raw'",
    )
    assert raw_type == "jsonb"
    # The JSON view holds each conversation as the contract has it.
    one = sim.truth_dicts()[0]
    got = json.loads(
        psql(
            postgres,
            "py_sync",
            f"SELECT conversation FROM support.conversations_json WHERE vendor = '{one['vendor']}' AND id = '{one['id']}'",
        )
    )
    assert got == one
    second = chathaul.sync(sim, db=url, progress=False)
    assert second.complete
    assert all(s["pull"]["conversations"] < 40 for s in second.sources)
    assert psql(postgres, "py_sync", "SELECT count(*) FROM support.conversations") == "120"
