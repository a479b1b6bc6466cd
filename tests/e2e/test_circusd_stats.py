"""circusd-stats against a real circusd: the stats channel of spec/protocol.md §7."""

import os
import signal
import socket
import subprocess
import sys

from helpers import REPO_ROOT, Subscriber, python, until

BUSY = python("while True: pass")


class StatsStream(Subscriber):
    """A Subscriber to ``stat.``; ``wait(predicate)`` reads until ``predicate(stats)`` holds.

    ``stats`` maps each topic to the list of payloads received for it.
    """

    def __init__(self, endpoint):
        super().__init__(endpoint, prefix="stat.")
        self.stats = {}

    def wait(self, predicate, timeout=20, what=None):
        def holds():
            while not predicate(self.stats):
                event = self.next(0.1)
                if event is None:
                    return False
                self.stats.setdefault(event[0], []).append(event[1])
            return True

        until(holds, timeout, interval=0,
              what=lambda: "%s; topics seen: %s" % (what or predicate.__name__, sorted(self.stats)))  # fmt: skip
        return self.stats


def ini(workers, tmp_path, statsd=True):
    circus = {"stats_endpoint": "ipc://%s" % (tmp_path / "stats.sock"), "check_delay": 0.5}
    if statsd:
        circus["statsd"] = "true"
    body = """
        [socket:web]
        host = 127.0.0.1
        port = 0

        [watcher:busy]
        cmd = %s

        [watcher:idle]
        cmd = %s
        numprocesses = 2

        [watcher:web]
        cmd = %s
        use_sockets = true
        """ % (BUSY, workers.cmd("idle"), workers.cmd("web"))
    return body, circus


def web_port(stream):
    stream.wait(lambda s: "stat.sockets" in s, what="stat.sockets")
    (address,) = stream.stats["stat.sockets"][-1]["addresses"]
    host, port = address.rsplit(":", 1)
    return host, int(port)


def check_figures(daemon, stream):
    """The busy worker shows high CPU, the idle ones near zero, and circus its own pids."""
    stream.wait(lambda s: any(
        isinstance(p.get("cpu"), float) and p["cpu"] > 30 for p in s.get("stat.busy", [])),
        what="stat.busy with cpu > 30")
    busy_pids = stream.stats["stat.busy"][-1]["pid"]
    assert len(busy_pids) == 1
    per_process = stream.stats["stat.busy.%d" % busy_pids[0]][-1]
    assert per_process["pid"] == busy_pids[0] and per_process["subtopic"] == busy_pids[0]
    assert per_process["name"] is None and per_process["cmdline"] == os.path.basename(sys.executable)
    for key in ("mem_info1", "mem_info2", "cpu", "mem", "ctime", "username", "nice",
                "create_time", "age", "children"):
        assert key in per_process, key
    idle = stream.wait(lambda s: len(s.get("stat.idle", [])) >= 3, what="3 rounds of stat.idle")["stat.idle"]
    assert sorted(idle[-1]["pid"]) == daemon.wait_pids("idle", 2)
    assert idle[-1]["cpu"] < 5 and idle[-1]["mem"] > 0
    for pid in idle[-1]["pid"]:
        assert stream.stats["stat.idle.%d" % pid][-1]["cpu"] < 5
    circus = stream.stats["stat.circus"][-1]
    names = {stream.stats["stat.circus.%d" % pid][-1]["name"] for pid in circus["pid"]}
    assert daemon.pid in circus["pid"] and names == {"circusd", "circusd-stats"}


def check_hits(stream):
    """Connections nobody accepts yet are counted exactly, once each."""
    host, port = web_port(stream)
    before = len(stream.stats["stat.sockets"])
    assert all(s["reads"] == 0 for s in stream.stats["stat.sockets"]), "hits without connections"
    conns = [socket.create_connection((host, port), timeout=5) for _ in range(5)]
    try:
        def counted(s):
            return sum(m["reads"] for m in s["stat.sockets"][before:]) >= 5

        stream.wait(counted, what="5 hits")
        # One more round to be sure nothing is counted twice.
        seen = len(stream.stats["stat.sockets"])
        stream.wait(lambda s: len(s["stat.sockets"]) > seen + 1, what="two more rounds")
        assert sum(m["reads"] for m in stream.stats["stat.sockets"][before:]) == 5
        (fd_topic,) = [t for t in stream.stats if t.startswith("stat.sockets.")]
        assert stream.stats[fd_topic][-1]["address"] == "%s:%d" % (host, port)
    finally:
        for conn in conns:
            conn.close()


def test_statsd_runs_circusd_stats_which_publishes_cpu_memory_and_hits(circusd, workers, tmp_path):
    daemon = circusd()
    body, circus = ini(workers, tmp_path)
    daemon.write_ini(body, circus=circus)
    daemon.start()
    stream = StatsStream(circus["stats_endpoint"])
    try:
        check_figures(daemon, stream)
        check_hits(stream)
    finally:
        stream.close()
    assert daemon.terminate() == 0, daemon.log()


def stats_by_hand(daemon, tmp_path, tracker):
    argv = [sys.executable, "-c", "from circus import stats; stats.main()",
            "--endpoint", daemon.endpoint, "--pubsub", daemon.pubsub_endpoint,
            "--statspoint", "ipc://%s" % (tmp_path / "stats.sock"), "--log-level", "debug"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    log = open(tmp_path / "stats.log", "wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tracker.add_root(proc.pid)
    return proc, log


def test_circusd_stats_run_by_hand_follows_circusd_and_survives_its_restart(circusd, workers, tmp_path, tracker):
    daemon = circusd()
    body, circus = ini(workers, tmp_path, statsd=False)
    daemon.write_ini(body, circus=circus)
    daemon.start()
    proc, log = stats_by_hand(daemon, tmp_path, tracker)
    stream = StatsStream(circus["stats_endpoint"])
    try:
        check_figures(daemon, stream)
        check_hits(stream)
        # circusd goes away and comes back: circusd-stats logs it and follows the new one.
        first = daemon.pid
        assert daemon.terminate() == 0
        second = circusd()
        second.write_ini(body, circus=circus)
        second.start()
        stream.wait(lambda s: second.pid in s["stat.circus"][-1]["pid"], what="the new circusd in stat.circus")
        assert first not in stream.stats["stat.circus"][-1]["pid"]
        stream.wait(lambda s: sorted(s["stat.idle"][-1]["pid"]) == second.pids("idle"),
                    what="the new idle workers")
        assert proc.poll() is None
        text = (tmp_path / "stats.log").read_text()
        assert "circusd (pid %d) is gone" % first in text, text
    finally:
        stream.close()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        log.close()
    assert rc == 0, (tmp_path / "stats.log").read_text()


def test_circusd_stats_follows_watchers_as_processes_come_and_go(circusd, workers, tmp_path):
    from circus.client import CircusClient

    daemon = circusd()
    body, circus = ini(workers, tmp_path)
    daemon.write_ini(body, circus=circus)
    daemon.start()
    stream = StatsStream(circus["stats_endpoint"])
    client = CircusClient(endpoint=daemon.endpoint, timeout=10)
    try:
        stream.wait(lambda s: len(s.get("stat.idle", [{"pid": []}])[-1]["pid"]) == 2, what="2 idle pids")
        client.send_message("incr", name="idle", nb=2, waiting=True)
        four = daemon.wait_pids("idle", 4)
        stream.wait(lambda s: sorted(s["stat.idle"][-1]["pid"]) == four, what="4 idle pids")
        client.send_message("stop", name="idle", waiting=True)
        seen = len(stream.stats["stat.idle"])
        stream.wait(lambda s: len(s["stat.busy"]) > len(s["stat.idle"]) + 2 and len(s["stat.idle"]) >= seen,
                    what="rounds without stat.idle after stop")
    finally:
        client.stop()
        stream.close()
