"""Readiness probes: is a freshly started worker really up?

``ready = tcp`` waits until a connection to ``ready_address`` (``host:port``)
succeeds; ``ready = http`` until ``ready_url`` answers a 2xx status. Each
attempt is bounded, and so is the whole wait (``ready_timeout``), so a worker
that hangs instead of answering cannot hold a start or a reload. ``ready =
notify`` is told rather than asked (see :mod:`circus.sdnotify`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Optional

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

# A probe tries once within ``timeout`` seconds: None when ready, else why not.
Probe = Callable[[float], Awaitable[Optional[str]]]

_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 0.5


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as ``(host, port)``; ``ValueError`` otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, got %r" % (address,))
    return host.strip("[]"), int(port)


def tcp_probe(address: str) -> Probe:
    host, port = split_address(address)

    async def probe(timeout: float) -> Optional[str]:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except asyncio.TimeoutError:
            return "no connection to %s within %.3g s" % (address, timeout)
        except OSError as exc:
            return "connecting to %s: %s" % (address, exc.strerror or exc)
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return None

    return probe


def http_probe(url: str) -> Probe:
    async def probe(timeout: float) -> Optional[str]:
        try:
            response = await AsyncHTTPClient().fetch(
                url, raise_error=False, follow_redirects=False,
                connect_timeout=timeout, request_timeout=timeout)
        except (OSError, HTTPClientError) as exc:
            # Connection refused, reset, timed out: not up (yet).
            return "GET %s: %s" % (url, exc)
        if 200 <= response.code < 300:
            return None
        return "GET %s answered %d" % (url, response.code)

    return probe


async def wait_ready(probe: Probe, timeout: float,
                     alive: Callable[[], bool] = lambda: True) -> Optional[str]:
    """Probe until ready (None), or until ``timeout`` or death: the last reason.

    Pauses between attempts grow from 50 ms to 0.5 s, so a fast worker is
    seen ready quickly and a slow one is not hammered.
    """
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    reason = "not ready within %g s" % timeout
    while True:
        if not alive():
            return "exited before it was ready"
        left = deadline - time.monotonic()
        if left <= 0:
            return "%s (ready_timeout %g s)" % (reason, timeout)
        failure = await probe(min(left, 2.0))
        if failure is None:
            return None
        reason = failure
        await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, _LONGEST_PAUSE)
