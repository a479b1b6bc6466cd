"""Subscribers to a circus event channel: ``Events`` (async, an in-process
arbiter) and ``Subscriber`` (blocking, a circusd subprocess).

Events published before a SUB socket has joined are lost (ZeroMQ's slow
joiner): both make the publisher publish until one event comes back, so that
nothing published afterwards is missed.
"""

import asyncio
import json
import time

import zmq
import zmq.asyncio

from .polling import until, until_async

PROBE = "test-probe"  # the middle word of the topics of the probes ``Events`` publishes


class Events:
    """The events of an in-process arbiter whose topics start with ``prefix``.

    ``async with Events(arbiter) as events`` connects a SUB socket and
    publishes probes through ``arbiter.publish`` until one comes back; from
    then on a task collects every event (but the probes) into ``received``,
    as ``(topic, payload, time.monotonic() at arrival)``.

    ``await events.next(topic)`` returns the payload of the next event with
    exactly ``topic`` after the one the previous ``next`` returned; ``seen``
    holds ``(topic, payload)`` of every event ``next`` went through.
    ``of``, ``actions``, ``events`` and ``await wait(...)`` look events up by
    watcher and action; ``await flush()`` waits until every event published so
    far has arrived.
    """

    def __init__(self, arbiter, prefix="watcher."):
        self.arbiter = arbiter
        self.prefix = prefix
        self.received = []
        self._cursor = 0  # received[:_cursor] is what ``next`` went through
        self._probes = set()
        self._arrived = asyncio.Event()

    async def __aenter__(self):
        self._context = zmq.asyncio.Context()
        self._sub = self._context.socket(zmq.SUB)
        self._sub.linger = 0
        self._sub.setsockopt(zmq.SUBSCRIBE, self.prefix.encode())
        self._sub.connect(self.arbiter.pubsub_endpoint)
        self._task = asyncio.ensure_future(self._collect())
        try:
            await until_async(self._probe_came_back, timeout=10, interval=0,
                              what="a probe to come back on %s" % self.arbiter.pubsub_endpoint)  # fmt: skip
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc):
        await self._close()

    async def _close(self):
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._sub.close()
        self._context.term()

    def _probe_topic(self, name):
        return "%s%s.%s" % (self.prefix, PROBE, name)

    async def _probe_came_back(self):
        topic = self._probe_topic("sync")
        self.arbiter.publish(topic, {})
        await asyncio.sleep(0.05)
        return topic in self._probes

    async def _collect(self):
        probes = self._probe_topic("")
        while True:
            raw_topic, raw = await self._sub.recv_multipart()
            topic = raw_topic.decode()
            if topic.startswith(probes):
                self._probes.add(topic)
            else:
                self.received.append((topic, json.loads(raw), time.monotonic()))
            self._arrived.set()

    @property
    def seen(self):
        return [(topic, payload) for topic, payload, _ in self.received[: self._cursor]]

    async def next(self, topic, timeout=5):
        """Payload of the next event with exactly ``topic``; the ones before it go to ``seen``."""
        async with asyncio.timeout(timeout):
            while True:
                self._arrived.clear()
                for index in range(self._cursor, len(self.received)):
                    if self.received[index][0] == topic:
                        self._cursor = index + 1
                        return self.received[index][1]
                await self._arrived.wait()

    def events(self, watcher):
        """``[(action, payload)]`` of ``watcher`` in arrival order."""
        prefix = "watcher.%s." % watcher
        return [(t[len(prefix):], p) for t, p, _ in self.received if t.startswith(prefix)]

    def actions(self, watcher):
        return [action for action, _ in self.events(watcher)]

    def of(self, watcher, action):
        return [p for a, p in self.events(watcher) if a == action]

    async def wait(self, watcher, action, count=1, timeout=10):
        """The payloads of ``action`` of ``watcher`` once at least ``count`` arrived."""
        await until_async(lambda: len(self.of(watcher, action)) >= count, timeout,
                          what=lambda: "%d %s event(s) of %s; got %s"
                          % (count, action, watcher, [t for t, _, _ in self.received]))  # fmt: skip
        return self.of(watcher, action)

    async def flush(self, timeout=10):
        """Wait until every event published so far has arrived (a probe is published last)."""
        marker = self._probe_topic("flush%d" % len(self._probes))
        self.arbiter.publish(marker, {})
        await until_async(lambda: marker in self._probes, timeout, what="the flush probe")

    def clear(self):
        """Forget every event received so far."""
        self.received.clear()
        self._cursor = 0


class Subscriber:
    """A blocking SUB socket on a circusd's event channel, for topics starting with ``prefix``.

    On a ``context`` of its own unless one is given. ``synchronise(provoke)``
    beats the slow-joiner loss; ``next``, ``wait_for`` and ``collect`` read
    events as ``(topic, payload, time.time() at arrival)``.
    """

    def __init__(self, endpoint, prefix="watcher.", context=None):
        self.endpoint = endpoint
        self._own_context = context is None
        self.context = zmq.Context() if context is None else context
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        # The ipc file appears only when circusd binds: retry the connect quickly.
        self.socket.setsockopt(zmq.RECONNECT_IVL, 2)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        self.socket.connect(endpoint)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next(self, timeout):
        """The next event, or None after ``timeout`` seconds."""
        if not self.socket.poll(int(timeout * 1000)):
            return None
        topic, body = self.socket.recv_multipart()
        return topic.decode(), json.loads(body), time.time()

    def drain(self, timeout=0):
        """Discard every event queued, and those that come within ``timeout`` seconds of the last."""
        while self.next(timeout):
            pass

    def synchronise(self, provoke, topic=None, timeout=10):
        """Call ``provoke()`` (which makes circusd publish) until an event (with
        ``topic``, if given) arrives; then discard what is queued."""

        def arrived():
            provoke()
            while (event := self.next(0.1)) is not None:
                if topic is None or event[0] == topic:
                    self.drain(0.05)
                    return True
            return False

        until(arrived, timeout, interval=0, what="an event on %s" % self.endpoint)

    def wait_for(self, match, timeout):
        """The first event for which ``match(topic, payload)`` is true; ``Timeout`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout

        def matched():
            event = self.next(max(0, deadline - time.monotonic()))
            return event if event and match(event[0], event[1]) else None

        return until(matched, timeout, interval=0, what="a matching event on %s" % self.endpoint)

    def spawn_times(self, count, timeout):
        """The ``time`` of the next ``count`` spawn events (fewer if they stop coming within ``timeout`` s)."""
        found = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            event = self.next(0.1)
            if event and event[0].endswith(".spawn"):
                found.append(event[1]["time"])
        return found

    def collect(self, last, timeout=10):
        """``[(topic, payload)]`` of the events up to and including the first one with topic ``last``."""
        seen = []

        def arrived():
            while (event := self.next(0.02)) is not None:
                seen.append(event[:2])
                if event[0] == last:
                    return True
            return False

        until(arrived, timeout, what=lambda: "event %s (got %s)" % (last, seen))
        return seen

    def close(self):
        self.socket.close()
        if self._own_context:
            self.context.term()
