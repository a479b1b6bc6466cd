"""A web stack behind one circus socket keeps every request through the control actions.

Four server processes answer after 20 ms on ``$(circus.sockets.web)`` with
``use_sockets``, while 32 clients open a fresh connection for every request
(tests/httpload.py) and one action runs through circusctl or kill(2).

gunicorn (one gthread worker per process, ``--bind fd://N``) serves every
connection it has accepted before a graceful exit, so any loss with it is
circusd's: a socket closed under the workers, a signal to a whole group, a
second signal cutting the grace period short. uvicorn (``--fd N``) closes
the connections it has accepted but not read yet when its shutdown starts;
under load a whole generation stopping at once loses some unless circusd
hands the socket over to a new listener first (reload, restart).
"""

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import REPO_ROOT, async_test, listening_ports, until_async
from httpload import Load, fetch
from webstack import SERVERS

NUMPROCESSES = 4
BEFORE, AFTER = 1.0, 1.5  # seconds of load around each action


def start_stack(circusd, tmp_path, server="gunicorn"):
    pytest.importorskip(server)
    command, app = SERVERS[server]
    (tmp_path / "app.py").write_text(app)
    daemon = circusd()
    daemon.write_ini("""
        [socket:web]
        host = 127.0.0.1
        port = 0
        backlog = 1024

        [watcher:web]
        cmd = %s %s
        working_dir = %s
        numprocesses = %d
        use_sockets = true
        graceful_timeout = 10
        """ % (sys.executable, command, tmp_path, NUMPROCESSES))
    daemon.start()
    return daemon


def processes(daemon):
    """The live processes circusd runs for the watcher (each holds the socket from its spawn)."""
    return sorted(kid.pid for kid in daemon.children())


async def serving(daemon, count=NUMPROCESSES):
    """Wait for ``count`` serving processes; return the port."""
    port = await until_async(lambda: (listening_ports(daemon.pid) or [None])[0], timeout=20,
                             what="circusd listening; log:\n%s" % daemon.log()[-2000:])
    await until_async(lambda: len(processes(daemon)) == count, timeout=30,
                      what="%d processes, have %s" % (count, processes(daemon)))
    outcome, _ = await fetch("127.0.0.1", port, 10)
    assert outcome == "ok", daemon.log()[-2000:]
    return port


def ctl(daemon, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-m", "circus.circusctl", "--endpoint", daemon.endpoint,
                           "--timeout", "30", *args],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.stdout, done.stderr)


async def under_load(daemon, action):
    """Run ``action()`` (a coroutine function) under load; return (tally, action's start)."""
    port = await serving(daemon)
    async with Load("127.0.0.1", port) as tally:
        await asyncio.sleep(BEFORE)
        started = time.monotonic()
        await action()
        await serving(daemon)
        await asyncio.sleep(AFTER)
    assert tally.counts["ok"] > 100, tally.summary()
    return tally, started


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize("command", [["reload", "web"], ["restart", "web"]], ids=["reload", "restart"])
@async_test(timeout=110)
async def test_a_graceful_reload_or_restart_loses_no_request(circusd, tmp_path, command, server):
    daemon = start_stack(circusd, tmp_path, server)
    await serving(daemon)
    old = processes(daemon)
    tally, _ = await under_load(daemon, lambda: asyncio.to_thread(ctl, daemon, *command))
    assert tally.failed == 0, tally.summary()
    assert not set(processes(daemon)) & set(old), "the processes were not replaced"


@pytest.mark.timeout(120)
@async_test(timeout=110)
async def test_adding_then_removing_processes_loses_no_request(circusd, tmp_path):
    daemon = start_stack(circusd, tmp_path)

    async def incr_then_decr():
        await asyncio.to_thread(ctl, daemon, "incr", "web", "2")
        await serving(daemon, NUMPROCESSES + 2)
        await asyncio.to_thread(ctl, daemon, "decr", "web", "2")

    tally, _ = await under_load(daemon, incr_then_decr)
    assert tally.failed == 0, tally.summary()


@pytest.mark.timeout(120)
@async_test(timeout=110)
async def test_a_sigterm_to_one_worker_loses_no_request(circusd, tmp_path):
    daemon = start_stack(circusd, tmp_path)
    await serving(daemon)
    victim = processes(daemon)[0]

    async def term():
        os.kill(victim, signal.SIGTERM)
        await until_async(lambda: victim not in processes(daemon), timeout=20, what="victim gone")

    tally, _ = await under_load(daemon, term)
    assert tally.failed == 0, tally.summary()


@pytest.mark.timeout(120)
@async_test(timeout=110)
async def test_a_kill_9_loses_only_the_requests_in_flight_in_the_killed_worker(circusd, tmp_path):
    daemon = start_stack(circusd, tmp_path)
    await serving(daemon)
    victim = processes(daemon)[0]

    async def kill():
        os.killpg(victim, signal.SIGKILL)  # the gunicorn master and its worker
        await until_async(lambda: victim not in processes(daemon), timeout=20, what="victim gone")

    tally, killed_at = await under_load(daemon, kill)
    # A request started after the kill cannot have been in the dead worker;
    # the margin covers the delivery of SIGKILL to a process on another core.
    late = [(round(t - killed_at, 3), outcome) for t, outcome in tally.failures if t > killed_at + 0.05]
    assert not late, "requests started after the kill failed: %s (%s)" % (late, tally.summary())
