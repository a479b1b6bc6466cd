"""The notify protocol: parsing, the server circusd runs for its workers (who
sent a message is what the kernel says), and the client end circusd uses
towards its own supervisor."""

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from circus import sdnotify
from helpers import async_test, until_async


def test_parse_lines():
    assert sdnotify.parse(b"READY=1\nSTATUS=warming up\n") == {
        "READY": "1", "STATUS": "warming up"}
    assert sdnotify.parse(b"EXTEND_TIMEOUT_USEC=5000000") == {"EXTEND_TIMEOUT_USEC": "5000000"}


@pytest.mark.parametrize("data", [b"", b"\n\n", b"hello", b"ready=1", b"=1",
                                  b"\xff\xfe", b"READY=1\nnonsense"])
def test_parse_refuses_garbage(data):
    assert sdnotify.parse(data) is None


SEND = """
import os, socket, sys
name = os.environ["NOTIFY_SOCKET"]
addr = b"\\0" + name[1:].encode() if name.startswith("@") else name
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for payload in sys.argv[1:]:
    s.sendto(payload.encode("latin-1").replace(b"\\\\n", b"\\n"), addr)
print(os.getpid())
"""


async def _send(server, *payloads):
    env = dict(os.environ, NOTIFY_SOCKET=server.name)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SEND, *payloads, env=env, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return int(out)


@pytest.mark.parametrize("name", [None, "path"])
@async_test
async def test_server_names_the_sender_by_its_credentials(tmp_path, name):
    got = []
    server = sdnotify.NotifyServer(lambda pid, fields: got.append((pid, fields)),
                                   name=str(tmp_path / "notify") if name else None)
    server.start(asyncio.get_running_loop())
    try:
        pid = await _send(server, "READY=1\\nMAINPID=1\\nSTATUS=up", "WATCHDOG=1")
        await until_async(lambda: len(got) == 2, what="two messages")
    finally:
        server.close()
    # MAINPID claims pid 1: the kernel's word wins.
    assert got == [(pid, {"READY": "1", "MAINPID": "1", "STATUS": "up"}),
                   (pid, {"WATCHDOG": "1"})]
    if name:
        assert not (tmp_path / "notify").exists()


@async_test
async def test_server_drops_garbage_and_oversized_datagrams_and_goes_on(caplog):
    got = []
    server = sdnotify.NotifyServer(lambda pid, fields: got.append(fields))
    server.start(asyncio.get_running_loop())
    caplog.set_level("DEBUG", logger="circus.sdnotify")
    try:
        await _send(server, "garbage", "READY=1" + "x" * sdnotify.MAX_DATAGRAM,
                    "\xff", "STATUS=after")
        await until_async(lambda: got, what="the good message")
    finally:
        server.close()
    assert got == [{"STATUS": "after"}]
    text = caplog.text
    assert "garbage from pid" in text and "oversized datagram" in text


@async_test
async def test_a_failing_handler_does_not_stop_the_server():
    got = []

    def handler(pid, fields):
        got.append(fields)
        if fields.get("BOOM"):
            raise RuntimeError("handler bug")

    server = sdnotify.NotifyServer(handler)
    server.start(asyncio.get_running_loop())
    try:
        await _send(server, "BOOM=1", "READY=1")
        await until_async(lambda: len(got) == 2, what="both messages")
    finally:
        server.close()


def test_notify_sends_to_the_supervisor_socket(tmp_path):
    path = str(tmp_path / "supervisor")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(5)
        assert sdnotify.notify("READY=1\nSTATUS=all up", {"NOTIFY_SOCKET": path})
        assert listener.recv(4096) == b"READY=1\nSTATUS=all up"


def test_notify_without_a_supervisor_is_a_no():
    assert not sdnotify.notify("READY=1", {})
    assert not sdnotify.notify("READY=1", {"NOTIFY_SOCKET": "/nonexistent/sock"})


def test_watchdog_interval():
    me = str(os.getpid())
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": me}) == 2.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def _received(listener):
    messages = []
    while True:
        try:
            messages.append(listener.recv(4096).decode())
        except BlockingIOError:
            return messages


@async_test
async def test_supervisor_reload_sends_ready_even_when_the_reload_fails(tmp_path):
    path = str(tmp_path / "supervisor")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.setblocking(False)
        environ = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "HOME": "/"}
        supervisor = sdnotify.Supervisor(environ)
        assert environ == {"HOME": "/"}  # taken away from what workers inherit

        async def up():
            return "all up"

        with pytest.raises(ValueError):
            async with supervisor.reload(up):
                raise ValueError("bad file")
        first, second = _received(listener)
        assert first.startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert second == "READY=1\nSTATUS=all up\nMAINPID=%d" % os.getpid()


def test_an_unreachable_supervisor_is_warned_about_once(tmp_path, caplog):
    supervisor = sdnotify.Supervisor({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    for _ in range(3):
        supervisor.ready("up")
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "could not notify the supervisor" in warnings[0].getMessage()


def test_a_supervisor_without_notify_socket_sends_nothing_and_logs_nothing(caplog):
    supervisor = sdnotify.Supervisor({"WATCHDOG_USEC": "1000000"})
    assert not supervisor.enabled
    assert not supervisor.send("READY=1")
    assert caplog.records == []
