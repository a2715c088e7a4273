"""The short-lived access caches: entries expire, a change of access drops them, one load per miss."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy.orm import Session

from citybrain.core import cache, events


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _access_changes() -> None:
    """What a committed revocation does (without a database: the event is delivered by hand)."""
    events.subscribe(cache.ACCESS_CHANGED, cache._bump)
    for handler in events.bus.handlers_for(cache.ACCESS_CHANGED):
        handler(events.Event(cache.ACCESS_CHANGED), Session())


def test_an_entry_lives_for_its_ttl() -> None:
    clock = Clock()
    kept: cache.TTLCache[str, int] = cache.TTLCache(1.0, clock=clock)
    kept.put("k", 1, cache.generation())
    clock.now += 0.9
    assert kept.get("k") == 1
    clock.now += 0.2
    assert kept.get("k") is None


def test_a_change_of_access_drops_every_entry() -> None:
    kept: cache.TTLCache[str, int] = cache.TTLCache(60.0)
    kept.put("k", 1, cache.generation())
    _access_changes()
    assert kept.get("k") is None


def test_a_value_read_while_access_changed_is_not_kept() -> None:
    kept: cache.TTLCache[str, int] = cache.TTLCache(60.0)
    since = cache.generation()
    _access_changes()  # e.g. a grant revoked between reading it and keeping it
    kept.put("k", 1, since)
    assert kept.get("k") is None


def test_calls_that_miss_together_share_one_load_and_an_error_is_not_kept() -> None:
    kept: cache.TTLCache[str, int] = cache.TTLCache(60.0)
    loads: list[int] = []
    gate = threading.Event()

    def load() -> int:
        gate.wait(5)
        loads.append(1)
        return 7

    async def many() -> list[int]:
        waiting = [asyncio.ensure_future(kept.fetch("k", load)) for _ in range(20)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(many()) == [7] * 20
    assert loads == [1]
    assert kept.get("k") == 7

    def refuse() -> int:
        raise PermissionError("revoked")

    with pytest.raises(PermissionError):
        asyncio.run(kept.fetch("other", refuse))
    assert kept.get("other") is None
