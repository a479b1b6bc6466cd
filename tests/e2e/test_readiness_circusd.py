"""Readiness through a real circusd: ready = notify / tcp / http, ready_timeout, watchdog_sec.

The workers (tests/helpers/scripts/ready_worker.py) speak the notify protocol
with their own socket code, as any sd_notify library does.
"""

import json
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest

from helpers import ReadyWorkers, http_get_tcp, listening_ports, repo_env, Subscriber, call, error, ok, start, until

WATCHER = """
    [watcher:app]
    cmd = %s
    numprocesses = %d
    graceful_timeout = 5
    %s
"""


def ini(worker_cmd, numprocesses=1, **keys):
    extra = "\n    ".join("%s = %s" % kv for kv in keys.items())
    return WATCHER % (worker_cmd, numprocesses, extra)


def running(daemon, tmp_path, worker_cmd, numprocesses=1, circus=None, **keys):
    """circusd on one watcher ``app``, answering, with a subscriber on its events."""
    daemon = start(daemon, ini(worker_cmd, numprocesses, **keys), circus=circus)
    daemon.wait_answering()
    return daemon


def pids(daemon):
    return ok(call(daemon, "list", name="app"))["pids"]


def status(daemon):
    return call(daemon, "status", name="app")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_late_ready_shows_not_ready_until_it_sends_ready(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = running(circusd, tmp_path, workers.cmd("late", "ready-after=1.5", "status=warming"),
                     ready="notify", ready_timeout=20)
    with Subscriber(daemon.pubsub_endpoint) as events:
        (pid,) = until(lambda: pids(daemon), 10)
        reply = status(daemon)
        assert reply["status"] == "active" and reply["not_ready"] == [pid], reply
        assert ok(call(daemon, "list", name="app"))["ready"] == {str(pid): False}
        info = ok(call(daemon, "stats", name="app"))["info"][str(pid)]
        assert info["ready"] is False
        until(lambda: "not_ready" not in status(daemon), 10, what="the READY=1 to arrive")
        reply = status(daemon)
        assert reply["status"] == "active" and "not_ready" not in reply, reply
        assert ok(call(daemon, "list", name="app"))["ready"] == {str(pid): True}
        info = ok(call(daemon, "stats", name="app"))["info"][str(pid)]
        assert info["ready"] is True and info["notify_status"] == "serving"
        topic, payload, _ = events.wait_for(lambda t, p: t == "watcher.app.ready", 10)
        assert payload["process_pid"] == pid
    assert pids(daemon) == [pid]  # never killed: it was ready in time


def test_a_worker_never_ready_is_killed_at_ready_timeout_until_max_retry(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = running(circusd, tmp_path, workers.cmd("never", "never-ready"),
                     ready="notify", ready_timeout=0.7, max_retry=2, min_uptime=0.2)
    until(lambda: status(daemon)["status"] == "stopped", 20,
          what=lambda: "the watcher to give up; log:\n%s" % daemon.log()[-2000:])
    # Each start outlived min_uptime, yet none counted as started well: 2 failed starts.
    assert len(workers.reports("never")) == 2
    assert daemon.log().count("not ready: no READY=1 within 0.7 s (ready_timeout); killing it") == 2
    assert daemon.alive()


def test_a_worker_that_stops_its_watchdog_is_killed_and_replaced(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = circusd()
    daemon.write_ini(ini(workers.cmd("dog", "watchdog-for=0.8"), watchdog_sec=0.6))
    with Subscriber(daemon.pubsub_endpoint) as events:
        daemon.start().wait_answering()
        (first,) = until(lambda: pids(daemon), 10)
        topic, payload, _ = events.wait_for(lambda t, p: t == "watcher.app.unhealthy", 10)
        assert payload["process_pid"] == first and "WATCHDOG=1" in payload["reason"]
    until(lambda: pids(daemon) and pids(daemon) != [first], 10, what="a replacement")
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    report = workers.reports("dog")[0]
    assert report["env"]["WATCHDOG_USEC"] == "600000" and report["env"]["NOTIFY_SOCKET"].startswith("@")


def test_watchdog_trigger_makes_the_worker_unhealthy_at_once(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = circusd()
    daemon.write_ini(ini(workers.cmd("trig", "watchdog-for=60", "trigger-after=0.5"), watchdog_sec=60))
    with Subscriber(daemon.pubsub_endpoint) as events:
        daemon.start().wait_answering()
        (first,) = until(lambda: pids(daemon), 10)
        topic, payload, _ = events.wait_for(lambda t, p: t == "watcher.app.unhealthy", 10)
        assert payload["process_pid"] == first and payload["reason"] == "it sent WATCHDOG=trigger"
    until(lambda: pids(daemon) and pids(daemon) != [first], 10, what="a replacement")


def test_a_fed_watchdog_keeps_the_worker(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = running(circusd, tmp_path, workers.cmd("fed", "watchdog-for=30", "ready-after=0"),
                     ready="notify", watchdog_sec=1.0)
    (pid,) = until(lambda: pids(daemon), 10)
    until(lambda: "not_ready" not in status(daemon), 10)
    # Over three watchdog periods: each WATCHDOG=1 restarted the clock.
    until(lambda: time.time() - psutil.Process(pid).create_time() > 3.5, 10, interval=0.1)
    assert pids(daemon) == [pid] and "unhealthy" not in daemon.log()


def test_garbage_oversized_and_foreign_datagrams_are_ignored(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = running(circusd, tmp_path, workers.cmd("quiet", "never-ready"),
                     ready="notify", ready_timeout=30, circus={"loglevel": "debug"})
    (pid,) = until(lambda: pids(daemon), 10)
    address = workers.wait_reports("quiet", 1)[0]["env"]["NOTIFY_SOCKET"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        target = "\0" + address[1:]
        sock.sendto(b"\xff\xfe not a message", target)
        sock.sendto(b"READY=1\n" + b"X" * 70000, target)
        # This process is no worker of circusd: its READY=1 (even naming the
        # worker's pid) must not make the worker ready.
        sock.sendto(b"READY=1\nMAINPID=%d" % pid, target)
    daemon.wait_log(r"garbage from pid \d+ dropped")
    daemon.wait_log(r"oversized datagram from pid \d+ dropped")
    daemon.wait_log(r"pid \d+ is no process of a notify watcher; ignored")
    assert status(daemon)["not_ready"] == [pid]
    assert daemon.alive() and pids(daemon) == [pid]


SOCKET = """
    [socket:web]
    host = 127.0.0.1
    port = 0
"""


@pytest.mark.parametrize("kind", ["tcp", "http"])
def test_tcp_and_http_ready_wait_for_the_worker_to_answer(circusd, tmp_path, kind):
    workers = ReadyWorkers(tmp_path)
    if kind == "tcp":  # its own port, bound late
        port = free_port()
        cmd = workers.cmd("probed", "listen=%d" % port, "listen-after=1.0")
        keys = {"ready_address": "127.0.0.1:%d" % port}
    else:  # circusd's socket, /health answers 503 at first
        cmd = workers.cmd("probed", "serve=$(circus.sockets.web)", "healthy-after=1.2")
        keys = {"ready_url": "http://$(circus.sockets.web)/health", "use_sockets": "true"}
    daemon = start(circusd, SOCKET + ini(cmd, ready=kind, ready_timeout=20, **keys))
    daemon.wait_answering()
    (pid,) = until(lambda: pids(daemon), 10)
    assert status(daemon)["not_ready"] == [pid]
    until(lambda: "not_ready" not in status(daemon), 15)
    assert pids(daemon) == [pid] and workers.reports("probed")[0]["pid"] == pid
    if kind == "http":
        port = listening_ports(daemon.pid)[0]
        assert http_get_tcp("127.0.0.1", port, "/health") == str(pid)  # healthy when circusd said so


def test_readiness_options_through_set_and_get(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = running(circusd, tmp_path, workers.cmd("opts"))
    (pid,) = until(lambda: pids(daemon), 10)
    reply = status(daemon)
    assert reply["status"] == "active" and "not_ready" not in reply, reply
    assert "ready" not in ok(call(daemon, "list", name="app"))  # today's reply without readiness
    assert "ready" not in ok(call(daemon, "stats", name="app"))["info"][str(pid)]
    error(call(daemon, "set", name="app", options={"ready": "tcp"}), 3)
    error(call(daemon, "set", name="app", options={"reload_batch": "300%"}), 3)
    ok(call(daemon, "set", name="app", options={"ready_timeout": 4, "reload_batch": "50%"}))
    got = ok(call(daemon, "get", name="app", keys=["ready", "ready_timeout", "reload_batch"]))["options"]
    assert got == {"ready": "none", "ready_timeout": 4.0, "reload_batch": "50%"}


def test_a_config_with_ready_tcp_and_no_address_is_refused(circusd, tmp_path):
    daemon = circusd()
    daemon.write_ini(ini("sleep 60", ready="tcp"))
    rc, out, err = daemon.run()
    assert rc != 0 and "ready_address" in out + err


def test_circusctl_listen_prints_the_ready_and_unhealthy_events(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = running(circusd, tmp_path, workers.cmd("seen", "ready-after=0", "watchdog-for=1.0"), numprocesses=0,
                     ready="notify", watchdog_sec=0.6)
    ctl = [sys.executable, "-m", "circus.circusctl", "--endpoint"]
    listener = subprocess.Popen(ctl + [daemon.pubsub_endpoint, "listen", "watcher.app."],
                                stdout=subprocess.PIPE, text=True, env=repo_env())
    lines = []

    def printed(topic):
        while select.select([listener.stdout], [], [], 0.05)[0]:
            lines.append(listener.stdout.readline().rstrip("\n"))
        return [json.loads(line.split(": ", 1)[1]) for line in lines if line.startswith(topic + ": ")]

    try:
        # Events published before the SUB socket joins are lost: provoke until one is printed.
        until(lambda: ok(call(daemon, "set", name="app", options={"hook_timeout": 30})) and printed(
            "watcher.app.updated"), 20)
        ok(call(daemon, "incr", name="app", waiting=True))
        (pid,) = until(lambda: pids(daemon), 10)
        (ready,) = until(lambda: printed("watcher.app.ready"), 10)
        (unhealthy,) = until(lambda: printed("watcher.app.unhealthy"), 10)
        assert ready["process_pid"] == unhealthy["process_pid"] == pid
    finally:
        listener.send_signal(signal.SIGINT)
        assert listener.wait(10) == 0
        listener.stdout.close()


def test_extend_timeout_gives_a_slow_worker_more_time_and_stopping_makes_it_not_ready(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    # Ready after 1.5 s, past its ready_timeout of 0.8 s, which it extends to 4 s at once.
    daemon = running(circusd, tmp_path, workers.cmd("slow", "extend=4000000", "ready-after=1.5",
                                                    "stopping-after=2.5"),
                     ready="notify", ready_timeout=0.8)
    (pid,) = until(lambda: pids(daemon), 10)
    until(lambda: "not_ready" not in status(daemon), 10, what="READY=1 past the first deadline")
    assert pids(daemon) == [pid]
    until(lambda: status(daemon).get("not_ready") == [pid], 10, what="STOPPING=1 to be seen")
    assert pids(daemon) == [pid] and "killing it" not in daemon.log()


def test_a_ready_url_that_cannot_be_reached_fails_the_starts_not_circusd(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = running(circusd, tmp_path, workers.cmd("lost"), ready="http",
                     ready_url="http://$(circus.sockets.nosuch)/health", ready_timeout=0.5, max_retry=1)
    until(lambda: status(daemon)["status"] == "stopped", 20,
          what=lambda: "the watcher to give up; log:\n%s" % daemon.log()[-2000:])
    assert "not ready: GET http://$(circus.sockets.nosuch)/health" in daemon.log()
    assert daemon.alive() and ok(call(daemon, "numwatchers"))["numwatchers"] == 1


def test_depends_on_waits_for_the_readiness_of_what_it_depends_on(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    daemon = circusd()
    daemon.write_ini("""
        [watcher:db]
        cmd = %s
        ready = notify
        ready_timeout = 20

        [watcher:app]
        cmd = %s
        depends_on = db
    """ % (workers.cmd("db", "ready-after=1.5"), workers.cmd("app")))
    with Subscriber(daemon.pubsub_endpoint) as events:
        daemon.start()
        seen = events.collect("watcher.app.spawn", timeout=20)
    topics = [topic for topic, _ in seen]
    assert "watcher.db.ready" in topics and topics.index("watcher.db.ready") < topics.index("watcher.app.spawn")


def test_readyz_says_which_watcher_has_processes_not_ready(circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    port = free_port()
    daemon = start(circusd, ini(workers.cmd("slow", "ready-after=2.5"), ready="notify", ready_timeout=20),
                   metrics_endpoint="127.0.0.1:%d" % port)

    def readyz():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as answer:
            return answer.code, json.loads(answer.read())
        except OSError:
            return None

    def ready_gauge():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        return [line for line in lines if line.startswith("circus_watcher_ready_processes{")]

    def readyz_once_started():
        answer = readyz()  # before the watcher's start, /readyz says it is stopped
        return answer if answer and answer[1]["not_ready"].get("app") != "watcher is stopped" else None

    code, body = until(readyz_once_started, 10, what=lambda: "/readyz to answer; log:\n%s" % daemon.log()[-2000:])
    assert code == 503 and body["not_ready"] == {"app": "0 of 1 processes ready"}, body
    assert ready_gauge() == ['circus_watcher_ready_processes{watcher="app"} 0']
    until(lambda: readyz() == (200, {"status": "ready", "not_ready": {}}), 10)
    assert ready_gauge() == ['circus_watcher_ready_processes{watcher="app"} 1']
