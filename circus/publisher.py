"""A PUB channel (circusd's events, circusd-stats' figures) and the one way messages are sent on it."""

import json
import logging

import zmq

logger = logging.getLogger("circus.publisher")


class EventPublisher:
    """A PUB socket bound at ``endpoint`` (a CurveZMQ server with ``curve``); OSError naming the ``what`` endpoint if it cannot be."""

    def __init__(self, context, endpoint, what="pub/sub", curve=None):
        self.socket = context.socket(zmq.PUB)
        self.socket.linger = 0
        if curve is not None:  # a circus.curve.CurveServer: only its clients subscribe
            curve.secure(self.socket, "%s endpoint" % what)
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as exc:
            self.socket.close()
            reason = zmq.strerror(exc.errno) if exc.errno is not None else str(exc)
            raise OSError("cannot bind the %s endpoint %s: %s" % (what, endpoint, reason)) from None

    def publish(self, topic, payload):
        """Send ``[topic, json]``; never blocks (an event no subscriber can take is dropped)."""
        frames = [topic.encode("utf-8"), json.dumps(payload).encode("utf-8")]
        try:
            # The plain socket's send: an asyncio socket's would make a future per event.
            zmq.Socket.send_multipart(self.socket, frames, zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            logger.debug("event %s not published: %s", topic, exc)

    def close(self):
        # Up to half a second for the last events (a quit's stops) to leave;
        # a subscriber that cannot take them does not hold circusd longer.
        self.socket.close(linger=500)
