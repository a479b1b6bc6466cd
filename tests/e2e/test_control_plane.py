"""The control plane of a real circusd: signal targets, set refusals, raw request bodies, stats."""

import json
import signal

import psutil
import pytest
import zmq

from helpers import pid_alive, until
from test_controller_robustness import Client, Raw, request

FORKING = """
[watcher:forks]
cmd = {cmd}
numprocesses = 2
graceful_timeout = 2
stop_children = true
"""


def answers(c):
    try:
        return c.send_message("numwatchers")["status"] == "ok"
    except Exception:  # not listening yet
        return False


def started(circusd, body, circus=None):
    """A running circusd on ``body`` that answers requests."""
    daemon = circusd()
    daemon.write_ini(body, circus=circus)
    daemon.start()
    with Client(daemon, timeout=2) as c:
        until(lambda: answers(c), timeout=15, what="circusd to answer; log:\n%s" % daemon.log()[-2000:])
    return daemon


# -- signal -----------------------------------------------------------------------


@pytest.fixture
def forking(circusd, workers):
    """``(daemon, {worker pid: its forked child pid})`` for two workers that each fork a child."""
    daemon = started(circusd, FORKING.format(cmd=workers.cmd("forks", "fork-child")))
    pids = daemon.wait_pids("forks", 2)
    children = {pid: workers.report("forks", pid)["grandchild"] for pid in pids}
    assert all(pid_alive(child) for child in children.values())
    return daemon, children


def send_signal(daemon, **props):
    with Client(daemon) as c:
        reply = c.send_message("signal", name="forks", signum="TERM", **props)
    assert reply["status"] == "ok", reply
    return reply


def dead(pid):
    return not pid_alive(pid)


@pytest.mark.parametrize("key", ["child_pid", "childpid"])
def test_signal_with_a_child_pid_hits_that_child_only(forking, key):
    daemon, children = forking
    (worker, child), (other, other_child) = sorted(children.items())
    send_signal(daemon, pid=worker, **{key: child})
    until(lambda: dead(child), timeout=10, what="the child %d to die of SIGTERM" % child)
    assert pid_alive(worker) and pid_alive(other) and pid_alive(other_child)
    assert daemon.pids("forks") == sorted(children)


def test_signal_to_the_children_of_the_watcher_spares_the_workers(forking):
    daemon, children = forking
    send_signal(daemon, children=True)
    until(lambda: all(dead(child) for child in children.values()), timeout=10, what="every child to die")
    assert all(pid_alive(worker) for worker in children)
    assert daemon.pids("forks") == sorted(children)


def test_signal_to_the_children_of_one_process_spares_the_others(forking):
    daemon, children = forking
    (worker, child), (other, other_child) = sorted(children.items())
    send_signal(daemon, pid=worker, children=True)
    until(lambda: dead(child), timeout=10, what="the child %d to die" % child)
    assert pid_alive(worker) and pid_alive(other) and pid_alive(other_child)


def test_recursive_signal_hits_the_workers_and_their_children(forking):
    daemon, children = forking
    send_signal(daemon, recursive=True)
    gone = list(children) + list(children.values())
    until(lambda: all(dead(pid) for pid in gone), timeout=10, what="workers and children to die")
    replaced = daemon.wait_pids("forks", 2)
    assert not set(replaced) & set(gone)


def test_a_child_pid_that_is_not_a_child_of_the_process_is_refused(forking):
    daemon, children = forking
    (worker, _), (_, other_child) = sorted(children.items())
    with Client(daemon) as c:
        reply = c.send_message("signal", name="forks", signum="TERM", pid=worker, child_pid=other_child)
    assert (reply["status"], reply["errno"]) == ("error", 3), reply
    assert "not a child" in reply["reason"]
    assert pid_alive(other_child) and pid_alive(worker)
