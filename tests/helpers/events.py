"""Subscribers to an arbiter's event channel."""

import asyncio
import json
import time


class Events:
    """Subscriber to an arbiter's event channel (async, for integration tests).

    ``async with Events(arbiter) as events`` connects a SUB socket and, to
    beat ZeroMQ's slow-joiner loss, publishes probes through
    ``arbiter.publish`` until one comes back. ``await events.next(topic)``
    returns the payload of the next event whose topic is ``topic``.
    """

    def __init__(self, arbiter):
        self.arbiter = arbiter
        self.seen = []  # (topic, payload) in arrival order

    async def __aenter__(self):
        import zmq
        import zmq.asyncio

        self._context = zmq.asyncio.Context()
        self._sub = self._context.socket(zmq.SUB)
        self._sub.linger = 0
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(self.arbiter.pubsub_endpoint)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.arbiter.publish("test.probe", {})
            if await self._sub.poll(50):
                break
        else:
            raise AssertionError("no probe came back on %s" % self.arbiter.pubsub_endpoint)
        while await self._sub.poll(0):  # drain the probes
            await self._sub.recv_multipart()
        return self

    async def __aexit__(self, *exc):
        self._sub.close()
        self._context.term()

    async def next(self, topic, timeout=5):
        """Payload of the next event with exactly ``topic``; earlier ones are kept in ``seen``."""
        async with asyncio.timeout(timeout):
            while True:
                raw_topic, raw = await self._sub.recv_multipart()
                event = (raw_topic.decode(), json.loads(raw))
                if event[0] != "test.probe":
                    self.seen.append(event)
                if event[0] == topic:
                    return event[1]
