"""The control socket of an in-process arbiter, driven through real ZeroMQ sockets."""

import asyncio
import errno
import contextlib
import json
import os
import pwd
import sys
import time

import pytest
import zmq
import zmq.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circus import get_arbiter
from circus.client import AsyncCircusClient, CircusClient, make_message
from circus.commands import get_commands
from circus.controller import Controller
from helpers import async_test, ipc_endpoints, running_arbiter, until_async


@contextlib.asynccontextmanager
async def dealer(endpoint, kind=zmq.DEALER):
    """A raw socket connected to ``endpoint``, on a context of its own."""
    context = zmq.asyncio.Context()
    sock = context.socket(kind)
    sock.linger = 0
    sock.connect(endpoint)
    try:
        yield sock
    finally:
        sock.close()
        context.term()


@contextlib.contextmanager
def clients(endpoint, *timeouts):
    """``AsyncCircusClient``s of ``endpoint`` (one per timeout) on a context of their own."""
    context = zmq.Context()
    made = [AsyncCircusClient(context=context, endpoint=endpoint, timeout=t) for t in timeouts]
    try:
        yield made
    finally:
        for client in made:
            client.stop()
        context.term()


async def exchange(sock, body, timeout=5.0):
    """Send one frame; the decoded reply (AssertionError if none comes)."""
    await sock.send(body)
    assert await sock.poll(timeout * 1000), "no reply to %r" % (body,)
    return json.loads(await sock.recv())


def request(command, msg_id="x1", **props):
    return json.dumps({"command": command, "properties": props, "id": msg_id}).encode()


# -- decoding and errors ---------------------------------------------------------------


@async_test
async def test_malformed_json_gets_errno_1_and_the_socket_keeps_serving(tmp_path, tracker):
    async with running_arbiter(tmp_path, []) as arbiter, dealer(arbiter.endpoint) as sock:
        for body in (b"{not json", b"", b"   ", b"\xff\xfe\x00", b"[" * 100000):
            reply = await exchange(sock, body)
            assert (reply["status"], reply["errno"], reply["reason"]) == ("error", 1, "json invalid")
            assert reply["id"] is None and reply["tb"] is None and isinstance(reply["time"], float)
        assert (await exchange(sock, request("numwatchers")))["numwatchers"] == 0


@async_test
async def test_json_that_is_not_a_request_gets_errno_3_with_a_reason(tmp_path, tracker):
    async with running_arbiter(tmp_path, []) as arbiter, dealer(arbiter.endpoint) as sock:
        for body in (b"[1, 2]", b"42", b'"status"', b"null"):
            reply = await exchange(sock, body)
            assert reply["errno"] == 3 and "JSON object" in reply["reason"] and reply["id"] is None
        reply = await exchange(sock, b'{"id": "q", "properties": {}}')
        assert (reply["errno"], reply["id"]) == (3, "q") and "'command'" in reply["reason"]
        reply = await exchange(sock, b'{"id": "q", "command": "list", "properties": [1]}')
        assert reply["errno"] == 3 and "'properties'" in reply["reason"]


@async_test
async def test_unknown_commands_get_errno_2_and_names_are_case_insensitive(tmp_path, tracker):
    async with running_arbiter(tmp_path, []) as arbiter, dealer(arbiter.endpoint) as sock:
        reply = await exchange(sock, request("frobnicate"))
        assert reply == {"status": "error", "errno": 2, "reason": "unknown command: 'frobnicate'",
                         "tb": None, "id": "x1", "time": reply["time"]}  # fmt: skip
        reply = await exchange(sock, request("NUMWATCHERS"))
        assert (reply["status"], reply["numwatchers"]) == ("ok", 0)


@async_test
async def test_the_id_is_echoed_whatever_its_type_and_null_when_absent(tmp_path, tracker):
    async with running_arbiter(tmp_path, []) as arbiter, dealer(arbiter.endpoint) as sock:
        for msg_id in (7, {"a": [1]}, "x", None):
            reply = await exchange(sock, json.dumps({"command": "list", "id": msg_id}).encode())
            assert reply["id"] == msg_id and reply["status"] == "ok"
        reply = await exchange(sock, b'  {"command": "list"}\n')
        assert reply["id"] is None and reply["watchers"] == []


@async_test
async def test_missing_and_mistyped_properties_are_errno_3(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w")}]
    async with running_arbiter(tmp_path, watchers) as arbiter, dealer(arbiter.endpoint) as sock:
        reply = await exchange(sock, request("options"))
        assert (reply["errno"], reply["reason"]) == (3, "message invalid 'name' is missing")
        reply = await exchange(sock, request("incr", name="w", nb="2"))
        assert reply["errno"] == 3 and "'nb' must be an integer" in reply["reason"]
        reply = await exchange(sock, request("incr", name="w", nb=True))
        assert reply["errno"] == 3
        reply = await exchange(sock, request("stop", name="w", waiting="yes"))
        assert reply["errno"] == 3 and "'waiting'" in reply["reason"]
        reply = await exchange(sock, request("status", name="nope"))
        assert (reply["errno"], reply["reason"]) == (3, "program nope not found")


def failing_info(exc):
    def process_info(pid, extended=False):
        raise exc

    return process_info


@async_test
async def test_an_oserror_is_errno_4_and_any_other_exception_errno_5_with_a_traceback(tmp_path, workers, tracker):
    watchers = [{"name": "broken", "cmd": workers.cmd("b")}, {"name": "disk", "cmd": workers.cmd("d")}]
    async with running_arbiter(tmp_path, watchers) as arbiter, dealer(arbiter.endpoint) as sock:
        # stats reads each process of a watcher through process_info.
        arbiter.get_watcher("broken").process_info = failing_info(RuntimeError("the stats broke"))
        arbiter.get_watcher("disk").process_info = failing_info(OSError(errno.ENOSPC, "no space left for stats"))
        reply = await exchange(sock, request("stats", name="broken"))
        assert reply["errno"] == 5 and "the stats broke" in reply["reason"]
        assert "RuntimeError: the stats broke" in reply["tb"]
        reply = await exchange(sock, request("stats", name="disk"))
        assert reply["errno"] == 4 and "no space left for stats" in reply["reason"] and reply["tb"] is None
        del arbiter.get_watcher("disk").process_info
        assert (await exchange(sock, request("stats", name="disk")))["status"] == "ok"


@async_test
async def test_a_waiting_command_that_fails_gets_errno_6_with_the_reason(tmp_path, tracker):
    async with running_arbiter(tmp_path, []) as arbiter, dealer(arbiter.endpoint) as sock:
        arbiter.config_file = str(tmp_path / "gone.ini")
        reply = await exchange(sock, request("reloadconfig", waiting=True))
        assert reply["errno"] == 6 and reply["reason"].startswith("server error: ")
        assert "gone.ini" in reply["reason"]
        # Without waiting the reply comes first; the failure is only logged.
        assert (await exchange(sock, request("reloadconfig")))["status"] == "ok"


# -- framing and casts -----------------------------------------------------------------


@async_test
async def test_a_req_socket_gets_its_reply_too(tmp_path, tracker):
    async with running_arbiter(tmp_path, []) as arbiter, dealer(arbiter.endpoint, zmq.REQ) as sock:
        for _ in range(2):
            assert (await exchange(sock, request("list")))["watchers"] == []


@async_test
async def test_a_cast_is_executed_without_a_reply(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w")}]
    async with running_arbiter(tmp_path, watchers) as arbiter, dealer(arbiter.endpoint) as sock:
        cast = {"command": "incr", "properties": {"name": "w", "nb": 2}, "msg_type": "cast", "id": "c"}
        await sock.send(json.dumps(cast).encode())
        await sock.send(json.dumps(dict(cast, command="frob")).encode())  # a failing cast: no reply either
        reply = await exchange(sock, request("list", msg_id="after"))
        assert reply["id"] == "after", "a cast was answered"
        await workers.await_reports("w", 3)
        assert arbiter.get_watcher("w").numprocesses == 3


def test_the_blocking_client_skips_late_replies_of_timed_out_calls(tmp_path, tracker):
    arbiter = get_arbiter([], background=True, **ipc_endpoints(tmp_path))
    arbiter.start()
    client = CircusClient(endpoint=arbiter.endpoint, timeout=5)
    try:
        late = {"command": "list", "properties": {}, "id": "stale"}
        client.socket.send(json.dumps(late).encode())
        reply = client.send_message("numwatchers")
        assert reply["numwatchers"] == 0 and reply["id"] != "stale"
    finally:
        client.stop()
        arbiter.stop()


def test_the_blocking_client_times_out_with_call_error(tmp_path):
    from circus.exc import CallError

    client = CircusClient(endpoint="ipc://%s" % (tmp_path / "nobody.sock"), timeout=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(CallError, match="Timed out."):
            client.send_message("list")
    finally:
        client.stop()
    assert time.monotonic() - started < 3


@async_test
async def test_the_async_client_times_out_with_call_error(tmp_path):
    from circus.exc import CallError

    client = AsyncCircusClient(endpoint="ipc://%s" % (tmp_path / "nobody.sock"), timeout=0.2)
    try:
        with pytest.raises(CallError, match="Timed out."):
            await client.send_message("list")
    finally:
        client.stop()


# -- concurrency -----------------------------------------------------------------------


@async_test
async def test_reads_are_answered_while_a_slow_waiting_stop_runs(tmp_path, workers, tracker):
    watchers = [{"name": "stubborn", "cmd": workers.cmd("s", "ignore-term"), "graceful_timeout": 3},
                {"name": "other", "cmd": workers.cmd("o")}]  # fmt: skip
    async with running_arbiter(tmp_path, watchers) as arbiter:
        await workers.await_reports("s", 1)
        await workers.await_reports("o", 1)
        with clients(arbiter.endpoint, 10, 5) as (slow, fast):
            stopping = asyncio.ensure_future(slow.send_message("stop", name="stubborn", waiting=True))
            await until_async(lambda: arbiter.get_watcher("stubborn").status() == "stopping")
            started = time.monotonic()
            status = await fast.send_message("status")
            other = await fast.send_message("incr", name="other", waiting=True)
            assert time.monotonic() - started < 2, "a read or another watcher's change waited for the stop"
            assert status["statuses"]["stubborn"] == "stopping" and other["numprocesses"] == 2
            assert not stopping.done()
            assert (await stopping)["status"] == "ok"


@async_test
async def test_changes_to_one_watcher_wait_their_turn_instead_of_failing(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w"), "numprocesses": 2}]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        await workers.await_reports("w", 2)
        with clients(arbiter.endpoint, 5) as (client,):
            replies = [await client.send_message(cmd, name="w", nb=n) for cmd, n in
                       [("decr", 1), ("incr", 3), ("decr", 2), ("incr", 1)]]  # fmt: skip
            assert all(r["status"] == "ok" for r in replies), replies
            final = await client.send_message("incr", name="w", nb=1, waiting=True)
            assert final["numprocesses"] == 4
            await until_async(lambda: len(arbiter.get_watcher("w").pids) == 4)


# -- binding and stopping --------------------------------------------------------------


@async_test
async def test_a_taken_tcp_endpoint_is_refused_with_one_clear_line(tracker):
    holder = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
    holder.linger = 0
    port = holder.bind_to_random_port("tcp://127.0.0.1")
    try:
        endpoint = "tcp://127.0.0.1:%d" % port
        controller = Controller(None, endpoint, zmq.Context.instance())
        with pytest.raises(OSError) as caught:
            await controller.start()
        assert str(caught.value) == "cannot bind control endpoint %s: Address already in use" % endpoint
    finally:
        holder.close()


@async_test
async def test_an_ipc_endpoint_in_use_by_another_daemon_is_not_stolen(tmp_path, tracker):
    async with running_arbiter(tmp_path, []) as arbiter:
        controller = Controller(None, arbiter.endpoint, arbiter.context)
        with pytest.raises(OSError, match="cannot bind control endpoint ipc://.*Address already in use"):
            await controller.start()
        async with dealer(arbiter.endpoint) as sock:
            assert (await exchange(sock, request("list")))["status"] == "ok"


@async_test
async def test_a_stale_ipc_file_is_replaced(tmp_path, tracker):
    (tmp_path / "ctl.sock").write_text("")
    async with running_arbiter(tmp_path, []) as arbiter, dealer(arbiter.endpoint) as sock:
        assert (await exchange(sock, request("list")))["status"] == "ok"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
@async_test
async def test_the_endpoint_owner_owns_the_ipc_socket_file(tmp_path, tracker):
    async with running_arbiter(tmp_path, [], endpoint_owner="nobody"):
        assert os.stat(tmp_path / "ctl.sock").st_uid == pwd.getpwnam("nobody").pw_uid


@async_test
async def test_any_datagram_on_the_discovery_port_is_answered_with_the_endpoint(tmp_path, tracker):
    import socket

    async with running_arbiter(tmp_path, []) as arbiter:
        port = arbiter.ctrl.discovery_port
        assert port
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.setblocking(False)
            probe.sendto(b"where are you?", ("127.0.0.1", port))
            loop = asyncio.get_running_loop()
            data = await asyncio.wait_for(loop.sock_recv(probe, 1024), 5)
        finally:
            probe.close()
        assert json.loads(data) == {"endpoint": arbiter.endpoint}


@async_test
async def test_quit_waiting_replies_once_everything_is_stopped(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w", "record-stop"), "numprocesses": 2}]
    async with running_arbiter(tmp_path, watchers) as arbiter, dealer(arbiter.endpoint) as sock:
        await workers.await_reports("w", 2)
        reply = await exchange(sock, request("quit", waiting=True))
        assert reply["status"] == "ok" and reply["id"] == "x1"
        assert len(workers.stops("w")) == 2 and not arbiter.running


@async_test
async def test_quit_without_waiting_replies_at_once_then_stops(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w", "ignore-term"), "graceful_timeout": 1}]
    async with running_arbiter(tmp_path, watchers) as arbiter, dealer(arbiter.endpoint) as sock:
        await workers.await_reports("w", 1)
        reply = await exchange(sock, request("quit"))
        assert reply["status"] == "ok" and arbiter.running
        await until_async(lambda: not arbiter.running, timeout=10)


# -- fuzzing -----------------------------------------------------------------------------

# Commands that would end the arbiter or spawn processes are left out.
FUZZ_COMMANDS = sorted(set(get_commands()) - {"quit", "restart", "add"}) + ["frob", "Status"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {"command": st.sampled_from(FUZZ_COMMANDS)},
    optional={"properties": st.dictionaries(
        st.sampled_from(["name", "nb", "waiting", "pid", "signum", "keys", "options", "match",
                         "process", "extended", "option", "graceful", "nostop", "cmd"]),
        json_values, max_size=5), "id": json_values},
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    arbiter = get_arbiter([], background=True, **ipc_endpoints(directory))
    arbiter.start()
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(arbiter.endpoint)
    yield sock
    sock.close()
    arbiter.stop()


def _blocking_exchange(sock, body):
    sock.send(body)
    assert sock.poll(10000), "no reply to %r" % (body,)
    return json.loads(sock.recv())


def _still_serving(sock):
    reply = _blocking_exchange(sock, request("numwatchers", msg_id="alive"))
    assert reply["id"] == "alive" and reply["status"] == "ok"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_random_bytes_always_get_an_error_reply(fuzz_target, body):
    reply = _blocking_exchange(fuzz_target, body)
    assert reply["status"] in ("error", "ok") and "time" in reply
    _still_serving(fuzz_target)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msg=requests)
def test_random_requests_always_get_a_reply_and_never_kill_the_socket(fuzz_target, msg):
    reply = _blocking_exchange(fuzz_target, json.dumps(msg).encode())
    assert reply["id"] == msg.get("id")
    if reply["status"] == "error":
        assert isinstance(reply["errno"], int) and isinstance(reply["reason"], str)
        # errno 5 is also a command's own refusal (upgrade of an in-process
        # arbiter); only one with a traceback is an unexpected exception.
        assert not (reply["errno"] == 5 and reply["tb"]), "an unexpected exception: %s" % reply["tb"]
    _still_serving(fuzz_target)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_random_json_values_always_get_a_reply(fuzz_target, value):
    reply = _blocking_exchange(fuzz_target, json.dumps(value).encode())
    assert reply["status"] in ("error", "ok")
    _still_serving(fuzz_target)
