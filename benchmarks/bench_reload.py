"""Benchmark a web stack under load through the control actions: requests lost, latency.

For each implementation (ours; Circus 0.19 when ``CIRCUS019_PYTHON`` names
its interpreter) and each server, circusd runs 4 workers on one TCP socket
(``backlog = 1024``, ``use_sockets``, ``graceful_timeout = 10``) serving an
app that answers after 20 ms of work:

    uvicorn    ``uvicorn --fd $(circus.sockets.web)``, an ASGI app (asyncio.sleep)
    gunicorn   ``gunicorn --bind fd://$(circus.sockets.web) --threads 8``, a WSGI app

32 clients each open a fresh connection per request (``Connection: close``)
for ``--duration`` seconds; ``--at`` seconds in, one action runs:

    nothing     no action
    reload      {"command": "reload", "properties": {"name": "web"}} (graceful)
    restart     {"command": "restart", "properties": {"name": "web"}}
    incr/decr   incr web 2, then decr web 2 once the 6 processes run
    sigterm     SIGTERM to one worker process, by hand
    kill -9     SIGKILL to one worker's process group (its in-flight requests are lost)

Each (implementation, server, action) runs on a fresh circusd. Printed per
row: requests, failed requests (connection reset or closed without an
answer, refused, timed out, not 200), p99 and max latency of the answered
ones.

Usage::

    CIRCUS019_PYTHON=/work/venv019/bin/python \\
        python benchmarks/bench_reload.py [--servers uvicorn,gunicorn]
        [--actions nothing,reload,...] [--duration 6] [--at 2] [--only ours|0.19]
        [--json FILE]

The figures are printed; nothing is asserted.
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import harness  # noqa: E402
from httpload import Load, fetch  # noqa: E402
from tests.helpers.polling import until_async  # noqa: E402
from tests.helpers.ports import listening_ports  # noqa: E402
from webstack import SERVERS  # noqa: E402

NUMPROCESSES = 4
ACTIONS = ("nothing", "reload", "restart", "incr/decr", "sigterm", "kill -9")

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="uvicorn,gunicorn", help="comma-separated")
    parser.add_argument("--actions", default=",".join(ACTIONS), help="comma-separated")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of load per run")
    parser.add_argument("--at", type=float, default=2.0, help="seconds of load before the action")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--only", choices=["ours", "0.19"], help="measure one implementation")
    parser.add_argument("--json", help="also write every figure to this file")
    return parser.parse_args(argv)


def write_stack(daemon, server):
    """Replace the harness's ini by the web stack's; the app goes beside it."""
    command, app = SERVERS[server]
    directory = daemon.tmp.name
    with open(os.path.join(directory, "app.py"), "w") as f:
        f.write(app)
    with open(daemon.config, "w") as f:
        f.write(
            "[circus]\nendpoint = %s\npubsub_endpoint = %s\n"
            "statsd = false\n\n"
            "[socket:web]\nhost = 127.0.0.1\nport = 0\nbacklog = 1024\n\n"
            "[watcher:web]\ncmd = %s %s\nworking_dir = %s\nnumprocesses = %d\n"
            "use_sockets = true\ngraceful_timeout = 10\ncopy_env = true\n\n"
            "[env:web]\nBENCH_TAG = %s\n"
            % (daemon.endpoint, daemon.pubsub, sys.executable, command, directory,
               NUMPROCESSES, daemon.tag)
        )


def port_of(pid):
    """The TCP port circusd listens on at 127.0.0.1, or None."""
    ports = listening_ports(pid)
    return ports[0] if ports else None


def workers(pid):
    return sorted(child.pid for child in psutil.Process(pid).children())


async def wait_serving(daemon, port, count, timeout=60):
    """Until circusd runs ``count`` processes and a request is answered."""

    async def serving():
        daemon.check_alive()
        return len(workers(daemon.pid)) == count and (await fetch("127.0.0.1", port, 5))[0] == "ok"

    await until_async(serving, timeout, interval=0.05, what="the stack to serve with %d processes" % count)


async def act(action, daemon, control, port):
    call = lambda command, **props: asyncio.to_thread(control.call, command, **props)  # noqa: E731
    if action in ("reload", "restart"):
        await call(action, name="web")
    elif action == "incr/decr":
        await call("incr", name="web", nb=2)
        await wait_serving(daemon, port, NUMPROCESSES + 2)
        await call("decr", name="web", nb=2)
    elif action == "sigterm":
        os.kill(workers(daemon.pid)[0], signal.SIGTERM)
    elif action == "kill -9":
        os.killpg(workers(daemon.pid)[0], signal.SIGKILL)


def stop_stack(daemon, control):
    """Stop circusd and its workers for good.

    The harness finds leftovers by the BENCH_TAG in their environment, but
    gunicorn's setproctitle overwrites /proc/PID/environ: circusd is asked
    to quit (stopping every worker), and each worker's group is killed if
    circusd is gone before that.
    """
    groups = workers(daemon.pid) if daemon.proc.poll() is None else []
    try:
        control.call("quit")
        daemon.proc.wait(30)
        groups = []  # circusd stopped them
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired):
        pass
    finally:
        control.close()
    for pid in groups:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


async def measure(impl, server, action, args, context):
    with harness.Daemon(impl, NUMPROCESSES, context) as daemon:
        write_stack(daemon, server)
        daemon.launch()
        control = daemon.wait_for_control()
        try:
            port = await asyncio.to_thread(harness.wait_until, lambda: port_of(daemon.pid), 30,
                                           0.05, "circusd listening")
            await wait_serving(daemon, port, NUMPROCESSES)
            async with Load("127.0.0.1", port, concurrency=args.clients) as tally:
                await asyncio.sleep(args.at)
                started = time.monotonic()
                await act(action, daemon, control, port)
                await asyncio.sleep(max(0.0, args.duration - args.at - (time.monotonic() - started)))
        finally:
            stop_stack(daemon, control)
    return {
        "requests": tally.total,
        "failed": tally.failed,
        "p99": tally.percentile(99),
        "max": tally.percentile(100),
        "outcomes": {k: v for k, v in tally.counts.items() if v},
    }


def main(argv=None):
    args = parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    actions = [a for a in args.actions.split(",") if a]
    unknown = set(servers) - set(SERVERS) | set(actions) - set(ACTIONS)
    if unknown:
        sys.exit("unknown server or action: %s" % ", ".join(sorted(unknown)))
    impls = harness.implementations(args.only)
    context = zmq.Context()
    results = {}
    print("%d workers, %d clients, a fresh connection per request, %.0f s of load, action at %.0f s"
          % (NUMPROCESSES, args.clients, args.duration, args.at))
    for server in servers:
        print("\n%s" % server)
        print("  %-10s %-5s %9s %7s %9s %9s" % ("action", "impl", "requests", "failed", "p99", "max"))
        for action in actions:
            for impl in impls:
                row = asyncio.run(measure(impl, server, action, args, context))
                results["%s/%s/%s" % (server, action, impl.name)] = row
                print("  %-10s %-5s %9d %7d %9s %9s" % (
                    action, impl.name, row["requests"], row["failed"],
                    harness.fmt(row["p99"], "s"), harness.fmt(row["max"], "s")), flush=True)
    context.term()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
