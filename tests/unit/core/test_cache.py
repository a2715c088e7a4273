"""The short-lived access caches: entries expire, a change of access drops them, one load per miss."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlalchemy.orm import Session

from citybrain.core import cache, events

T = TypeVar("T")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(make())`` on a thread of its own: the browser tests leave an event loop
    running on the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


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

    assert run_async(many) == [7] * 20
    assert loads == [1]
    assert kept.get("k") == 7

    def refuse() -> int:
        raise PermissionError("revoked")

    with pytest.raises(PermissionError):
        run_async(lambda: kept.fetch("other", refuse))
    assert kept.get("other") is None


def test_a_busy_entry_is_read_again_before_it_expires_and_served_meanwhile() -> None:
    clock = Clock()
    kept: cache.TTLCache[str, int] = cache.TTLCache(1.0, clock=clock)
    kept.put("k", 1, cache.generation())

    async def use() -> tuple[int | None, int | None, int | None]:
        early = kept.get("k", lambda: 2)  # young: no load
        clock.now += 0.8
        late = kept.get("k", lambda: 2)  # in the last part of its life: served, and read again
        await asyncio.sleep(0.1)
        clock.now += 0.5  # past the first entry's life, within the new one's
        return early, late, kept.get("k")

    assert run_async(use) == (1, 1, 2)
