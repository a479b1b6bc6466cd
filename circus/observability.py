"""The HTTP endpoint of ``metrics_endpoint`` (and ``circusd-stats --metrics``).

``GET /metrics``  the Prometheus text exposition (:mod:`circus.metrics`);
``GET /healthz``  200 while circusd's loop answers;
``GET /readyz``   200 when circusd is ready (:func:`circus.up.not_up`),
                  else 503; the JSON body names what is not ready.

A tornado HTTP server on the loop it is started on: no thread, and each
request is one more task among circusd's own. Where the figures come from is
a :class:`Source`: the arbiter itself in circusd, the control socket in
circusd-stats.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Optional, Protocol

import tornado.httpserver
import tornado.netutil
import tornado.web

from circus.convert import to_listen_address
from circus.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.client import AsyncCircusClient

logger = logging.getLogger("circus.observability")


class SourceDown(Exception):
    """The figures cannot be had now (circusd does not answer)."""


class Source(Protocol):
    async def metrics(self) -> str: ...

    async def not_ready(self) -> dict[str, str]: ...


class ArbiterSource:
    """The figures of an arbiter on this loop."""

    def __init__(self, arbiter: Arbiter):
        self.arbiter = arbiter

    async def metrics(self) -> str:
        from circus.metrics import exposition

        return await exposition(self.arbiter)

    async def not_ready(self) -> dict[str, str]:
        from circus.up import not_up

        return not_up(self.arbiter)


class ClientSource:
    """The figures of a circusd asked through its control socket (the ``metrics`` command)."""

    def __init__(self, client: AsyncCircusClient):
        self.client = client
        self._one_at_a_time = asyncio.Lock()  # one request in flight on the client's socket

    async def _ask(self) -> dict:
        from circus.exc import CallError

        try:
            async with self._one_at_a_time:
                reply = await self.client.send_message("metrics")
        except CallError as exc:
            raise SourceDown("circusd does not answer: %s" % exc) from None
        if reply.get("status") != "ok":
            raise SourceDown("circusd refused: %s" % reply.get("reason"))
        return reply

    async def metrics(self) -> str:
        return (await self._ask())["metrics"]

    async def not_ready(self) -> dict[str, str]:
        return (await self._ask())["not_ready"]


class _Handler(tornado.web.RequestHandler):
    """GET answers with :meth:`answer`; 503 while the source is down."""

    def initialize(self, source: Source) -> None:
        self.source = source

    async def get(self) -> None:
        try:
            await self.answer()
        except SourceDown as exc:
            self._json(503, {"status": "down", "reason": str(exc)})

    async def answer(self) -> None:
        raise NotImplementedError

    def _json(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class _Metrics(_Handler):
    async def answer(self) -> None:
        text = await self.source.metrics()
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(text)


class _Healthz(_Handler):
    async def answer(self) -> None:
        await self.source.not_ready()  # circusd answers: its loop runs
        self._json(200, {"status": "ok"})


class _Readyz(_Handler):
    async def answer(self) -> None:
        missing = await self.source.not_ready()
        if missing:
            self._json(503, {"status": "not ready", "not_ready": missing})
        else:
            self._json(200, {"status": "ready", "not_ready": {}})


class ObservabilityServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` of ``source`` at ``address`` (``host:port``)."""

    def __init__(self, source: Source, address: str):
        self.host, self.port = to_listen_address(address)
        app = tornado.web.Application(
            [(path, handler, {"source": source})
             for path, handler in (("/metrics", _Metrics), ("/healthz", _Healthz), ("/readyz", _Readyz))],
            log_function=_quiet,
        )
        self._server = tornado.httpserver.HTTPServer(app)
        self._sockets: list = []
        self._closing: Optional[asyncio.Future] = None

    def start(self) -> None:
        """Bind and serve; OSError naming the address if it cannot bind. ``port`` is then the bound one."""
        try:
            self._sockets = tornado.netutil.bind_sockets(self.port, self.host)
        except OSError as exc:
            raise OSError("cannot bind the metrics endpoint %s:%d: %s"
                          % (self.host, self.port, exc.strerror or exc)) from None
        self.port = self._sockets[0].getsockname()[1]
        self._server.add_sockets(self._sockets)
        logger.info("metrics, healthz and readyz at http://%s:%d/", _url_host(self.host), self.port)

    def stop(self) -> None:
        """Close the listening sockets now, the open connections soon after."""
        self._server.stop()
        self._sockets = []
        # Kept: a task nobody references may be collected before it ran.
        self._closing = asyncio.ensure_future(self._server.close_all_connections())


def _url_host(host: str) -> str:
    return "[%s]" % host if ":" in host else host


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """Scrapes and probes every few seconds are no news: only errors are logged."""
    if handler.get_status() == 500:
        logger.warning("%s %s: %d", handler.request.method, handler.request.uri, handler.get_status())


def serve_arbiter(arbiter: Arbiter, address: Optional[str]) -> Optional[ObservabilityServer]:
    """Start serving ``arbiter``'s figures at ``address``; None when ``address`` is unset."""
    if not address:
        return None
    server = ObservabilityServer(ArbiterSource(arbiter), address)
    server.start()
    return server
