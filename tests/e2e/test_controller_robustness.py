"""The control socket of a real circusd under concurrent clients, slow changes and garbage.

circusd runs two watchers (``alpha`` with 2 processes, ``beta`` with 1)
throughout; each test checks that whatever the clients do, every request is
answered, reads stay fast, and circusd ends as it began.
"""

import json
import os
import re
import signal
import threading
import time

import psutil
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circus.client import cast_message
from circus.commands import get_commands
from helpers import Client, pid_alive, until

INI = """
[watcher:alpha]
cmd = {alpha}
numprocesses = 2
graceful_timeout = 2

[watcher:beta]
cmd = {beta}
graceful_timeout = 2
"""

STUBBORN = """
[watcher:stubborn]
cmd = {stubborn}
graceful_timeout = 5
"""

WATCHERS = {"alpha": 2, "beta": 1}
# A read must answer within this many seconds, whatever change is in progress.
READ_LIMIT = 0.2


def start(circusd, workers, extra=""):
    """A running circusd whose alpha and beta watchers run their processes."""
    d = circusd()
    d.write_ini(INI.format(alpha=workers.cmd("alpha"), beta=workers.cmd("beta")) + extra)
    d.start()
    for name, count in WATCHERS.items():
        d.wait_pids(name, count)
    return d.wait_answering()


@pytest.fixture
def daemon(circusd, workers):
    return start(circusd, workers)


class Raw:
    """A raw socket (DEALER or REQ) on circusd's endpoint, for hand-made frames."""

    def __init__(self, daemon, kind=zmq.DEALER):
        self.context = zmq.Context()
        self.sock = self.context.socket(kind)
        self.sock.linger = 0
        self.sock.connect(daemon.endpoint)

    def send(self, body):
        self.sock.send(body)

    def reply(self, timeout=10):
        """The next reply, decoded (AssertionError if none comes in ``timeout`` s)."""
        assert self.sock.poll(timeout * 1000), "no reply within %ss" % timeout
        return json.loads(self.sock.recv())

    def exchange(self, body):
        self.send(body)
        return self.reply()

    def close(self):
        self.sock.close()
        self.context.term()


def request(command, msg_id="x1", **props):
    return json.dumps({"command": command, "properties": props, "id": msg_id}).encode()


def family(daemon):
    """circusd's live descendants (pids)."""
    return sorted(p.pid for p in psutil.Process(daemon.pid).children(recursive=True) if pid_alive(p.pid))


def all_active(daemon):
    with Client(daemon) as c:
        return c.send_message("status")["statuses"] == {name: "active" for name in WATCHERS}


def targets(c):
    """Each watcher's ``numprocesses`` option: what the changes applied so far ask for."""
    return {n: c.send_message("get", name=n, keys=["numprocesses"])["options"]["numprocesses"] for n in WATCHERS}


def counts(c):
    """Each watcher's process objects (``numprocesses`` command), stopping ones included."""
    return {n: c.send_message("numprocesses", name=n)["numprocesses"] for n in WATCHERS}


def settled(daemon):
    """True once every watcher runs exactly its configured processes."""
    return all(len(daemon.pids(name)) == count for name, count in WATCHERS.items())


# -- concurrent clients -----------------------------------------------------------


def run_client(daemon, script, replies, ready):
    """Send each ``(command, props)`` of ``script`` in order; append ``(command, reply)``."""
    with Client(daemon, timeout=30) as c:
        ready.wait()
        for command, props in script:
            replies.append((command, props, c.send_message(command, **props)))


def test_two_clients_interleaving_changes_and_reads_never_get_an_error(daemon):
    rounds = 12
    # Each client increments before it decrements, so no count ever floors at 0
    # and the net change is nothing, whatever the interleaving.
    script_a = [("incr", {"name": "alpha", "waiting": True}), ("status", {}), ("list", {"name": "alpha"}),
                ("incr", {"name": "beta", "nb": 2}), ("stats", {"name": "beta"}), ("decr", {"name": "alpha"}),
                ("decr", {"name": "beta", "nb": 2, "waiting": True})] * rounds
    script_b = [("incr", {"name": "alpha", "nb": 2}), ("list", {}), ("numprocesses", {"name": "alpha"}),
                ("decr", {"name": "alpha", "nb": 2, "waiting": True}), ("status", {"name": "beta"}),
                ("set", {"name": "beta", "options": {"graceful_timeout": 3}})] * rounds  # fmt: skip
    ready = threading.Barrier(2)
    replies_a, replies_b = [], []
    threads = [threading.Thread(target=run_client, args=(daemon, script, replies, ready))
               for script, replies in ((script_a, replies_a), (script_b, replies_b))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    assert (len(replies_a), len(replies_b)) == (len(script_a), len(script_b))
    for command, props, reply in replies_a + replies_b:
        assert reply["status"] != "error", (command, props, reply)
        if command == "list" and "name" in props:
            assert all(isinstance(pid, int) for pid in reply["pids"])
        if command in ("incr", "decr") and props.get("waiting"):
            assert reply["numprocesses"] >= 0
    # Every change was applied exactly once: the counts are back where they were.
    # The last non-waiting decr was only answered, not done: it may still wait
    # for its turn or be stopping its process, which ``numprocesses`` counts
    # until it is reaped. So wait for the targets, then for the counts.
    with Client(daemon) as c:
        until(lambda: targets(c) == WATCHERS, timeout=15, what="the targets back to %s (have %s)"
              % (WATCHERS, targets(c)))  # fmt: skip
        until(lambda: counts(c) == WATCHERS and settled(daemon), timeout=15,
              what="the watchers to settle: counts %s, pids %s"
              % (counts(c), {n: daemon.pids(n) for n in WATCHERS}))  # fmt: skip
        assert targets(c) == WATCHERS
        assert c.send_message("get", name="beta", keys=["graceful_timeout"])["options"] == {"graceful_timeout": 3}
    assert all_active(daemon) and daemon.alive()


def test_reads_stay_fast_while_a_stubborn_process_is_stopped_gracefully(circusd, workers):
    daemon = start(circusd, workers, STUBBORN.format(stubborn=workers.cmd("stubborn", "ignore-term")))
    (pid,) = daemon.wait_pids("stubborn", 1)
    workers.report("stubborn", pid)  # its SIGTERM handler is installed
    stop_reply = []
    with Client(daemon, timeout=30) as slow, Client(daemon) as fast:
        stopper = threading.Thread(target=lambda: stop_reply.append(
            slow.send_message("stop", name="stubborn", waiting=True)))
        stopper.start()
        try:
            until(lambda: fast.send_message("status", name="stubborn")["status"] == "stopping", timeout=5,
                  what="the stop to begin")  # fmt: skip
            began = time.monotonic()
            slowest = {}
            for _ in range(15):
                for command, props in [("status", {}), ("list", {}), ("list", {"name": "alpha"}),
                                       ("status", {"name": "stubborn"}), ("numprocesses", {"name": "beta"})]:
                    sent = time.monotonic()
                    reply = fast.send_message(command, **props)
                    took = time.monotonic() - sent
                    assert reply["status"] != "error", reply
                    slowest[command] = max(slowest.get(command, 0), took)
            assert max(slowest.values()) < READ_LIMIT, "reads during a graceful stop took %s" % slowest
            assert time.monotonic() - began < 5 and stopper.is_alive(), "the graceful stop ended early"
            assert fast.send_message("status", name="stubborn")["status"] == "stopping"
            assert pid_alive(pid)
        finally:
            # Cut the 5 s wait short: the stop must then end at once.
            os.kill(pid, signal.SIGKILL)
            stopper.join(15)
    assert not stopper.is_alive() and stop_reply[0]["status"] == "ok", stop_reply
    with Client(daemon) as c:
        assert c.send_message("status", name="stubborn")["status"] == "stopped"
    assert all_active_but_stubborn(daemon)


def all_active_but_stubborn(daemon):
    with Client(daemon) as c:
        statuses = c.send_message("status")["statuses"]
    return statuses == dict({name: "active" for name in WATCHERS}, stubborn="stopped")


# -- fuzzing ------------------------------------------------------------------------

# Commands that end circusd or remove watchers would make the end state
# meaningless; upgrade re-executes circusd (its own tests: test_upgrade*.py).
SPARED = {"quit", "restart", "rm", "upgrade"}
# Commands that change watchers: sent only with names no watcher has, so that
# each is refused (and must be refused cleanly) rather than applied.
CHANGERS = {"add", "decr", "incr", "kill", "reload", "set", "signal", "start", "stop"}
READS = sorted(set(get_commands()) - SPARED - CHANGERS)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PROPERTY_NAMES = ["name", "nb", "waiting", "pid", "signum", "keys", "options", "match", "process", "extended",
                  "option", "graceful", "sequential", "nostop", "cmd", "args", "start", "childpid", "children",
                  "recursive", "graceful_timeout"]  # fmt: skip
random_props = st.dictionaries(st.sampled_from(PROPERTY_NAMES) | st.text(max_size=8), json_values, max_size=6)
# No pattern character: such a name matches no watcher, by glob, regex or exactly.
unknown_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", max_size=10).map(lambda s: "nope-" + s)
real_names = st.sampled_from(sorted(WATCHERS) + ["ALPHA", "Beta"])
read_requests = st.builds(
    lambda command, props, name: {"command": command, "properties": dict(props, **name)},
    st.sampled_from(READS) | st.text(max_size=12),
    random_props,
    st.just({}) | st.fixed_dictionaries({"name": real_names | unknown_names | json_values}),
)
change_requests = st.builds(
    lambda command, props, name: {"command": command, "properties": dict(props, name=name)},
    st.sampled_from(sorted(CHANGERS)).map(lambda c: c.upper() if len(c) == 4 else c),
    random_props,
    unknown_names,
)
requests = st.builds(lambda msg, msg_id: dict(msg, id=msg_id), read_requests | change_requests, json_values)


def checked(reply, what):
    """A reply must be a well-formed envelope; an unexpected exception (errno 5) is a bug."""
    assert isinstance(reply, dict) and reply.get("status") and isinstance(reply.get("time"), float), (what, reply)
    if reply["status"] == "error":
        assert isinstance(reply["errno"], int) and isinstance(reply["reason"], str), (what, reply)
        assert reply["errno"] != 5, "unexpected exception for %r: %s" % (what, reply.get("tb"))
    return reply


def test_fuzzed_requests_are_all_answered_and_leave_circusd_as_it_was(daemon):
    sock = Raw(daemon)
    proc = psutil.Process(daemon.pid)
    try:
        assert sock.exchange(request("numwatchers"))["numwatchers"] == 2
        fds, processes = proc.num_fds(), family(daemon)
        sent = []

        def still_serving():
            reply = sock.exchange(request("numwatchers", msg_id="alive"))
            assert (reply["id"], reply["status"]) == ("alive", "ok"), reply

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(body=st.binary(max_size=200))
        def random_bytes(body):
            sent.append(body)
            checked(sock.exchange(body), body)
            still_serving()

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(value=json_values)
        def random_json(value):
            body = json.dumps(value).encode()
            sent.append(body)
            reply = checked(sock.exchange(body), value)
            if not (isinstance(value, dict) and "command" in value):
                assert reply["status"] == "error", (value, reply)
            still_serving()

        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(msg=requests)
        def random_requests(msg):
            sent.append(msg)
            reply = checked(sock.exchange(json.dumps(msg).encode()), msg)
            assert reply["id"] == msg["id"], (msg, reply)
            if msg["command"].lower() in CHANGERS:
                assert reply["status"] == "error", "a change to an unknown watcher was accepted: %s %s" % (msg, reply)
            still_serving()

        random_bytes()
        random_json()
        random_requests()
        assert daemon.alive(), daemon.log()[-3000:]
        until(lambda: proc.num_fds() == fds, timeout=10,
              what="circusd's fds back to %d (has %d)" % (fds, proc.num_fds()))  # fmt: skip
        until(lambda: family(daemon) == processes, timeout=10,
              what="circusd's processes back to %s (has %s)" % (processes, family(daemon)))  # fmt: skip
        assert all_active(daemon)
        assert len(sent) >= 300
    finally:
        sock.close()
    assert "Traceback" not in daemon.log(), re.findall(r"Traceback.*\n.*\n.*", daemon.log())[:3]


# -- framings -----------------------------------------------------------------------


def test_a_req_socket_client_gets_its_replies(daemon):
    sock = Raw(daemon, zmq.REQ)
    try:
        for msg_id in ("r1", "r2", "r3"):
            reply = sock.exchange(request("list", msg_id=msg_id))
            assert (reply["id"], reply["watchers"]) == (msg_id, ["alpha", "beta"])
        reply = sock.exchange(request("frobnicate", msg_id="r4"))
        assert (reply["id"], reply["errno"]) == ("r4", 2)
    finally:
        sock.close()


def test_a_cast_gets_no_reply_but_is_executed(daemon):
    sock = Raw(daemon)
    try:
        cast = cast_message("incr", name="alpha", nb=2)
        sock.send(json.dumps(dict(cast, id="cast")).encode())
        sock.send(json.dumps(dict(cast_message("frobnicate"), id="bad-cast")).encode())
        reply = sock.exchange(request("numwatchers", msg_id="after"))
        assert reply["id"] == "after", "a cast was answered: %s" % reply
        pids = daemon.wait_pids("alpha", 4)
        assert sock.exchange(request("list", name="alpha", msg_id="l"))["pids"] == pids
        assert not sock.sock.poll(100), "a late reply to a cast: %s" % sock.sock.recv()
    finally:
        sock.close()
