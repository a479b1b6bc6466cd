"""The singleton rule has one outcome at every entry point of a real circusd:
an error naming the watcher and the limit, and nothing changes."""

import textwrap

from test_control_plane import started
from helpers import Client

SINGLETON = """
[watcher:one]
cmd = {cmd}
singleton = true
numprocesses = {n}
"""


def refusal(n, name="one"):
    return "watcher %r is a singleton: it runs at most 1 process, not %d" % (name, n)


def running_singleton(circusd, workers):
    daemon = started(circusd, SINGLETON.format(cmd=workers.cmd("one"), n=1))
    daemon.wait_pids("one", 1)
    return daemon


def refused(reply, n, name="one"):
    assert reply["status"] == "error" and refusal(n, name) in reply["reason"], reply


def test_a_config_file_with_a_singleton_above_one_process_is_refused_at_start(circusd, workers):
    daemon = circusd()
    daemon.write_ini(SINGLETON.format(cmd=workers.cmd("one"), n=2))
    returncode, out, err = daemon.run()
    assert returncode == 1
    assert "[watcher:one] numprocesses" in err and refusal(2) in err, (out, err)


def test_add_of_a_singleton_above_one_process_is_refused(circusd, workers):
    daemon = running_singleton(circusd, workers)
    with Client(daemon) as c:
        options = {"singleton": True, "numprocesses": 3}
        refused(c.send_message("add", name="one2", cmd=workers.cmd("two"), options=options), 3, "one2")
        assert c.send_message("list")["watchers"] == ["one"]


def test_set_numprocesses_of_a_singleton_above_one_is_refused(circusd, workers):
    daemon = running_singleton(circusd, workers)
    with Client(daemon) as c:
        refused(c.send_message("set", name="one", options={"numprocesses": 2}, waiting=True), 2)
        assert c.send_message("get", name="one", keys=["numprocesses"])["options"] == {"numprocesses": 1}
        ok = c.send_message("set", name="one", options={"singleton": False, "numprocesses": 2}, waiting=True)
        assert ok["status"] == "ok", ok
        daemon.wait_pids("one", 2)
        refused(c.send_message("set", name="one", options={"singleton": True}, waiting=True), 2)
        assert c.send_message("get", name="one", keys=["singleton"])["options"] == {"singleton": False}


def test_incr_of_a_singleton_above_one_process_is_refused(circusd, workers):
    daemon = running_singleton(circusd, workers)
    with Client(daemon) as c:
        refused(c.send_message("incr", name="one", nb=2, waiting=True), 3)
        assert c.send_message("numprocesses", name="one")["numprocesses"] == 1
    assert len(daemon.pids("one")) == 1


def test_reloadconfig_to_a_singleton_above_one_process_is_refused(circusd, workers):
    daemon = running_singleton(circusd, workers)
    (pid,) = daemon.pids("one")
    body = textwrap.dedent(SINGLETON.format(cmd=workers.cmd("one"), n=2))
    daemon.write_ini(body)
    with Client(daemon) as c:
        refused(c.send_message("reloadconfig", waiting=True), 2)
        assert c.send_message("numprocesses", name="one")["numprocesses"] == 1
    assert daemon.pids("one") == [pid]
