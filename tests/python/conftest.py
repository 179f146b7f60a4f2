"""Shared fixtures: one in-process simulator for the whole session."""

from __future__ import annotations

from typing import Iterator, List

import pytest

import chathaul

VENDORS = ["bangwo8", "caresoft", "kf5"]


@pytest.fixture(scope="session")
def sim() -> Iterator[chathaul.Simulator]:
    with chathaul.Simulator(seed=7, conversations=40, messages=8) as s:
        yield s


def by_id(items: List[chathaul.Conversation]) -> List[chathaul.Conversation]:
    """Sorted by id, numeric ids numerically (as the simulator's truth is)."""
    return sorted(items, key=lambda c: (len(c.id), c.id) if c.id.isdigit() else (0, c.id))
