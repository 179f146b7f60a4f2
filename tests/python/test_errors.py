"""One exception hierarchy, raised with the Rust error's message and its details."""

from __future__ import annotations

import pickle
from typing import Iterator

import pytest

import chathaul
from chathaul import _native
from chathaul.errors import ERROR_CLASSES, error_class


@pytest.fixture(scope="module")
def plain() -> Iterator[chathaul.Simulator]:
    with chathaul.Simulator(conversations=5) as s:
        yield s


def test_the_hierarchy() -> None:
    for cls in (
        chathaul.ConfigError,
        chathaul.AuthError,
        chathaul.RateLimitError,
        chathaul.DecodeError,
        chathaul.ApiError,
        chathaul.TransportError,
        chathaul.UnsupportedError,
        chathaul.IoError,
        chathaul.StoreError,
        chathaul.SinkError,
        chathaul.ClosedError,
        chathaul.InternalError,
    ):
        assert issubclass(cls, chathaul.Error) and issubclass(cls, Exception)
        assert cls.__module__ == "chathaul"
    assert issubclass(chathaul.ConfigError, ValueError)
    assert issubclass(chathaul.IoError, OSError)
    assert issubclass(chathaul.ClosedError, ValueError)
    assert issubclass(chathaul.InternalError, RuntimeError)
    assert not issubclass(chathaul.AuthError, chathaul.ConfigError)


def test_every_kind_the_rust_side_raises_has_its_class_in_the_one_table() -> None:
    kinds = _native.error_kinds()
    assert len(kinds) == len(set(kinds))
    assert set(kinds) == set(ERROR_CLASSES), "errors.ERROR_CLASSES and chathaul::ErrorKind::ALL differ"
    for kind in kinds:
        cls = error_class(kind)
        assert issubclass(cls, chathaul.Error)
        # Every kind has a class of its own: none falls back to the base class.
        assert cls is not chathaul.Error, kind
        err = cls("text", kind=kind)
        assert (err.kind, str(err)) == (kind, "text")
    assert error_class(None) is chathaul.Error
    assert error_class("a-kind-from-a-newer-build") is chathaul.Error


def test_a_file_that_is_not_a_database_raises_store_error_naming_it(tmp_path: object) -> None:
    db = f"{tmp_path}/notes.sqlite"
    with open(db, "w") as f:
        f.write("my notes, not a database\n")
    with chathaul.Simulator(conversations=2) as sim, pytest.raises(chathaul.StoreError) as e:
        chathaul.sync(sim, db=db, progress=False)
    err = e.value
    assert (err.kind, err.backend, err.location) == ("store", "sqlite", db)
    assert str(err).startswith(f"database {db}: not a SQLite database"), str(err)
    with open(db) as f:
        assert f.read() == "my notes, not a database\n"


def test_wrong_credentials_raise_auth_error(plain: chathaul.Simulator) -> None:
    cfg = plain.config("bangwo8")
    cfg["password"] = "not-the-password"
    with pytest.raises(chathaul.AuthError) as e:
        list(chathaul.connect("bangwo8", **cfg).conversations(progress=False))
    err = e.value
    assert str(err).startswith(
        "bangwo8: authentication failed (/api/v1/imchat/histories.json, HTTP 401): the credentials were refused"
    )
    assert (err.kind, err.vendor, err.endpoint, err.status) == ("auth", "bangwo8", "/api/v1/imchat/histories.json", 401)
    assert "not-the-password" not in str(err) and "not-the-password" not in repr(err.details)


@pytest.mark.parametrize(
    ("fault", "cls", "kind"),
    [
        ("500", chathaul.ApiError, "api"),
        ("html", chathaul.DecodeError, "decode"),
        ("drop", chathaul.TransportError, "transport"),
        ("truncate", chathaul.TransportError, "transport"),
    ],
)
def test_faults_raise_their_class_naming_vendor_endpoint_and_page(fault: str, cls: type, kind: str) -> None:
    with chathaul.Simulator(conversations=5, fault_rate=1.0, faults=[fault]) as sim:
        with pytest.raises(chathaul.Error) as e:
            sim.connect("kf5", max_attempts=1).pull(progress=False)
    err = e.value
    assert type(err) is cls
    assert (err.kind, err.vendor, err.endpoint, err.page) == (kind, "kf5", "/apiv2/chats.json", 1)
    assert str(err).startswith("kf5: ")
    assert "/apiv2/chats.json page 1" in str(err)


def test_decode_error_has_the_path() -> None:
    with chathaul.Simulator(conversations=5, fault_rate=1.0, faults=["html"]) as sim:
        with pytest.raises(chathaul.DecodeError) as e:
            list(sim.connect("caresoft", max_attempts=1).conversations(progress=False))
    err = e.value
    assert (err.vendor, err.endpoint, err.page, err.path) == ("caresoft", "/api/v1/chats", 1, ".")
    assert str(err).startswith("caresoft: cannot decode /api/v1/chats page 1: at .: expected JSON, got an HTML page")


def test_api_error_has_the_status() -> None:
    with chathaul.Simulator(conversations=5, fault_rate=1.0, faults=["503"]) as sim:
        with pytest.raises(chathaul.ApiError) as e:
            list(sim.connect("bangwo8", max_attempts=1).conversations(progress=False))
    assert e.value.status == 503
    assert str(e.value).startswith("bangwo8: /api/v1/imchat/histories.json page 1: HTTP 503")


def test_rate_limit_error_has_retry_after() -> None:
    with chathaul.Simulator(conversations=30, rate_limit=1) as sim:
        with pytest.raises(chathaul.RateLimitError) as e:
            list(sim.connect("kf5", max_attempts=1).conversations(page_size=1, progress=False))
    err = e.value
    assert err.retry_after == 1.0
    assert err.kind == "rate_limit" and err.vendor == "kf5"
    assert "rate limited (HTTP 429)" in str(err) and str(err).endswith("(Retry-After: 1s)")


def test_retries_recover_from_faults() -> None:
    # The same faults with retries on: the pull completes and equals the truth.
    with chathaul.Simulator(conversations=15, fault_rate=0.3, faults=["500", "drop", "truncate", "html"]) as sim:
        got = sim.connect("kf5").pull(progress=False)
        assert got.conversations.column("id").to_pylist() == [c.id for c in sim.truth("kf5")]
        assert sim.stats()["faults"] > 0


def test_errors_pickle_and_keep_their_class() -> None:
    err = chathaul.RateLimitError("kf5: rate limited", vendor="kf5", retry_after=2.5)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is chathaul.RateLimitError
    assert str(back) == "kf5: rate limited"
    assert (back.retry_after, back.vendor) == (2.5, "kf5")
    store = chathaul.StoreError("database x.sqlite: cannot write", backend="sqlite", location="x.sqlite")
    back_store = pickle.loads(pickle.dumps(store))
    assert type(back_store) is chathaul.StoreError
    assert (str(back_store), back_store.location) == ("database x.sqlite: cannot write", "x.sqlite")


def test_a_closed_simulator_says_so() -> None:
    sim = chathaul.Simulator(conversations=1)
    sim.close()
    sim.close()  # idempotent
    assert not sim.running
    with pytest.raises(chathaul.ClosedError, match="^the simulator is closed$") as e:
        sim.config("kf5")
    assert e.value.kind == "closed"


def test_secrets_stay_out_of_reprs_reports_and_errors(tmp_path: object) -> None:
    with chathaul.Simulator(conversations=3) as sim:
        secrets = [sim.config("bangwo8")["password"], sim.config("kf5")["password"], sim.config("caresoft")["token"]]
        texts = []
        for vendor in sim.vendors:
            conn = sim.connect(vendor)
            texts += [repr(conn), repr(conn.stats()), repr(conn.capabilities)]
            texts.append(repr(conn.pull(progress=False).report))
        texts.append(repr(chathaul.sync(sim, db=f"{tmp_path}/s.sqlite", progress=False).sources))
        texts.append(repr(sim))
    for secret in secrets:
        assert all(secret not in t for t in texts)
