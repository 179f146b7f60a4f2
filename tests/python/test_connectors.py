"""connectors(), connect() and the config errors."""

from __future__ import annotations

import pytest

import chathaul
from conftest import VENDORS


def test_connectors_lists_every_vendor_with_its_fields() -> None:
    found = chathaul.connectors()
    assert [c.name for c in found] == VENDORS
    kf5 = next(c for c in found if c.name == "kf5")
    names = [f.name for f in kf5.fields]
    assert {"base_url", "subdomain", "email", "password", "timezone"} <= set(names)
    # The common HTTP fields come after the vendor's own.
    common = ["rate_limit", "concurrency", "timeout_secs", "max_attempts"]
    assert set(common) <= set(names)
    assert names.index("password") < min(names.index(f) for f in common)
    password = next(f for f in kf5.fields if f.name == "password")
    assert password.secret and password.env == "CHATHAUL_KF5_PASSWORD"
    timezone = next(f for f in kf5.fields if f.name == "timezone")
    assert timezone.default == "Asia/Shanghai" and not timezone.required
    assert kf5.capabilities["messages"] is True
    assert kf5.required_fields() == ["email"]
    assert next(c for c in found if c.name == "bangwo8").required_fields() == ["account", "password"]


def test_connect_takes_keywords_or_a_dict(sim: chathaul.Simulator) -> None:
    cfg = sim.config("kf5")
    a = chathaul.connect("kf5", **cfg)
    b = chathaul.connect("kf5", cfg)
    assert a.vendor == b.vendor == "kf5"
    assert a.account == "demo"
    assert a.base_url == sim.base_url("kf5")
    assert a.timezone == "Asia/Shanghai"
    assert repr(a) == f"<chathaul.Connector kf5 account=\"demo\" base_url=\"{sim.base_url('kf5')}\">"
    # Keywords override the dict; numbers become strings.
    c = chathaul.connect("caresoft", sim.config("caresoft"), timezone="UTC", timeout_secs=5)
    assert c.timezone == "UTC"


def test_connect_reads_missing_fields_from_the_environment(sim: chathaul.Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = sim.config("bangwo8")
    monkeypatch.setenv("CHATHAUL_BANGWO8_PASSWORD", cfg.pop("password"))
    conn = chathaul.connect("bangwo8", **cfg)
    assert len(list(conn.conversations(limit=3, progress=False))) == 3


def test_unknown_vendor_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(chathaul.ConfigError) as e:
        chathaul.connect("zendesk")
    assert str(e.value) == "unknown vendor `zendesk`; known vendors: bangwo8, caresoft, kf5"
    assert e.value.kind == "config"
    assert isinstance(e.value, ValueError) and isinstance(e.value, chathaul.Error)


def test_missing_and_unknown_fields_name_the_field(sim: chathaul.Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATHAUL_BANGWO8_PASSWORD", raising=False)
    cfg = sim.config("bangwo8")
    del cfg["password"]
    with pytest.raises(chathaul.ConfigError) as e:
        chathaul.connect("bangwo8", **cfg)
    assert str(e.value) == (
        "bangwo8: config field `password`: is required: pass `password=...` or set CHATHAUL_BANGWO8_PASSWORD"
    )
    assert e.value.field == "password" and e.value.vendor == "bangwo8"
    with pytest.raises(chathaul.ConfigError) as e:
        chathaul.connect("kf5", **sim.config("kf5"), colour="blue")
    assert str(e.value).startswith("kf5: config field `colour`: unknown field; kf5 takes: ")
    with pytest.raises(chathaul.ConfigError, match="`Mars/Olympus` is not an IANA time zone"):
        chathaul.connect("kf5", **sim.config("kf5"), timezone="Mars/Olympus")


def test_config_values_must_be_text_or_numbers(sim: chathaul.Simulator) -> None:
    with pytest.raises(TypeError, match="config field 'timeout_secs' must be a string or a number, not list"):
        chathaul.connect("kf5", sim.config("kf5"), timeout_secs=[1])
