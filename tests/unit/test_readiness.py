"""Readiness probes against real listeners: a TCP port that opens late, an
HTTP server that answers 503 then 200, and one that never answers."""

import asyncio
import socket
import time

import pytest

from circus import readiness
from helpers import async_test


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:8000", ("127.0.0.1", 8000)),
    ("[::1]:80", ("::1", 80)),
    ("localhost:1", ("localhost", 1)),
])
def test_split_address(text, expected):
    assert readiness.split_address(text) == expected


@pytest.mark.parametrize("text", ["8000", "host:", ":80", "host:0", "host:70000", "host:x"])
def test_split_address_refuses(text):
    with pytest.raises(ValueError):
        readiness.split_address(text)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@async_test
async def test_tcp_ready_once_the_port_listens():
    port = _free_port()
    probe = readiness.tcp_probe("127.0.0.1:%d" % port)
    assert "connecting to 127.0.0.1:%d" % port in await probe(1)
    waiting = asyncio.ensure_future(readiness.wait_ready(probe, 10))
    await asyncio.sleep(0.2)  # the port opens late, on purpose
    assert not waiting.done()
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    try:
        assert await waiting is None
    finally:
        server.close()
        await server.wait_closed()


async def _http_server(answers):
    """A server answering each request with the next status of ``answers``
    (None: accept and never answer)."""
    statuses = iter(answers)

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        status = next(statuses, 200)
        if status is None:
            await reader.read()  # until the client gives up
            return
        writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % status)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, "http://127.0.0.1:%d/health" % server.sockets[0].getsockname()[1]


@async_test
async def test_http_ready_on_a_2xx_only():
    server, url = await _http_server([503, 302, 204])
    try:
        probe = readiness.http_probe(url)
        assert await probe(2) == "GET %s answered 503" % url
        assert await probe(2) == "GET %s answered 302" % url
        assert await probe(2) is None
    finally:
        server.close()
    probe = readiness.http_probe("http://127.0.0.1:%d/" % _free_port())
    assert "GET http://127.0.0.1" in await probe(1)



@async_test
async def test_a_hanging_url_is_bounded_by_the_timeout():
    server, url = await _http_server([None] * 100)
    try:
        started = time.monotonic()
        reason = await readiness.wait_ready(readiness.http_probe(url), 0.5)
        assert time.monotonic() - started < 3
    finally:
        server.close()
    assert "ready_timeout 0.5 s" in reason and "Timeout" in reason


@async_test
async def test_death_ends_the_wait():
    probe = readiness.tcp_probe("127.0.0.1:%d" % _free_port())
    assert await readiness.wait_ready(probe, 30, alive=lambda: False) == \
        "exited before it was ready"
