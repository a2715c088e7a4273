"""In-process fan-out of what the screens show live: new metric values, alarm changes and the
traffic twin's state, to any number of server-sent-event connections.

Publishers call :meth:`Hub.publish` from any thread (request handlers run in a thread pool, after
their transaction commits); each connection has an asyncio queue on the server's event loop that
keeps only the newest messages when the browser is slow, as the traffic twin's live page does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator
from typing import Any

#: messages a connection may fall behind by before the oldest are dropped
QUEUE_SIZE = 256


class Hub:
    def __init__(self) -> None:
        self._queues: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[tuple[str, Any]]]] = set()
        self._lock = threading.Lock()
        #: the last message of each kind, for a connection that just opened (``traffic`` and ``figures``)
        self._latest: dict[str, Any] = {}
        #: wall-clock seconds of the last published metric values (the screens' data freshness)
        self.last_points_at: float | None = None

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._queues)

    def publish(self, kind: str, data: Any, *, keep: bool = False) -> None:
        """Send ``(kind, data)`` to every connection; ``keep`` remembers it for new connections."""
        with self._lock:
            targets = tuple(self._queues)
            if keep:
                self._latest[kind] = data
            if kind == "points":
                self.last_points_at = time.time()
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):  # its loop has closed: the page went away
                loop.call_soon_threadsafe(_offer, queue, (kind, data))

    def latest(self, kind: str) -> Any:
        with self._lock:
            return self._latest.get(kind)

    async def messages(self) -> AsyncGenerator[tuple[str, Any], None]:
        """Every message from now on, the remembered ones first."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        entry = (loop, queue)
        with self._lock:
            self._queues.add(entry)
            remembered = list(self._latest.items())
        try:
            for item in remembered:
                yield item
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                self._queues.discard(entry)


def _offer(queue: asyncio.Queue[tuple[str, Any]], item: tuple[str, Any]) -> None:
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(item)


#: the serving process's hub (one per process, like the twin: SSE clients of one worker see what
#: that worker ingested; run one worker for the operations center)
hub = Hub()
