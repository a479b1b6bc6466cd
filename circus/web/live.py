"""What every open page sees live: watcher states and stats, once a second.

:class:`LiveFeed` runs one loop for the whole console, however many
browsers are open. While at least one page listens it:

* subscribes to circusd's event channel (``watcher.`` topics) so that a
  spawn, a stop or an ``add`` triggers a fresh ``status``/``list`` snapshot
  at the next tick; every ``heartbeat`` seconds one ``status`` call checks
  that circusd is there ("disconnected" otherwise, cleared when it comes
  back) and that no change was missed;
* subscribes to circusd-stats' ``stat.`` topics and keeps the latest figure
  of each topic;
* every ``interval`` seconds sends each listener at most one ``state``
  message (only if something changed) and one ``stats`` message (only if
  figures arrived).

Messages are plain dicts, JSON-encoded by the WebSocket handler:

``{"type": "state", "endpoint", "connected", "alive", "error", "watchers":
[{"name", "status", "pids"}], "stats": {"endpoint", "receiving"}}``

``{"type": "stats", "stats": {topic: {cpu, mem, age, name, reads, ...}}}``
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable, Dict, List, Optional

import zmq

from circus.client import connect
from circus.exc import CircusError
from circus.web.controller import ConsoleError, Controller

logger = logging.getLogger("circus.web.live")

Listener = Callable[[Dict[str, Any]], None]

# Only these keys of a stat payload are shown; the rest would be dead weight.
STAT_KEYS = ("cpu", "mem", "age", "name", "pid", "reads", "address", "addresses", "mem_info1")
# A stats endpoint silent for this long is reported as not receiving.
STATS_SILENCE = 3.0
# Cap on messages drained from a SUB socket per tick, so a flood cannot stall the loop.
DRAIN_LIMIT = 100000


class _Subscriber:
    """A non-blocking SUB socket on ``endpoint`` for topics starting with ``prefix``."""

    def __init__(self, context: zmq.Context, endpoint: str, prefix: bytes, ssh_server: Optional[str],
                 keys: Optional[Dict[str, Optional[str]]] = None):
        self.socket = context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, DRAIN_LIMIT)
        self.socket.setsockopt(zmq.SUBSCRIBE, prefix)
        try:
            connect(self.socket, endpoint, ssh_server, **(keys or {}))
        except BaseException:
            self.socket.close()
            raise

    def drain(self):
        """Yield ``(topic, payload dict)`` for every message waiting now."""
        for _ in range(DRAIN_LIMIT):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2:
                continue
            try:
                payload = json.loads(frames[1])
            except ValueError:
                continue
            if isinstance(payload, dict):
                yield frames[0].decode("utf-8", "replace"), payload

    def close(self) -> None:
        self.socket.close()


class LiveFeed:
    """The once-a-second fan-out of circusd's state and stats to open pages."""

    def __init__(self, controller: Controller, interval: float = 1.0, heartbeat: float = 3.0,
                 context: Optional[zmq.Context] = None) -> None:
        self.controller = controller
        self.interval = interval
        self.heartbeat = heartbeat
        self.context = context or zmq.Context.instance()
        self.listeners: List[Listener] = []
        self.state: Dict[str, Any] = {}
        self._subscribed_to: Optional[tuple] = None
        self._events: Optional[_Subscriber] = None
        self._stats: Optional[_Subscriber] = None
        self._pending_stats: Dict[str, Dict[str, Any]] = {}
        self._dirty = True
        self._last_snapshot = 0.0
        self._last_stat = 0.0
        self._task: Optional[asyncio.Task] = None

    # -- listeners -------------------------------------------------------

    def add(self, listener: Listener) -> None:
        """Register ``listener``; it gets the current state at the next tick."""
        self.listeners.append(listener)
        self._dirty = True
        self.state = {}  # resend the state so the newcomer gets it

    def remove(self, listener: Listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def poke(self) -> None:
        """Something changed (a page acted): take a new snapshot at the next tick."""
        self._dirty = True

    def _send(self, message: Dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:  # one broken page must not starve the others
                logger.exception("dropping a web console listener that failed")
                self.remove(listener)

    # -- loop ------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._unsubscribe()

    async def run(self) -> None:
        """Tick every ``interval`` seconds until cancelled."""
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except Exception:
                logger.exception("web console live feed failed; retrying at the next tick")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def tick(self) -> None:
        """One round: resubscribe if needed, read the channels, send what changed."""
        if not self.listeners:
            return
        self._follow_endpoints()
        self._read_channels()
        now = time.monotonic()
        if not self.controller.connected:
            self._set_state(self._base_state(alive=False, watchers=[]))
        elif self._dirty or not self.state.get("alive"):
            await self._snapshot(now)
        elif now - self._last_snapshot >= self.heartbeat:
            await self._heartbeat(now)
        elif self.state["stats"]["receiving"] != self._receiving():
            self._set_state(self._base_state(alive=True))
        if self._pending_stats:
            stats, self._pending_stats = self._pending_stats, {}
            self._send({"type": "stats", "stats": stats})

    def _receiving(self) -> bool:
        return self._stats is not None and time.monotonic() - self._last_stat < STATS_SILENCE

    def _base_state(self, alive: bool, error: Optional[str] = None, watchers=None) -> Dict[str, Any]:
        return {
            "type": "state",
            "endpoint": self.controller.endpoint,
            "connected": self.controller.connected,
            "alive": alive,
            "error": error,
            "watchers": watchers if watchers is not None else self.state.get("watchers", []),
            "stats": {"endpoint": self.controller.globals.get("stats_endpoint"),
                      "receiving": self._receiving()},
        }

    async def _snapshot(self, now: float) -> None:
        self._dirty = False
        self._last_snapshot = now
        generation = self.controller.generation
        try:
            if not self.controller.globals:
                await self.controller.refresh_globals()
            watchers = await self.controller.snapshot()
        except ConsoleError as exc:
            if generation == self.controller.generation:
                self._set_state(self._base_state(alive=False, error=str(exc)))
            return
        if generation != self.controller.generation:
            return  # connected elsewhere meanwhile: this snapshot is stale
        self._follow_endpoints()  # the endpoints may be known only now
        self._set_state(self._base_state(alive=True, watchers=watchers))

    async def _heartbeat(self, now: float) -> None:
        """One cheap ``status``: is circusd there, and did we miss a change?"""
        self._last_snapshot = now
        generation = self.controller.generation
        try:
            statuses = await self.controller.statuses()
        except ConsoleError as exc:
            if generation == self.controller.generation:
                self._set_state(self._base_state(alive=False, error=str(exc)))
            return
        if statuses != {w["name"]: w["status"] for w in self.state.get("watchers", [])}:
            await self._snapshot(now)

    def _set_state(self, state: Dict[str, Any]) -> None:
        if state != self.state:
            self.state = state
            self._send(state)

    # -- subscriptions -----------------------------------------------------

    def _unsubscribe(self) -> None:
        for sub in (self._events, self._stats):
            if sub is not None:
                sub.close()
        self._events = self._stats = None

    def _follow_endpoints(self) -> None:
        """(Re)open the SUB sockets when the console connects to other endpoints."""
        options = self.controller.globals
        key = (self.controller.generation, options.get("pubsub_endpoint"), options.get("stats_endpoint"))
        if key != self._subscribed_to:
            self._subscribed_to = key
            self._resubscribe()

    def _resubscribe(self) -> None:
        self._unsubscribe()
        self._pending_stats = {}
        self._last_stat = 0.0
        self._dirty = True
        options = self.controller.globals
        ssh, keys = self.controller.ssh_server, self.controller.keys
        try:
            if options.get("pubsub_endpoint"):
                self._events = _Subscriber(self.context, options["pubsub_endpoint"], b"watcher.", ssh, keys)
            if options.get("stats_endpoint"):
                self._stats = _Subscriber(self.context, options["stats_endpoint"], b"stat.", ssh, keys)
        except (zmq.ZMQError, CircusError) as exc:
            logger.warning("web console cannot subscribe to circusd's channels: %s", exc)
            self._unsubscribe()

    def _read_channels(self) -> None:
        if self._events is not None:
            for _ in self._events.drain():
                self._dirty = True
        if self._stats is not None:
            for topic, payload in self._stats.drain():
                self._last_stat = time.monotonic()
                self._pending_stats[topic] = {k: payload[k] for k in STAT_KEYS if k in payload}
