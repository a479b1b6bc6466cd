"""metrics_endpoint and circusd-stats --metrics: /metrics parsed by prometheus_client, /healthz, /readyz."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys

import psutil
from prometheus_client.parser import text_string_to_metric_families

from helpers import call, ok, repo_env, until

SERVING = r"metrics, healthz and readyz at http://127\.0\.0\.1:(\d+)/"


def get(port, path):
    """``(status, content type, body)`` of one GET to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        conn.close()


def scrape(port):
    """``{(sample name, frozenset(labels)): value}`` of /metrics."""
    status, kind, body = get(port, "/metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4"), (status, kind, body)
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(samples, name, **labels):
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def ctl(daemon, *args):
    env = repo_env()
    env.pop("CIRCUSCTL_ENDPOINT", None)
    done = subprocess.run([sys.executable, "-m", "circus.circusctl", "--endpoint", daemon.endpoint, *args],
                          capture_output=True, text=True, env=env, timeout=30)
    return done.returncode, done.stdout, done.stderr


def serving(daemon):
    daemon.wait_answering()
    return int(daemon.wait_log(SERVING).group(1))


def web_ini(workers, extra=""):
    return """
        [watcher:web]
        cmd = %s
        numprocesses = 2
        graceful_timeout = 2
        %s
        """ % (workers.cmd("web"), extra)


def test_metrics_show_the_real_figures_and_a_killed_worker_counts_as_a_restart(circusd, workers):
    daemon = circusd()
    daemon.write_ini(web_ini(workers), circus={"metrics_endpoint": "127.0.0.1:0"})
    daemon.start()
    port = serving(daemon)
    pids = daemon.wait_pids("web", 2)
    workers.wait_reports("web", 2)
    samples = scrape(port)
    assert value(samples, "circus_watcher_processes", watcher="web") == 2
    assert value(samples, "circus_watcher_up", watcher="web") == 1
    assert value(samples, "circus_watcher_restarts_total", watcher="web") == 0
    assert value(samples, "circus_watcher_failures_total", watcher="web") == 0
    wids = set()
    for pid in pids:
        labelled = {key[1] for key in samples if key[0] == "circus_process_resident_memory_bytes"
                    and ("pid", str(pid)) in key[1]}
        (labels,) = labelled
        labels = dict(labels)
        assert labels["watcher"] == "web"
        wids.add(labels["wid"])
        proc = psutil.Process(pid)
        assert value(samples, "circus_process_start_time_seconds", **labels) == proc.create_time()
        assert value(samples, "circus_process_resident_memory_bytes", **labels) > 1_000_000
        assert value(samples, "circus_process_open_fds", **labels) >= 3
        assert value(samples, "circus_process_cpu_seconds_total", **labels) > 0
    assert wids == {"1", "2"}
    assert value(samples, "process_start_time_seconds") == psutil.Process(daemon.pid).create_time()
    assert value(samples, "process_resident_memory_bytes") > 10_000_000

    os.kill(pids[0], signal.SIGKILL)
    until(lambda: value(scrape(port), "circus_watcher_restarts_total", watcher="web") == 1, timeout=10,
          what="restarts_total to count the killed worker")
    daemon.wait_pids("web", 2)
    after = scrape(port)
    assert value(after, "circus_watcher_failures_total", watcher="web") == 0  # SIGKILL is no failed start
    assert value(after, "circus_process_open_fds", watcher="web", pid=pids[0], wid=1) is None


def test_failed_starts_are_counted_and_the_stopped_watcher_is_down(circusd, workers):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:crashy]
        cmd = %s
        max_retry = 3
        """ % workers.cmd("crashy", "exit=3"), circus={"metrics_endpoint": "127.0.0.1:0"})
    daemon.start()
    port = serving(daemon)
    until(lambda: value(scrape(port), "circus_watcher_up", watcher="crashy") == 0, timeout=20,
          what="crashy to be given up")
    samples = scrape(port)
    assert value(samples, "circus_watcher_failures_total", watcher="crashy") == 3
    assert value(samples, "circus_watcher_restarts_total", watcher="crashy") == 2
    assert value(samples, "circus_watcher_processes", watcher="crashy") == 0


def test_readyz_is_503_naming_a_watcher_stopped_with_circusctl_and_200_again_once_started(circusd, workers):
    daemon = circusd()
    daemon.write_ini(web_ini(workers) + """
        [watcher:manual]
        cmd = %s
        autostart = false
        """ % workers.cmd("manual"), circus={"metrics_endpoint": "127.0.0.1:0"})
    daemon.start()
    port = serving(daemon)
    daemon.wait_pids("web", 2)
    status, kind, body = get(port, "/readyz")
    assert (status, kind, json.loads(body)) == (200, "application/json", {"status": "ready", "not_ready": {}})
    assert ctl(daemon, "stop", "web", "--waiting")[0] == 0
    status, _, body = get(port, "/readyz")
    assert status == 503
    assert json.loads(body) == {"status": "not ready", "not_ready": {"web": "watcher is stopped"}}
    status, _, body = get(port, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert ctl(daemon, "start", "web", "--waiting")[0] == 0
    assert get(port, "/readyz")[0] == 200


def test_a_bad_metrics_endpoint_is_refused_at_load_naming_the_key(circusd, workers):
    daemon = circusd()
    daemon.write_ini(web_ini(workers), circus={"metrics_endpoint": "9101"})
    rc, out, err = daemon.run()
    assert rc != 0 and "metrics_endpoint" in out + err and "host:port" in out + err, (rc, out, err)


def test_a_metrics_endpoint_already_taken_stops_circusd_at_start_naming_it(circusd, workers):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        daemon = circusd()
        daemon.write_ini(web_ini(workers), circus={"metrics_endpoint": address})
        rc, out, err = daemon.run()
    assert rc == 1 and "cannot bind the metrics endpoint %s" % address in out + err, (rc, out, err)
    assert not workers.reports("web")


def test_circusd_stats_metrics_serves_what_circusd_reports(circusd, workers, tmp_path):
    daemon = circusd()
    daemon.write_ini(web_ini(workers))
    daemon.start()
    daemon.wait_answering()
    daemon.wait_pids("web", 2)
    stats = subprocess.Popen(
        [sys.executable, "-c", "from circus import stats; stats.main()", "--endpoint", daemon.endpoint, "--pubsub",
         daemon.pubsub_endpoint, "--statspoint", "ipc://%s" % (tmp_path / "stats.sock"),
         "--metrics", "127.0.0.1:0"],
        env=repo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    daemon.tracker.add_root(stats.pid)
    try:
        port = None
        for line in stats.stdout:
            found = re.search(SERVING, line)
            if found:
                port = int(found.group(1))
                break
        assert port, "circusd-stats did not say where it serves"
        samples = scrape(port)
        assert value(samples, "circus_watcher_processes", watcher="web") == 2
        assert value(samples, "process_start_time_seconds") == psutil.Process(daemon.pid).create_time()
        assert get(port, "/readyz")[0] == 200
        ok(call(daemon, "stop", name="web", waiting=True))
        assert get(port, "/readyz")[0] == 503
        daemon.close()
        status, _, body = get(port, "/healthz")
        assert status == 503 and json.loads(body)["status"] == "down"
    finally:
        stats.terminate()
        stats.wait(15)
        stats.stdout.close()
