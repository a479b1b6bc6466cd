"""Benchmark circusd-stats: CPU seconds and RSS while it follows N idle workers.

For each size N (``/bin/sleep 3600`` workers) and each implementation (ours;
Circus 0.19 when ``CIRCUS019_PYTHON`` names its interpreter), circusd runs
with ``statsd = true``; once circusd-stats publishes the N pids of the
watcher, a subscriber drains the stats channel for ``--seconds`` and we
report circusd-stats' CPU seconds over that span, its RSS at the end, and
the number of ``stat.w.<pid>`` messages received (N per second expected).

Usage::

    CIRCUS019_PYTHON=/work/venv019/bin/python \\
        python benchmarks/bench_stats.py [--sizes 100,1000] [--seconds 30] [--only ours|0.19]

Target (issue 6): under 1.5 CPU-s per 30 s at 1000 workers. The figures
are printed; nothing is asserted.
"""

import argparse
import os
import sys
import threading
import time

import psutil
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def stats_pid(circusd_pid, timeout=60.0):
    """The pid of circusd's circusd-stats child."""

    def find():
        for pid in harness.children(circusd_pid):
            try:
                if any("stats" in word and "main" in word for word in psutil.Process(pid).cmdline()):
                    return pid
            except psutil.Error:
                continue
        return None

    return harness.wait_until(find, timeout, interval=0.1, what="circusd-stats running")


class Drain(threading.Thread):
    """Receives the stats channel; counts per-process messages of watcher ``w``."""

    def __init__(self, context, endpoint):
        super().__init__(daemon=True)
        self.sock = context.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"stat.")
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.connect(endpoint)
        self.per_process = 0
        self.last_pids = []
        self.done = threading.Event()

    def run(self):
        import json

        prefix = ("stat.%s." % harness.WATCHER).encode()
        aggregate = ("stat.%s" % harness.WATCHER).encode()
        while not self.done.is_set():
            if not self.sock.poll(100):
                continue
            topic, body = self.sock.recv_multipart()
            if topic.startswith(prefix):
                self.per_process += 1
            elif topic == aggregate:
                self.last_pids = json.loads(body)["pid"]
        self.sock.close(linger=0)


def measure(impl, n, seconds, context):
    with harness.Daemon(impl, n, context) as daemon:
        endpoint = "ipc://%s/stats.sock" % daemon.tmp.name
        with open(daemon.config) as f:
            text = f.read()
        text = text.replace("[circus]\n", "[circus]\nstatsd = true\nstats_endpoint = %s\n" % endpoint, 1)
        with open(daemon.config, "w") as f:
            f.write(text)
        daemon.launch()
        daemon.wait_workers(n, timeout=120)
        pid = stats_pid(daemon.pid)
        drain = Drain(context, endpoint)
        drain.start()
        try:
            harness.wait_until(lambda: len(drain.last_pids) >= n, 120, interval=0.1,
                               what="circusd-stats publishing %d pids" % n)
            time.sleep(2)  # let the start-up work (scan, imports) fall out of the window
            before, count_before = harness.cpu_seconds(pid), drain.per_process
            time.sleep(seconds)
            cpu = harness.cpu_seconds(pid) - before
            messages = drain.per_process - count_before
            rss = harness.rss_mb(pid)
        finally:
            drain.done.set()
            drain.join()
    return cpu, rss, messages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=("ours", "0.19"))
    args = parser.parse_args(argv)
    context = zmq.Context()
    impls = harness.implementations(args.only)
    print("circusd-stats over %gs, idle workers (%s)" % (args.seconds, ", ".join(i.name for i in impls)))
    print("%-6s %6s %10s %9s %14s" % ("impl", "N", "CPU-s", "RSS MB", "msgs (N/s)"))
    for n in [int(s) for s in args.sizes.split(",")]:
        for impl in impls:
            cpu, rss, messages = measure(impl, n, args.seconds, context)
            print("%-6s %6d %10.2f %9.1f %8d (%.0f)" % (impl.name, n, cpu, rss, messages, messages / args.seconds))
            sys.stdout.flush()
    context.term()


if __name__ == "__main__":
    main()
