"""The ZAP gate of circus' CurveZMQ servers: pyzmq's authenticator on the asyncio loop.

It knows the clients by public key (``{z85 key: name}``), gives each
message of a known client its name as ZeroMQ's ``User-Id``, and logs a
refused client once per (peer address, key) with the reason.
"""

from __future__ import annotations

import logging

import zmq
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.utils import z85

logger = logging.getLogger("circus.curve")


class Gate(AsyncioAuthenticator):
    """Lets in the clients of ``clients`` (z85 public key -> name)."""

    def __init__(self, context: zmq.Context, clients: dict[bytes, str]) -> None:
        super().__init__(context, log=logging.getLogger("circus.curve.zap"))
        self.known = clients
        self._refused: set[tuple[str, bytes]] = set()
        self._address = ""

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        if len(msg) > 3:
            self._address = msg[3].decode("utf-8", "replace")
        await super().handle_zap_message(msg)

    async def _authenticate_curve(self, domain: str, client_key: bytes) -> tuple[bool, bytes]:
        key = z85.encode(client_key)
        if key in self.known:
            return True, b"OK"
        if (self._address, key) not in self._refused:
            if len(self._refused) > 10000:  # a flood of peers must not grow circusd without bound
                self._refused.clear()
            self._refused.add((self._address, key))
            logger.warning("CurveZMQ client %s refused: its public key %s is in no key directory",
                           self._address or "?", key.decode("ascii"))
        return False, b"Unknown key"

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.known.get(z85.encode(client_public_key), "")


# Why a client failed the handshake, for those that never reach the gate.
_REASONS: dict[int, str] = {
    zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: "it does not use CurveZMQ (no --curve-key?)",
    zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: "its messages cannot be decrypted (the wrong --server-key?)",
}
HANDSHAKE_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
QUIET_FOR = 60.0  # seconds between two log lines of the same reason on one endpoint


class HandshakeWatch:
    """Logs the clients a CurveZMQ server socket drops before the gate sees them.

    ZeroMQ names only the local endpoint of such a failure, and a client
    retries on its own every few hundred milliseconds: each reason is logged
    once per endpoint, then at most once a minute with the count since.
    """

    def __init__(self, socket: zmq.Socket, what: str) -> None:
        import asyncio

        self.what = what
        # The socket pyzmq makes is kept (it closes its handle when collected);
        # a plain shadow of it is read, whatever the kind of the watched socket.
        self._pair = socket.get_monitor_socket(HANDSHAKE_EVENTS)
        self.monitor: zmq.Socket[bytes] = zmq.Socket.shadow(self._pair.underlying)
        self._logged: dict[tuple[bytes, int], tuple[float, int]] = {}  # -> (last logged, repeats since)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.monitor.FD, self._read)
        self._loop.call_soon(self._read)  # the FD is edge-triggered: events may be queued already

    def _read(self) -> None:
        from zmq.utils.monitor import parse_monitor_message

        while not self._pair.closed:
            try:
                frames = self.monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:
                return
            event = parse_monitor_message(frames)
            self._note(event["endpoint"], event["event"], event["value"])

    def _note(self, endpoint: bytes, event: int, code: int) -> None:
        import os
        import time

        now = time.monotonic()
        last, repeats = self._logged.get((endpoint, code), (None, 0))
        if last is not None and now - last < QUIET_FOR:
            self._logged[(endpoint, code)] = (last, repeats + 1)
            return
        self._logged[(endpoint, code)] = (now, 0)
        if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:  # the value is an errno
            # A keyless client sees the mechanism mismatch first and hangs
            # up: the server may only see the broken pipe.
            reason = "the handshake broke off (%s; a client without --curve-key?)" % os.strerror(code)
        else:
            reason = _REASONS.get(code, "protocol error %#x" % code)
        more = " (%d more since the last report)" % repeats if repeats else ""
        logger.warning("CurveZMQ: a client of the %s %s was refused: %s%s", self.what,
                       endpoint.decode("utf-8", "replace"), reason, more)

    def close(self) -> None:
        if not self._pair.closed:
            self._loop.remove_reader(self.monitor.FD)
            self._pair.close(linger=0)
