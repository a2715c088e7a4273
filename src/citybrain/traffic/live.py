"""The serving process's live twin: one :class:`~citybrain.traffic.twin.Twin` of a stored network,
its snapshots handed to any number of page connections (server-sent events), and its commands.

The twin's reader thread calls :meth:`LiveTwin._publish` with every snapshot; each connected page
has an asyncio queue on the server's event loop that keeps only the newest few snapshots, so a slow
browser drops old states instead of holding up the simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: snapshots a page connection may fall behind by before older ones are dropped
QUEUE_SIZE = 4


class LiveTwin:
    """A twin of one network while the app serves (started in the background at start-up)."""

    def __init__(
        self, network_id: int, network_code: str, net: Path, routes: Path, *, controller: str, speed: float, seed: int = 0
    ) -> None:
        from citybrain.traffic.twin import Twin

        self.network_id = network_id
        self.network_code = network_code
        self.twin = Twin(net, routes, controller=controller, speed=speed, seed=seed)
        self._queues: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self._lock = threading.Lock()
        self._starting: threading.Thread | None = None
        self.twin.subscribe(self._publish)

    def start_in_background(self) -> None:
        """Start the simulation without holding up the server's start (it takes a few seconds)."""

        def start() -> None:
            try:
                self.twin.start()
            except Exception:  # the pages show the twin as not running, with its error
                log.exception("the live twin of %s did not start", self.network_code)

        self._starting = threading.Thread(target=start, name="citybrain-twin-start", daemon=True)
        self._starting.start()

    def stop(self) -> None:
        if self._starting is not None:
            self._starting.join(60)
        self.twin.stop()

    @property
    def running(self) -> bool:
        return self.twin.running

    def status(self) -> dict[str, Any]:
        """Whether it runs, on which network, what the simulation reported at start, the last snapshot."""
        return {
            "running": self.twin.running,
            "network": self.network_code,
            "error": self.twin.error,
            "info": self.twin.info,
            "latest": self.twin.latest(),
            "speed": self.twin.config.speed,
        }

    def command(self, junction_id: str, action: str, value: str | None, duration_s: float | None) -> dict[str, Any]:
        """Send a command to the simulation and wait for its acknowledgement (blocking: call it from
        a worker thread)."""
        return self.twin.command(junction_id, action, value, duration_s)

    # -- fan-out to pages -------------------------------------------------------------------------

    def _publish(self, snapshot: dict[str, Any]) -> None:
        with self._lock:
            targets = tuple(self._queues)
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):  # its loop has closed: the page went away
                loop.call_soon_threadsafe(_offer, queue, snapshot)

    async def snapshots(self) -> AsyncIterator[dict[str, Any]]:
        """Every snapshot from now on (the latest first, if there is one), newest kept when slow."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        entry = (loop, queue)
        with self._lock:
            self._queues.add(entry)
        try:
            latest = self.twin.latest()
            if latest is not None:
                yield latest
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                self._queues.discard(entry)


def _offer(queue: asyncio.Queue[dict[str, Any]], snapshot: dict[str, Any]) -> None:
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(snapshot)
