"""Progress bars: tqdm when asked (or in a notebook or terminal), silent with progress=False."""

from __future__ import annotations

import pytest

import chathaul


def test_pull_shows_a_tqdm_bar_when_asked(sim: chathaul.Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.connect("kf5").pull(progress=True)
    err = capsys.readouterr().err
    assert err.lstrip("\r").startswith("kf5: ")
    assert "40 conv" in err and "messages=" in err


def test_iteration_shows_a_bar_with_the_limit_as_total(sim: chathaul.Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    got = list(sim.connect("bangwo8").conversations(limit=10, progress=True))
    assert len(got) == 10
    err = capsys.readouterr().err
    assert "10/10" in err and "100%" in err


def test_sync_shows_a_bar(sim: chathaul.Simulator, capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    chathaul.sync(sim, db=f"{tmp_path}/p.sqlite", progress=True)
    assert "sync: " in capsys.readouterr().err


def test_progress_false_and_non_terminals_are_silent(sim: chathaul.Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.connect("kf5").pull(progress=False)
    list(sim.connect("kf5").conversations(limit=5))  # stderr is not a terminal here
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
