"""Benchmark a rolling reload of an HTTP watcher under load: requests served and failed, reload time.

circusd runs ``--numprocesses`` workers (tests/helpers/scripts/ready_worker.py)
on one circusd socket (``use_sockets``, ``backlog = 1024``); each serves HTTP
with ``--latency`` seconds of work per request and, with readiness, sends
READY=1 ``--ready-after`` seconds after its start. ``--clients`` clients open
a fresh connection per request for the whole run; ``--at`` seconds in,
``reload web`` (waiting) runs. Each mode runs on a fresh circusd:

    rolling     ready = notify, reload_batch = --batch (a count or N%)
    at-once     ready = none: every new process at once, then the old ones stop
    restart     ready = none, restart: stop them all, then start
    0.19-reload, 0.19-restart
                the same watcher under Circus 0.19 (when ``CIRCUS019_PYTHON``
                names its interpreter), which has no readiness

Printed per mode: requests served, failed (reset, refused, timed out, not
200), p99 and max latency of the whole run, p99 of the requests answered
from the command's start to 1 s after its end, and how long the command
took.

Usage::

    [CIRCUS019_PYTHON=/work/venv019/bin/python] \\
    python benchmarks/bench_rolling_reload.py [--numprocesses 8] [--batch 25%]
        [--modes rolling,at-once,restart] [--duration 6] [--at 2] [--clients 32]

The figures are printed; nothing is asserted.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from helpers import WEB_STACK, Circusd, ProcessTracker, ReadyWorkers, call, listening_ports, until  # noqa: E402
from httpload import Load  # noqa: E402

AFTERMATH = 1.0  # seconds after the command that its p99 still covers
MODES = ("rolling", "at-once", "restart", "0.19-reload", "0.19-restart")


class Circusd019(Circusd):
    """Circus 0.19's circusd, from the interpreter in ``CIRCUS019_PYTHON``, on the same ini."""

    def command(self, *args):
        return [os.environ["CIRCUS019_PYTHON"], "-m", "circus.circusd", *[str(a) for a in args]]

    def environ(self):
        return dict(os.environ, PYTHONUNBUFFERED="1")



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numprocesses", type=int, default=8)
    parser.add_argument("--batch", default="25%", help="reload_batch of the rolling mode")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of load per run")
    parser.add_argument("--at", type=float, default=2.0, help="seconds of load before the reload")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds of work per request")
    parser.add_argument("--ready-after", type=float, default=0.5, help="seconds before READY=1")
    return parser.parse_args(argv)


def start(directory, tracker, mode, args):
    workers = ReadyWorkers(directory)
    cmd = workers.cmd("web", "serve=$(circus.sockets.web)", "latency=%g" % args.latency,
                      "ready-after=%g" % args.ready_after)
    readiness = "ready = notify\n    ready_timeout = 30\n    reload_batch = %s" % args.batch \
        if mode == "rolling" else ""
    daemon = (Circusd019 if mode.startswith("0.19") else Circusd)(directory, tracker)
    daemon.write_ini(WEB_STACK % {"cmd": cmd, "numprocesses": args.numprocesses, "extra": readiness})
    daemon.start().wait_answering()
    until(lambda: len(call(daemon, "list", name="web").get("pids", ())) == args.numprocesses
          and "not_ready" not in call(daemon, "status", name="web"), 30, what="the workers")
    return daemon


async def measure(daemon, mode, args):
    port = listening_ports(daemon.pid)[0]
    command = "restart" if mode.endswith("restart") else "reload"
    async with Load("127.0.0.1", port, concurrency=args.clients) as tally:
        await asyncio.sleep(args.at)
        began, first = time.monotonic(), len(tally.latencies)
        reply = await asyncio.to_thread(call, daemon, command, timeout=120, name="web", waiting=True)
        took = time.monotonic() - began
        await asyncio.sleep(AFTERMATH)  # what queued during the command is answered now
        last = len(tally.latencies)
        await asyncio.sleep(max(0.0, args.duration - args.at - took - AFTERMATH))
    if reply["status"] != "ok":
        print("  %s failed: %s" % (command, reply.get("reason")))
    # The requests answered from the command's start to AFTERMATH after its end
    # (latencies are kept in the order the requests end).
    during = sorted(tally.latencies[first:last]) or [float("nan")]
    return tally, took, during[min(len(during) - 1, int(len(during) * 0.99))]


def main(argv=None):
    args = parse_args(argv)
    print("%d workers, %d clients, %g s of work per request, READY=1 after %g s, batch %s"
          % (args.numprocesses, args.clients, args.latency, args.ready_after, args.batch))
    print("%-12s %9s %7s %8s %8s %11s %9s" % ("mode", "served", "failed", "p99 ms", "max ms", "p99 reload", "reload s"))
    for mode in args.modes.split(","):
        if mode.startswith("0.19") and not os.environ.get("CIRCUS019_PYTHON"):
            continue  # no Circus 0.19 to compare with
        tracker = ProcessTracker()
        tracker.add_root(os.getpid())
        with tempfile.TemporaryDirectory() as directory:
            daemon = start(directory, tracker, mode, args)
            try:
                tally, took, p99_during = asyncio.run(measure(daemon, mode, args))
            finally:
                daemon.close()
                tracker.stop()
        print("%-12s %9d %7d %8.0f %8.0f %11.0f %9.2f" % (mode, tally.counts["ok"], tally.failed,
                                                           tally.percentile(99) * 1000,
                                                           tally.percentile(100) * 1000,
                                                           p99_during * 1000, took))


if __name__ == "__main__":
    main()
