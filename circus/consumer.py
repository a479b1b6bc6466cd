"""A blocking subscriber to circusd's events (``circusctl listen`` and plugins use it).

::

    with CircusConsumer([b"watcher."], endpoint="tcp://127.0.0.1:5556") as events:
        for topic, message in events:
            print(topic, json.loads(message))

Only the standard library and pyzmq are imported: ``circusctl`` starts fast.
"""

import zmq

from circus.client import connect
from circus.client_defaults import DEFAULT_ENDPOINT_SUB


class CircusConsumer:
    """A SUB socket on ``topics`` (prefixes, str or bytes; ``b""`` for all).

    Iterating yields ``(topic, message)`` byte strings as they arrive, until
    :meth:`stop` (from the iterating thread: a ZeroMQ socket belongs to one
    thread). Without ``context`` the consumer has its own, which ``stop``
    destroys. A malformed ``endpoint`` is a CallError. ``curve_key`` and
    ``server_key`` make it a CurveZMQ client (see circus.client.connect).
    """

    def __init__(self, topics, context=None, endpoint=DEFAULT_ENDPOINT_SUB, ssh_server=None,
                 timeout=1.0, ssh_keyfile=None, curve_key=None, server_key=None):
        self._own_context = context is None
        self.context = context or zmq.Context()
        self.topics = list(topics)
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self._stopped = False
        self.pubsub_socket = self.context.socket(zmq.SUB)
        self.pubsub_socket.setsockopt(zmq.LINGER, 0)
        for topic in self.topics:
            self.pubsub_socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf8") if isinstance(topic, str) else topic)
        try:
            connect(self.pubsub_socket, endpoint, ssh_server, ssh_keyfile, curve_key=curve_key,
                    server_key=server_key)
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def __iter__(self):
        return self.iter_messages()

    def iter_messages(self):
        """``(topic, message)`` pairs; waits ``timeout`` at a time so that a stop is seen."""
        while not self._stopped:
            if self.pubsub_socket.poll(int(self.timeout * 1000), zmq.POLLIN):
                frames = self.pubsub_socket.recv_multipart()
                yield frames[0], frames[-1]

    def stop(self):
        """Close the socket, and the context when it is the consumer's own."""
        if self._stopped:
            return
        self._stopped = True
        self.pubsub_socket.close(linger=0)
        if self._own_context:
            self.context.destroy(linger=0)
