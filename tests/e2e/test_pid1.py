"""circusd as pid 1 of a pid namespace the test makes (``unshare --pid --fork --mount-proc``)."""

import signal
import subprocess
import time

import psutil
import pytest

from helpers import python, until

PREFIX = ("unshare", "--pid", "--fork", "--mount-proc")

# A worker that leaves orphans behind, as a daemonising program does: a
# short-lived one (its end must be reaped by pid 1) and a long-lived one
# that records the SIGTERM it gets when circusd stops.
ORPHANER = python("""
import os, signal, sys, time
directory = sys.argv[1]
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(0.3)
        os._exit(0)
    if os.fork() == 0:
        def term(signum, frame):
            open(os.path.join(directory, "orphan.term"), "w").write("TERM")
            os._exit(0)
        signal.signal(signal.SIGTERM, term)
        open(os.path.join(directory, "orphan.ready"), "w").write(str(os.getpid()))
        while True:
            time.sleep(60)
    os._exit(0)
while True:
    time.sleep(60)
""")

STUBBORN = python("""
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(60)
""")


@pytest.fixture
def pid_namespaces():
    done = subprocess.run([*PREFIX, "true"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("cannot make a pid namespace here: %s" % done.stderr.strip())


def inner_circusd(daemon):
    """The host pid of circusd, the child of unshare."""
    def found():
        try:
            kids = psutil.Process(daemon.pid).children()
        except psutil.NoSuchProcess:
            return None
        return kids[0] if kids else None

    return until(found, timeout=10, what="circusd under unshare")


def test_circusd_as_pid_1_reaps_orphans_and_stops_the_live_ones_at_exit(pid_namespaces, circusd, tmp_path):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:orphaner]
        cmd = %s %s
        """ % (ORPHANER, tmp_path))
    daemon.start(prefix=PREFIX)
    circusd_proc = inner_circusd(daemon)
    daemon.wait_answering()
    daemon.wait_log("init mode")
    until((tmp_path / "orphan.ready").exists, timeout=10, what="the long-lived orphan")

    def settled():
        kids = circusd_proc.children()
        statuses = [k.status() for k in kids]
        return len(kids) == 2 and psutil.STATUS_ZOMBIE not in statuses and kids

    # The worker and the long-lived orphan remain: the short-lived one was reaped.
    kids = until(settled, timeout=10, what=lambda: "circusd's children to be the worker and one orphan: %s"
                 % [(k.pid, k.status()) for k in circusd_proc.children()])
    assert {k.ppid() for k in kids} == {circusd_proc.pid}
    circusd_proc.send_signal(signal.SIGTERM)
    assert daemon.wait(20) == 0
    assert (tmp_path / "orphan.term").read_text() == "TERM"
    assert not any(psutil.pid_exists(k.pid) and k.status() != psutil.STATUS_ZOMBIE for k in kids)


def test_a_second_sigterm_during_the_graceful_stop_kills_everything_at_once(pid_namespaces, circusd, tmp_path):
    out = tmp_path / "stubborn.out"
    daemon = circusd()
    daemon.write_ini("""
        [watcher:stubborn]
        cmd = %s
        graceful_timeout = 60
        stdout_stream.class = FileStream
        stdout_stream.filename = %s
        """ % (STUBBORN, out))
    daemon.start(prefix=PREFIX)
    circusd_proc = inner_circusd(daemon)
    daemon.wait_answering()
    until(lambda: out.exists() and b"ignoring" in out.read_bytes(), timeout=10, what="the stubborn worker")
    circusd_proc.send_signal(signal.SIGTERM)
    daemon.wait_log("got SIGTERM, running quit")
    started = time.monotonic()
    circusd_proc.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0
    assert time.monotonic() - started < 10, "the second SIGTERM did not cut the 60 s graceful timeout"
    assert "second stop signal: killing" in daemon.log()


def test_circusd_init_outside_a_namespace_also_stops_the_orphans_it_adopted(circusd, tmp_path):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:orphaner]
        cmd = %s %s
        """ % (ORPHANER, tmp_path))
    daemon.start("--init")
    daemon.wait_answering()
    daemon.wait_log("init mode")
    until((tmp_path / "orphan.ready").exists, timeout=10, what="the long-lived orphan")
    orphan = int((tmp_path / "orphan.ready").read_text())
    assert psutil.Process(orphan).ppid() == daemon.pid  # adopted: circusd is the child subreaper
    assert daemon.terminate(20) == 0
    assert (tmp_path / "orphan.term").read_text() == "TERM"
