"""circusd keeps its watchers' processes running as the ini file says."""

import os
import signal

from helpers import pid_alive, start, until


def test_circusd_keeps_numprocesses_workers_running(circusd, workers):
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        numprocesses = 3
        """ % workers.cmd("web"))
    pids = daemon.wait_pids("web", 3)
    for pid in pids:
        report = workers.report("web", pid)
        assert report["ppid"] == daemon.pid
        # Each worker leads its own session and process group.
        assert report["pgid"] == report["sid"] == pid
    assert daemon.alive()


def test_a_worker_killed_with_sigkill_is_replaced_quickly_reusing_its_wid(circusd, workers):
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        numprocesses = 2
        """ % workers.cmd("web", "wid=$(circus.wid)"))
    pids = daemon.wait_pids("web", 2)
    wids = {workers.report("web", pid)["wid"] for pid in pids}
    assert wids == {"1", "2"}
    victim = pids[0]
    victim_wid = workers.report("web", victim)["wid"]
    os.kill(victim, signal.SIGKILL)
    until(lambda: len(daemon.pids("web")) == 2 and victim not in daemon.pids("web"), timeout=5,
          what="a replacement for %d" % victim)
    (new,) = set(daemon.pids("web")) - set(pids)
    assert workers.report("web", new)["wid"] == victim_wid
    assert pids[1] in daemon.pids("web"), "the other worker was touched"


def test_a_missing_worker_command_is_logged_and_its_watcher_stops_while_circusd_stays_up(circusd, workers):
    daemon = start(circusd, """
        [watcher:good]
        cmd = %s

        [watcher:bad]
        cmd = /nonexistent/prog-4242 --flag
        max_retry = 2
        """ % workers.cmd("good"))
    (good,) = daemon.wait_pids("good", 1)
    daemon.wait_log(r"prog-4242")
    daemon.wait_log(r"(?i)^.*\bbad\b.*\bstopped\b")
    assert daemon.alive()
    assert daemon.pids("good") == [good]
    assert "Traceback" not in daemon.log()


def test_respawn_false_lets_processes_die(circusd, workers):
    daemon = start(circusd, """
        [watcher:once]
        cmd = %s
        numprocesses = 2
        respawn = false

        [watcher:again]
        cmd = %s
        """ % (workers.cmd("once", "exit=0"), workers.cmd("again", "exit=0")))
    workers.wait_reports("once", 2)
    # 'again' dies the same way and is respawned: once it has been replaced
    # three times, circusd has had every chance to respawn 'once' too.
    workers.wait_reports("again", 4)
    assert len(workers.reports("once")) == 2
    assert daemon.pids("once") == []
    assert daemon.alive()


def test_a_singleton_runs_one_process_and_replaces_it(circusd, workers):
    daemon = start(circusd, """
        [watcher:single]
        cmd = %s
        singleton = true
        """ % workers.cmd("single"))
    (first,) = daemon.wait_pids("single", 1)
    os.kill(first, signal.SIGKILL)
    until(lambda: daemon.pids("single") not in ([], [first]), timeout=5, what="a replacement")
    assert len(daemon.pids("single")) == 1


def test_autostart_false_watchers_are_not_started(circusd, workers):
    daemon = start(circusd, """
        [watcher:late]
        cmd = %s
        autostart = false
        priority = 10

        [watcher:control]
        cmd = %s
        priority = 0
        """ % (workers.cmd("late"), workers.cmd("control")))
    # Higher priority starts first: once 'control' runs, 'late' had its turn.
    daemon.wait_pids("control", 1)
    workers.wait_reports("control", 1)
    assert workers.reports("late") == []
    assert daemon.pids("late") == []


def test_warmup_delay_spaces_the_spawns_of_a_watcher(circusd, workers):
    daemon = start(circusd, """
        [watcher:slow]
        cmd = %s
        numprocesses = 2
        warmup_delay = 1
        """ % workers.cmd("slow"))
    daemon.wait_pids("slow", 2)
    first, second = workers.wait_reports("slow", 2)
    assert second["monotonic"] - first["monotonic"] >= 0.8


def test_max_age_recycles_processes(circusd, workers):
    daemon = start(circusd, """
        [watcher:aging]
        cmd = %s
        max_age = 1
        max_age_variance = 0
        """ % workers.cmd("aging"), circus={"check_delay": "0.5"})
    (first,) = daemon.wait_pids("aging", 1)
    until(lambda: daemon.pids("aging") not in ([], [first]), timeout=6, what="%d recycled" % first)
    (second,) = daemon.wait_pids("aging", 1)
    assert not pid_alive(first)
    until(lambda: daemon.pids("aging") not in ([], [second]), timeout=6, what="%d recycled" % second)


def test_circusd_is_not_blocked_by_a_worker_writing_10mb_to_its_inherited_stdout(circusd, workers):
    # log_buffer_size = 0: the worker's stdout is circusd's own (Circus 0.19).
    daemon = start(circusd, """
        [watcher:loud]
        cmd = %s
        log_buffer_size = 0
        """ % workers.cmd("loud", "spew=10000000"))
    workers.wait_reports("loud", 1, timeout=20)
    assert daemon.alive()
    assert (daemon.dir / "stdout.log").stat().st_size >= 10_000_000


def test_10mb_a_worker_writes_without_a_stream_reach_circusd_stdout_through_the_ring(circusd, workers):
    # By default circusd reads the output for its ring and writes it on to its stdout.
    daemon = start(circusd, """
        [watcher:loud]
        cmd = %s
        """ % workers.cmd("loud", "spew=10000000"))
    workers.wait_reports("loud", 1, timeout=20)
    until(lambda: (daemon.dir / "stdout.log").stat().st_size >= 10_000_000, timeout=20,
          what="10 MB written on to circusd's stdout")
    assert daemon.alive()


def test_circusd_drains_10mb_written_to_a_piped_stdout_stream(circusd, workers, tmp_path):
    out = tmp_path / "loud.out"
    daemon = start(circusd, """
        [watcher:loud]
        cmd = %s
        stdout_stream.class = FileStream
        stdout_stream.filename = %s

        [watcher:control]
        cmd = %s
        """ % (workers.cmd("loud", "spew=10000000"), out, workers.cmd("control")))
    # The worker reports only after its last write: a full pipe would stop it.
    workers.wait_reports("loud", 1, timeout=20)
    until(lambda: out.exists() and out.stat().st_size >= 10_000_000, timeout=20,
          what="10 MB in %s" % out)
    (control,) = daemon.wait_pids("control", 1)
    os.kill(control, signal.SIGKILL)
    until(lambda: daemon.pids("control") not in ([], [control]), timeout=5,
          what="circusd to keep supervising while draining")

