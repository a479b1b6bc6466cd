"""The client end of the JSON protocol over ZeroMQ (spec/protocol.md).

A request is one frame of JSON: ``{"command": ..., "properties": {...},
"id": ...}`` sent from a DEALER socket to circusd's ROUTER; the reply is one
frame carrying the same ``id``. :class:`CircusClient` (blocking) and
:class:`AsyncCircusClient` (asyncio) share :func:`encode_call` and
:func:`decode_reply`, so both speak exactly the same protocol.

Only the standard library and pyzmq are imported: ``circusctl`` starts fast.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
import uuid
from typing import Any

import zmq

from circus.client_defaults import DEFAULT_ENDPOINT_DEALER
from circus.exc import CallError

logger = logging.getLogger("circus.client")

DEFAULT_TIMEOUT = 5.0
TIMED_OUT = "Timed out."


def make_message(command: str, **props: Any) -> dict[str, Any]:
    """``{"command": command, "properties": props}``."""
    return {"command": command, "properties": props}


def cast_message(command: str, **props: Any) -> dict[str, Any]:
    """A message circusd executes without replying (``msg_type: cast``)."""
    msg = make_message(command, **props)
    msg["msg_type"] = "cast"
    return msg


def make_json(command: str, **props: Any) -> str:
    """The JSON text of ``make_message(command, **props)``."""
    return json.dumps(make_message(command, **props))


def encode_call(msg: dict[str, Any]) -> tuple[str, bytes]:
    """Give ``msg`` a fresh ``id`` (set in place) and return ``(id, frame)``."""
    if not isinstance(msg, dict):
        raise DeprecationWarning(
            "call() takes a dict such as make_message('status'), not %r" % type(msg).__name__
        )
    msg["id"] = uuid.uuid4().hex
    return msg["id"], json.dumps(msg).encode("utf8")


def decode_reply(call_id: str, frame: bytes) -> dict[str, Any] | None:
    """The reply dict if ``frame`` answers ``call_id``, else None.

    Replies to earlier calls that timed out carry other ids and are skipped,
    as are frames that are not JSON objects.
    """
    try:
        reply = json.loads(frame)
    except ValueError:
        logger.warning("ignoring a reply that is not JSON: %r", frame[:200])
        return None
    if not isinstance(reply, dict) or reply.get("id") != call_id:
        return None
    return reply


def _dealer(context, endpoint, ssh_server, ssh_keyfile, curve_key=None, server_key=None):
    """A connected DEALER with a random identity and linger 0 (a CurveZMQ client with keys)."""
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode("ascii"))
    socket.setsockopt(zmq.LINGER, 0)
    try:
        connect(socket, endpoint, ssh_server, ssh_keyfile, curve_key=curve_key, server_key=server_key)
    except BaseException:
        socket.close()
        raise
    return socket


def curve_keys(curve_key: str | None, server_key: str | None) -> tuple[bytes, bytes, bytes] | None:
    """The CurveZMQ keys of a client given both key files, None given neither.

    A missing or unreadable file (or only one of the two) is a CallError naming it.
    """
    if not curve_key and not server_key:
        return None
    from circus.curve import KeyError_, client_keys

    try:
        return client_keys(curve_key, server_key)
    except KeyError_ as error:
        raise CallError(str(error)) from None


def connect(
    socket: zmq.Socket, endpoint: str, ssh_server: str | None = None, ssh_keyfile: str | None = None,
    *, curve_key: str | None = None, server_key: str | None = None,
) -> None:
    """Connect ``socket`` to ``endpoint``, through an ssh tunnel if ``ssh_server``.

    With ``curve_key`` and ``server_key`` (see :func:`curve_keys`) the
    socket is a CurveZMQ client.

    The tunnel needs paramiko or pexpect; without either a CallError says so.
    A malformed endpoint (``foo``) is a CallError naming it.
    """
    keys = curve_keys(curve_key, server_key)
    if keys is not None:
        from circus.curve import secure_client

        secure_client(socket, keys)
    if ssh_server is None:
        try:
            socket.connect(endpoint)
        except zmq.ZMQError as exc:
            reason = zmq.strerror(exc.errno) if exc.errno is not None else str(exc)
            raise CallError(
                "invalid endpoint %r: %s (expected tcp://HOST:PORT or ipc://PATH)" % (endpoint, reason)
            ) from None
        return
    if not any(importlib.util.find_spec(m) for m in ("paramiko", "pexpect")):
        raise CallError(
            "--ssh needs paramiko or pexpect to open the tunnel: pip install paramiko"
        )
    from zmq import ssh

    # pyzmq annotates the socket as a socket.socket; it takes (and needs) a zmq socket.
    ssh.tunnel_connection(socket, endpoint, ssh_server, keyfile=ssh_keyfile)  # type: ignore[call-overload]


class CircusClient:
    """A blocking client of circusd's control socket.

    ``call`` waits at most ``timeout`` seconds for the reply (``CallError
    "Timed out."`` otherwise). The context defaults to the process-wide
    ``zmq.Context.instance()``. ``curve_key`` (a ``.key_secret`` file) and
    ``server_key`` (circusd's ``.key``) make it a CurveZMQ client.
    """

    def __init__(
        self,
        context: zmq.Context | None = None,
        endpoint: str = DEFAULT_ENDPOINT_DEALER,
        timeout: float = DEFAULT_TIMEOUT,
        ssh_server: str | None = None,
        ssh_keyfile: str | None = None,
        *,
        curve_key: str | None = None,
        server_key: str | None = None,
    ) -> None:
        self.context = context or zmq.Context.instance()
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.socket = _dealer(self.context, endpoint, ssh_server, ssh_keyfile, curve_key, server_key)

    def stop(self) -> None:
        """Close the socket (the shared context is left alone)."""
        self.socket.close(linger=0)

    def send_message(self, command: str, **props: Any) -> dict[str, Any]:
        """``call(make_message(command, **props))``."""
        return self.call(make_message(command, **props))

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send ``msg`` (a dict; its ``id`` is set) and return the reply dict."""
        call_id, frame = encode_call(msg)
        deadline = time.monotonic() + self.timeout
        try:
            self.socket.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            raise CallError(TIMED_OUT) from None
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.socket.poll(max(1, int(left * 1000)), zmq.POLLIN):
                raise CallError(TIMED_OUT)
            reply = decode_reply(call_id, self.socket.recv())
            if reply is not None:
                return reply


class AsyncCircusClient:
    """The asyncio twin of :class:`CircusClient`: ``await client.call(msg)``.

    The socket is a ``zmq.asyncio`` socket on ``context`` (shadowed, so a
    plain ``zmq.Context`` may be given); it must be used from a running loop.
    """

    def __init__(
        self,
        context: zmq.Context | None = None,
        endpoint: str = DEFAULT_ENDPOINT_DEALER,
        timeout: float = DEFAULT_TIMEOUT,
        ssh_server: str | None = None,
        ssh_keyfile: str | None = None,
        *,
        curve_key: str | None = None,
        server_key: str | None = None,
    ) -> None:
        import zmq.asyncio

        base = context or zmq.Context.instance()
        self.context = zmq.asyncio.Context.shadow(base.underlying)
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.socket = _dealer(self.context, endpoint, ssh_server, ssh_keyfile, curve_key, server_key)

    def stop(self) -> None:
        self.socket.close(linger=0)

    async def send_message(self, command: str, **props: Any) -> dict[str, Any]:
        return await self.call(make_message(command, **props))

    async def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send ``msg`` (a dict; its ``id`` is set) and return the reply dict."""
        import asyncio

        call_id, frame = encode_call(msg)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            await self.socket.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            raise CallError(TIMED_OUT) from None
        while True:
            left = deadline - loop.time()
            if left <= 0 or not await self.socket.poll(max(1, int(left * 1000)), zmq.POLLIN):
                raise CallError(TIMED_OUT)
            reply = decode_reply(call_id, await self.socket.recv())
            if reply is not None:
                return reply
