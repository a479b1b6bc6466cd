"""Arbiter-wide changes (add, rm, reloadconfig, reload, quit) run one at a time, through a real circusd.

Each scenario sends a second change while a slow first one is in progress
(a worker that ignores SIGTERM makes its stop last ``graceful_timeout``)
and checks that the second waited for the first: both are applied whole.
"""

import contextlib
import signal
import threading

import pytest
import zmq

from circus.client import CircusClient
from helpers import ok_call, pid_alive, until


@pytest.fixture
def started(circusd):
    """``started(body) -> (daemon, client)``: circusd on ``body``, answering."""
    clients = []

    def run(body):
        daemon = circusd()
        daemon.write_ini(body)
        daemon.start()
        client = CircusClient(endpoint=daemon.endpoint, timeout=30)
        clients.append(client)
        daemon.wait_log(r"arbiter started", timeout=20)
        daemon.wait_answering()
        return daemon, client

    yield run
    for client in clients:
        client.stop()


def watchers_ini(workers, slow_timeout, other_count):
    return """
        [watcher:slow]
        cmd = %s
        graceful_timeout = %d

        [watcher:other]
        cmd = %s
        numprocesses = %d
    """ % (workers.cmd("slow", "ignore-term", "record-stop"), slow_timeout, workers.cmd("other"), other_count)


def during_a_slow_reload(daemon, workers, action, order=None):
    """Reload to a file that removes ``slow`` (4 s to stop), resizes ``other``
    to 2 and adds ``fresh``; run ``action()`` while ``slow`` is stopping.
    ``order`` gets ``"reloadconfig"`` once its reply arrived.

    Returns the reloadconfig reply, checked to be the whole reload.
    """
    daemon.write_ini("""
        [watcher:other]
        cmd = %s
        numprocesses = 2

        [watcher:fresh]
        cmd = %s
    """ % (workers.cmd("other"), workers.cmd("fresh")))
    replies = []
    order = [] if order is None else order
    reloader = CircusClient(endpoint=daemon.endpoint, timeout=30)

    def reload():
        replies.append(reloader.send_message("reloadconfig", waiting=True))
        order.append("reloadconfig")

    thread = threading.Thread(target=reload)
    thread.start()
    try:
        until(lambda: workers.stops("slow"), timeout=15, what="the reload to stop 'slow'")
        action()
    finally:
        thread.join(30)
        reloader.stop()
    assert replies and replies[0]["status"] == "ok", replies
    changes = replies[0]["changes"]
    assert changes["watchers_removed"] == ["slow"] and changes["watchers_added"] == ["fresh"], changes
    assert changes["watchers_resized"] == {"other": 2}, changes
    return replies[0]


def test_an_rm_sent_during_a_slow_reloadconfig_waits_for_the_whole_reload(started, workers):
    daemon, client = started(watchers_ini(workers, 4, 1))
    workers.wait_reports("slow", 1, timeout=15)
    during_a_slow_reload(daemon, workers, lambda: ok_call(client, "rm", name="other"))
    until(lambda: ok_call(client, "list")["watchers"] == ["fresh"], timeout=15, what="rm applied after the reload")
    assert client.send_message("status", name="fresh")["status"] == "active"


def test_an_add_sent_during_a_slow_reloadconfig_is_applied_after_it(started, workers):
    daemon, client = started(watchers_ini(workers, 4, 1))
    workers.wait_reports("slow", 1, timeout=15)
    seen = []

    def add():
        ok_call(client, "add", name="extra", cmd=workers.cmd("extra"), start=True, waiting=True)
        seen.append(ok_call(client, "list")["watchers"])  # what the add's reply came after

    during_a_slow_reload(daemon, workers, add)
    # The reload had added ``fresh`` (its last step) before the add applied.
    assert seen == [["extra", "fresh", "other"]], seen
    assert client.send_message("status", name="extra")["status"] == "active"


def test_an_add_without_waiting_during_a_slow_reloadconfig_is_answered_at_once_and_applied_after(started, workers):
    daemon, client = started(watchers_ini(workers, 4, 1))
    workers.wait_reports("slow", 1, timeout=15)
    order = []

    def add():
        ok_call(client, "add", name="extra", cmd=workers.cmd("extra"), start=True)
        order.append("add")
        assert "extra" not in ok_call(client, "list")["watchers"]  # not applied in the middle of the reload

    during_a_slow_reload(daemon, workers, add, order)
    assert order == ["add", "reloadconfig"], order
    until(lambda: client.send_message("status", name="extra").get("status") == "active", timeout=15,
          what="the add applied after the reload")


@contextlib.contextmanager
def published(daemon, client):
    """Yields ``topics()``: the topics circusd published since, in order.

    Subscribed once an ``updated`` event of ``other`` (a ``set``) came through.
    """
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, b"watcher.")
    sub.connect(daemon.pubsub_endpoint)
    seen = []

    def topics():
        while sub.poll(0):
            seen.append(sub.recv_multipart()[0].decode())
        return seen

    def subscribed():
        ok_call(client, "set", name="other", options={"graceful_timeout": 1}, waiting=True)
        return sub.poll(100) and "watcher.other.updated" in topics()

    try:
        until(subscribed, timeout=10, what="an event on the pub/sub endpoint")
        del seen[:]
        yield topics
    finally:
        sub.close()
        context.term()


def test_a_reload_of_every_watcher_during_a_slow_reloadconfig_waits_its_turn(started, workers):
    daemon, client = started(watchers_ini(workers, 4, 1))
    workers.wait_reports("slow", 1, timeout=15)
    order = []

    def reload_all():
        ok_call(client, "reload", waiting=True)
        order.append("reload")

    with published(daemon, client) as topics:
        during_a_slow_reload(daemon, workers, reload_all, order)
        events = list(topics())
    assert order == ["reloadconfig", "reload"], order
    # ``fresh`` exists once the reloadconfig applied: the reload came after it, and reloaded it too.
    reloads = [t for t in events if t.endswith(".reload")]
    assert "watcher.fresh.reload" in reloads, events
    assert events.index("watcher.fresh.add") < events.index(reloads[0]), events


def test_a_watcher_removed_without_waiting_is_stopped_before_circusd_exits(started, workers):
    daemon, client = started("""
        [watcher:web]
        cmd = %s
    """ % workers.cmd("web"))
    workers.wait_reports("web", 1, timeout=15)
    ok_call(client, "add", name="extra", cmd=workers.cmd("extra", "ignore-term", "record-stop"), start=True,
            options={"graceful_timeout": 3})  # fmt: skip
    (extra,) = workers.wait_reports("extra", 1, timeout=15)
    ok_call(client, "rm", name="extra")
    until(lambda: workers.stops("extra"), timeout=15, what="rm to send SIGTERM to extra")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0, daemon.log()[-3000:]
    assert not pid_alive(extra["pid"]), "extra[%d] still running after circusd exited" % extra["pid"]
