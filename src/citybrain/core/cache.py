"""Short-lived, per-process caches of access decisions, dropped when access changes.

Hot paths (governed data-service calls) cannot afford to read API keys, users, grants and service
definitions from the database on every call. They keep what they read in a :class:`TTLCache` for
:data:`TTL_SECONDS`. A change of access committed in this process (a key or grant revoked, a grant
approved, a user deactivated) calls :func:`access_changed`, and once that transaction commits every
cache entry is dropped: the next call reads the database again. A change committed by another
process (another server worker, the ``citybrain`` command) is seen when the entry expires, at most
:data:`TTL_SECONDS` later.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from anyio import to_thread
from sqlalchemy.orm import Session

from citybrain.core import events

#: How long (seconds) a cached decision may be used before the database is asked again.
TTL_SECONDS = 1.0
#: Past this part of its life, an entry that is used is read again in the background.
REFRESH_AT = 0.7
ACCESS_CHANGED = "access.changed"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_counter = itertools.count(1)
_generation = 0


def generation() -> int:
    """Changes when access changes; read it before loading what you cache (see :meth:`TTLCache.put`)."""
    return _generation


def _bump(_event: events.Event, _session: Session) -> None:
    global _generation
    _generation = next(_counter)


def access_changed(session: Session) -> None:
    """Drop every cached access decision once ``session`` commits (nothing if it rolls back)."""
    events.subscribe(ACCESS_CHANGED, _bump)
    events.publish(session, ACCESS_CHANGED)


def on_event_drop_caches(name: str) -> None:
    """Also drop cached decisions after every committed event ``name`` (e.g. a resource published)."""
    events.subscribe(name, _bump)


class TTLCache(Generic[K, V]):
    """A dict whose entries expire after ``ttl`` seconds or when access changes."""

    def __init__(
        self,
        ttl: float = TTL_SECONDS,
        *,
        refresh: bool = True,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.ttl = ttl
        #: read entries again in the background before they expire (not where loads must not run
        #: beside the calls, as on a test's single connection)
        self.refresh = refresh
        self._clock = clock
        self._max = max_entries
        self._data: dict[K, tuple[V, float, int]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    def get(self, key: K, load: Callable[[], V] | None = None) -> V | None:
        """The cached value, or None. Given ``load``, an entry in the last part of its life is
        read again in the background (on a worker thread, from a running event loop) while it is
        still served, so that a busy key does not make its calls wait whenever it expires."""
        found = self._data.get(key)
        if found is None:
            return None
        value, until, seen = found
        now = self._clock()
        if seen != _generation or until <= now:
            self._data.pop(key, None)
            return None
        if load is not None and self.refresh and until - now < self.ttl * (1 - REFRESH_AT) and key not in self._loading:
            self._load(key, load)
        return value

    def put(self, key: K, value: V, since: int) -> None:
        """Keep ``value``, read after :func:`generation` returned ``since``: if access changed while
        it was being read, it is not kept."""
        if since != _generation:
            return
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[key] = (value, self._clock() + self.ttl, since)

    def discard(self, key: K) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    async def fetch(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or ``load()`` run on a worker thread and kept. Calls that miss the
        same key together wait for one load (an expired entry is not read by every waiting call)."""
        found = self.get(key, load)
        if found is not None:
            return found
        loading = self._loading.get(key) or self._load(key, load)
        # shielded: one caller going away does not cancel the load the others wait for
        return await asyncio.shield(loading)

    def _load(self, key: K, load: Callable[[], V]) -> asyncio.Future[V]:
        since = generation()

        def settle(done: asyncio.Future[V]) -> None:
            self._loading.pop(key, None)
            if done.cancelled() or done.exception() is not None:
                # not kept: an error (a revoked key) is raised to the calls waiting for it, and the
                # next call asks again
                self._data.pop(key, None)
            else:
                self.put(key, done.result(), since)

        loading = self._loading[key] = asyncio.ensure_future(to_thread.run_sync(load))
        loading.add_done_callback(settle)
        return loading
