"""circusd and its signals: TERM/INT/QUIT stop everything, HUP re-reads the ini."""

import os
import re
import signal
import time

import pytest

from helpers import pid_alive, start, until


def test_sigterm_stops_every_worker_and_grandchild_and_exits_0(circusd, workers):
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        numprocesses = 2
        stop_children = true
        graceful_timeout = 1
        """ % workers.cmd("web", "fork-child"))
    pids = daemon.wait_pids("web", 2)
    grandchildren = [workers.report("web", pid)["grandchild"] for pid in pids]
    assert all(pid_alive(g) for g in grandchildren)
    started = time.monotonic()
    assert daemon.terminate() == 0, daemon.log()
    elapsed = time.monotonic() - started
    left = [pid for pid in pids + grandchildren if pid_alive(pid)]
    assert left == [], "still alive after circusd exited: %s" % left
    assert elapsed < 3, "stopping cooperative workers took %.1fs" % elapsed
    assert "Traceback" not in daemon.log()


def test_a_worker_ignoring_sigterm_is_killed_after_graceful_timeout(circusd, workers):
    daemon = start(circusd, """
        [watcher:stubborn]
        cmd = %s
        graceful_timeout = 1
        """ % workers.cmd("stubborn", "ignore-term", "record-stop"))
    (pid,) = daemon.wait_pids("stubborn", 1)
    workers.report("stubborn", pid)
    started = time.monotonic()
    assert daemon.terminate() == 0, daemon.log()
    elapsed = time.monotonic() - started
    assert not pid_alive(pid)
    (stop,) = workers.stops("stubborn")
    assert stop["signal"] == signal.SIGTERM
    assert 0.9 <= elapsed < 4, "circusd took %.2fs with graceful_timeout = 1" % elapsed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_sigint_and_sigquit_stop_circusd_like_sigterm(signum, circusd, workers):
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        numprocesses = 2
        graceful_timeout = 1
        """ % workers.cmd("web", "record-stop"))
    pids = daemon.wait_pids("web", 2)
    for pid in pids:
        workers.report("web", pid)
    daemon.signal(signum)
    assert daemon.wait() == 0, daemon.log()
    assert not any(pid_alive(pid) for pid in pids)
    # The workers got the watcher's stop_signal, not circusd's signal.
    assert sorted(s["pid"] for s in workers.stops("web")) == pids
    assert {s["signal"] for s in workers.stops("web")} == {signal.SIGTERM}


def test_watchers_are_stopped_in_reverse_priority_order(circusd, workers):
    body = "".join("""
        [watcher:p%d]
        cmd = %s
        priority = %d
        graceful_timeout = 1
        """ % (prio, workers.cmd("p%d" % prio, "record-stop"), prio) for prio in (2, 3, 1))
    daemon = start(circusd, body)
    for prio in (1, 2, 3):
        (pid,) = daemon.wait_pids("p%d" % prio, 1)
        workers.report("p%d" % prio, pid)
    assert daemon.terminate() == 0, daemon.log()
    stopped = [workers.stops("p%d" % prio)[0]["monotonic"] for prio in (1, 2, 3)]
    assert stopped == sorted(stopped), "stop times by priority 1, 2, 3: %s" % stopped


def test_watchers_are_started_in_descending_priority_order(circusd, workers):
    body = "".join("""
        [watcher:p%d]
        cmd = %s
        priority = %d
        """ % (prio, workers.cmd("p%d" % prio), prio) for prio in (2, 3, 1))
    daemon = start(circusd, body)
    # Pids are handed out in fork order (a wrap-around would be 30000 apart).
    forked = [workers.wait_reports("p%d" % prio, 1)[0]["pid"] for prio in (3, 2, 1)]
    assert forked == sorted(forked) or max(forked) - min(forked) > 30000, "pids by priority 3, 2, 1: %s" % forked
    assert daemon.alive()


RELOAD_BEFORE = """
    [watcher:keep]
    cmd = {keep}

    [watcher:gone]
    cmd = {gone}

    [watcher:grow]
    cmd = {grow}
    numprocesses = 1
    """

RELOAD_AFTER = """
    [watcher:keep]
    cmd = {keep}

    [watcher:grow]
    cmd = {grow}
    numprocesses = 3

    [watcher:new]
    cmd = {new}
    """


def reload_cmds(workers):
    return {name: workers.cmd(name) for name in ("keep", "gone", "grow", "new")}


def test_sighup_rereads_the_ini_and_applies_the_differences(circusd, workers):
    cmds = reload_cmds(workers)
    daemon = start(circusd, RELOAD_BEFORE.format(**cmds), circus={"check_delay": 1})
    (keep,) = daemon.wait_pids("keep", 1)
    (gone,) = daemon.wait_pids("gone", 1)
    (grow,) = daemon.wait_pids("grow", 1)
    daemon.write_ini(RELOAD_AFTER.format(**cmds), circus={"check_delay": 1})
    daemon.signal(signal.SIGHUP)
    daemon.wait_pids("new", 1)
    daemon.wait_pids("gone", 0)
    grown = daemon.wait_pids("grow", 3)
    assert grow in grown, "only numprocesses changed: the old process should be kept"
    assert daemon.pids("keep") == [keep], "an unchanged watcher was touched"
    assert not pid_alive(gone)
    assert daemon.alive()


def test_a_broken_ini_on_sighup_changes_nothing_and_is_logged(circusd, workers):
    cmds = reload_cmds(workers)
    daemon = start(circusd, RELOAD_BEFORE.format(**cmds))
    before = {name: daemon.wait_pids(name, 1) for name in ("keep", "gone", "grow")}
    broken = RELOAD_AFTER.format(**cmds).replace("numprocesses = 3", "numprocesses = three")
    daemon.write_ini(broken)
    offset = len(daemon.log())
    daemon.signal(signal.SIGHUP)
    until(lambda: re.search(r"numprocesses", daemon.log()[offset:]), timeout=10,
          what="the config error in the log; log:\n%s" % daemon.log()[-2000:])
    assert "three" in daemon.log()[offset:]
    assert daemon.alive()
    assert {name: daemon.pids(name) for name in before} == before
    assert daemon.pids("new") == []
    # And circusd still listens to the next SIGHUP once the file is fixed.
    daemon.write_ini(RELOAD_AFTER.format(**cmds))
    daemon.signal(signal.SIGHUP)
    daemon.wait_pids("new", 1)
    daemon.wait_pids("gone", 0)


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH],
                         ids=["SIGUSR1", "SIGUSR2", "SIGWINCH"])
def test_sigusr1_sigusr2_and_sigwinch_neither_kill_circusd_nor_orphan_its_workers(signum, circusd, workers):
    daemon = start(circusd, "[watcher:web]\ncmd = %s\ngraceful_timeout = 1\n" % workers.cmd("web"))
    (pid,) = daemon.wait_pids("web", 1)
    daemon.signal(signum)
    # Still supervising after the signal: a killed worker is replaced.
    os.kill(pid, signal.SIGKILL)
    until(lambda: daemon.pids("web") not in ([], [pid]), timeout=5, what="a replacement after the signal")
    assert daemon.alive()
    assert daemon.terminate() == 0
