"""The circusd-stats daemon: follow circusd, publish figures every second.

:class:`StatsStreamer` runs on one asyncio loop:

* a SUB socket on circusd's ``pubsub_endpoint`` (prefix ``watcher.``) keeps
  the :class:`~circus.stats.collector.Collector` up to date (spawn adds a
  pid, reap/kill remove it, stop/remove drop the watcher);
* circusd is asked ``list``, ``list <name>``, ``dstats`` and ``listsockets``
  once at start (the SUB socket is connected first, so that an event sent
  while we list is not lost), and again whenever circusd was lost;
* every ``interval`` seconds one round is sampled and published on a PUB
  socket bound at ``stats_endpoint``, followed by the socket hits.

circusd going away (its pid gone, or a call timing out) is logged and the
scan retried every ``interval``; it never ends the daemon. When circusd is
our parent (``statsd = true``) and dies, we exit, as a child of a dead
supervisor has nothing left to report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, List, Optional

import zmq
import zmq.asyncio

from circus.client import AsyncCircusClient, connect
from circus.exc import CallError
from circus.publisher import EventPublisher
from circus.stats.collector import CIRCUS_GROUP, Collector, socket_messages
from circus.stats.hits import HitCounter

logger = logging.getLogger("circus.stats")

# Generous: a circusd with many workers may take seconds to answer dstats,
# and a request that timed out is still executed, so retrying early only
# piles work on a busy circusd.
CALL_TIMEOUT = 30.0
MAX_BACKOFF = 30.0


class CircusdLost(Exception):
    """circusd did not answer, or answered with an error."""


class StatsStreamer:
    """Publishes spec/protocol.md §7 on ``stats_endpoint`` until ``stop()``."""

    def __init__(
        self,
        endpoint: str,
        pubsub_endpoint: str,
        stats_endpoint: str,
        ssh_server: Optional[str] = None,
        interval: float = 1.0,
        context: Optional[zmq.Context] = None,
        curve_key: Optional[str] = None,
        server_key: Optional[str] = None,
        curve: Any = None,
    ) -> None:
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self.stats_endpoint = stats_endpoint
        self.ssh_server = ssh_server
        self.curve_key, self.server_key = curve_key, server_key  # CurveZMQ client of circusd
        self.curve = curve  # a circus.curve.CurveServer for the stats channel, or None
        self.interval = interval
        self.base_context = context or zmq.Context.instance()
        self.context = zmq.asyncio.Context.shadow(self.base_context.underlying)
        self.collector = Collector()
        self.sockets: List[dict] = []
        self.circusd_pid: Optional[int] = None
        self.parent_pid = os.getppid()
        self._synced = False
        self._retry_at = 0.0
        self._backoff = interval
        self._stopped: Optional[asyncio.Event] = None

    # -- life cycle -------------------------------------------------------

    async def run(self) -> None:
        """Bind, follow circusd and publish until :meth:`stop` (or circusd, our parent, dies)."""
        self._stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        # A plain socket: publishing never waits, so it needs no future.
        if self.curve is not None:
            self.curve.start(self.base_context)
        self.pub = EventPublisher(self.base_context, self.stats_endpoint, what="stats", curve=self.curve)
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"watcher.")
        connect(self.sub, self.pubsub_endpoint, self.ssh_server, curve_key=self.curve_key,
                server_key=self.server_key)
        self.hits = HitCounter(loop)
        logger.info("circusd-stats publishing on %s", self.stats_endpoint)
        tasks = [loop.create_task(self._follow_events()), loop.create_task(self._tick())]
        try:
            await self._stopped.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.hits.close()
            self.sub.close(linger=0)
            self.pub.close()
            if self.curve is not None:
                self.curve.stop()

    def stop(self) -> None:
        if self._stopped is not None:
            self._stopped.set()

    # -- circusd's view -------------------------------------------------------

    async def _call(self, client: AsyncCircusClient, command: str, **props: Any) -> dict:
        try:
            reply = await client.send_message(command, **props)
        except CallError as exc:
            raise CircusdLost("%s: %s" % (command, exc)) from None
        if reply.get("status") == "error":
            raise CircusdLost("%s: %s" % (command, reply.get("reason")))
        return reply

    async def sync(self) -> None:
        """Learn circusd's watchers, pids, own pid and sockets (CircusdLost if it fails)."""
        client = AsyncCircusClient(
            context=self.context, endpoint=self.endpoint, timeout=CALL_TIMEOUT, ssh_server=self.ssh_server,
            curve_key=self.curve_key, server_key=self.server_key,
        )
        try:
            info = (await self._call(client, "dstats"))["info"]
            names = (await self._call(client, "list"))["watchers"]
            pids = {}
            for name in names:
                if name not in CIRCUS_GROUP or name == "circushttpd":
                    pids[name] = (await self._call(client, "list", name=name))["pids"]
            sockets = (await self._call(client, "listsockets"))["sockets"]
        finally:
            client.stop()
        self.collector.clear()
        self.circusd_pid = info["pid"]
        self.collector.add_circus(self.circusd_pid, "circusd")
        self.collector.add_circus(os.getpid(), "circusd-stats")
        for name, watcher_pids in pids.items():
            for pid in watcher_pids:
                self.collector.add(name, pid)
        self.sockets = sockets
        self.hits.reset(sockets, self.circusd_pid)
        self._synced = True
        logger.info(
            "circusd-stats following circusd (pid %d): %d watcher(s), %d socket(s)",
            self.circusd_pid, len(pids), len(sockets),
        )

    # -- events -----------------------------------------------------------------

    async def _follow_events(self) -> None:
        while True:
            frames = await self.sub.recv_multipart()
            if len(frames) != 2:
                continue
            topic = frames[0].decode("utf-8", "replace").split(".")
            if len(topic) < 3:
                continue
            try:
                payload = json.loads(frames[1])
            except ValueError:
                logger.warning("ignoring an event that is not JSON: %r", frames[1][:200])
                continue
            if isinstance(payload, dict):
                # A watcher name may hold dots: the event is the last part.
                self.collector.on_event(".".join(topic[1:-1]), topic[-1], payload)

    # -- rounds -----------------------------------------------------------------

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            await self._one_round()
            deadline += self.interval
            delay = deadline - loop.time()
            if delay < 0:  # we fell behind (suspended, overloaded): skip, don't burst
                deadline, delay = loop.time(), 0
            await asyncio.sleep(delay)

    async def _one_round(self) -> None:
        if self.circusd_pid is not None and self.parent_pid == self.circusd_pid and os.getppid() != self.parent_pid:
            logger.info("circusd (pid %d), our parent, is gone; circusd-stats exits", self.circusd_pid)
            self.stop()
            return
        if not self._synced and not await self._try_sync():
            return
        self.collector.gone.clear()
        for topic, payload in self.collector.round():
            self._publish(topic, payload)
        for topic, payload in socket_messages(self.sockets, self.hits.take()):
            self._publish(topic, payload)
        if self.circusd_pid in self.collector.gone:
            logger.warning("circusd (pid %d) is gone; waiting for a circusd at %s", self.circusd_pid, self.endpoint)
            self._synced = False

    async def _try_sync(self) -> bool:
        """``sync()``, retried with a doubling delay (up to MAX_BACKOFF) while circusd is away."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at:
            return False
        try:
            await self.sync()
        except CircusdLost as exc:
            logger.warning("circusd at %s unreachable (%s); retrying in %gs", self.endpoint, exc, self._backoff)
            self._retry_at = loop.time() + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            return False
        self._backoff = self.interval
        return True

    def _publish(self, topic: str, payload: dict) -> None:
        # A PUB never blocks; a full pipe drops, as for any slow subscriber.
        self.pub.publish(topic, payload)
