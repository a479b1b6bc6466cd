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
