"""Benchmark the control plane of circusd: round trips, throughput, circusctl.

For each size N (``/bin/sleep 3600`` workers in one watcher ``w``) and each
implementation (ours; Circus 0.19 when ``CIRCUS019_PYTHON`` names its
interpreter), with raw ZeroMQ DEALER sockets speaking the JSON protocol::

    status       round trip of {"command": "status"} from one persistent client: p50, p99,
                 and circusd's CPU time per call (steadier on a loaded machine)
    list w       round trip of {"command": "list", "properties": {"name": "w"}}: p50, p99
    throughput   status commands answered per second, 4 clients each keeping one in flight
    circusctl    ``python -m circus.circusctl --endpoint E status`` as a whole command
                 (interpreter start included): median of --ctl-runs
    interpreter  ``python -c pass`` with the same interpreter, for reference

Usage::

    CIRCUS019_PYTHON=/work/venv019/bin/python \\
        python benchmarks/bench_control.py [--sizes 10,1000] [--calls 2000]
        [--duration 3] [--clients 4] [--ctl-runs 10] [--only ours|0.19]
        [--json FILE] [--set KEY=VALUE ...]

The figures are printed; nothing is asserted.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

ROWS = [
    ("status_p50", "status round trip p50", "ms"),
    ("status_p99", "status round trip p99", "ms"),
    ("status_cpu", "status, circusd CPU per call", "us"),
    ("list_p50", "list <watcher> round trip p50", "ms"),
    ("list_p99", "list <watcher> round trip p99", "ms"),
    ("list_cpu", "list <watcher>, circusd CPU per call", "us"),
    ("throughput", "status/s, concurrent clients", "/s"),
    ("circusctl", "circusctl status (whole command)", "s"),
    ("interpreter", "python -c pass (reference)", "s"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000", help="worker counts, comma-separated")
    parser.add_argument("--calls", type=int, default=2000, help="round trips per command")
    parser.add_argument("--duration", type=float, default=3.0, help="throughput window, s")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--ctl-runs", type=int, default=10, help="circusctl invocations")
    parser.add_argument("--only", choices=["ours", "0.19"], help="measure one implementation")
    parser.add_argument("--json", help="also write every figure to this file")
    harness.add_set_option(parser)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def round_trips(control, pid, calls, command, **properties):
    """``(p50 ms, p99 ms, circusd CPU µs per call)`` of one request-reply at a time.

    The CPU figure (circusd's own, from /proc, 10 ms ticks over the whole loop)
    hardly moves when other work loads the machine; the latencies do.
    """
    control.call(command, **properties)
    for _ in range(min(100, calls)):  # warm-up: caches, allocator, lazy imports
        control.call(command, **properties)
    timings = []
    cpu_before = harness.cpu_seconds(pid)
    for _ in range(calls):
        started = time.perf_counter()
        reply = control.receive(control.send(command, **properties))
        timings.append((time.perf_counter() - started) * 1000)
        if reply.get("status") != "ok":
            raise RuntimeError("%s failed: %s" % (command, reply))
    cpu_us = (harness.cpu_seconds(pid) - cpu_before) / calls * 1e6
    return harness.median(timings), harness.percentile(timings, 0.99), cpu_us


def throughput(context, endpoint, clients, duration):
    """Replies per second with ``clients`` DEALERs, each keeping one request in flight."""
    controls = [harness.Control(context, endpoint) for _ in range(clients)]
    poller = zmq.Poller()
    for control in controls:
        poller.register(control.socket, zmq.POLLIN)
        control.send("status")
    answered = 0
    started = time.perf_counter()
    deadline = started + duration
    try:
        while time.perf_counter() < deadline:
            for sock, _ in poller.poll(1000):
                reply = json.loads(sock.recv())
                if reply.get("status") != "ok":
                    raise RuntimeError("status failed under load: %s" % reply)
                answered += 1
                sock.send(
                    json.dumps({"id": str(answered), "command": "status", "properties": {}}).encode()
                )
        elapsed = time.perf_counter() - started
        for control in controls:  # collect the last in-flight replies
            control.socket.poll(5000)
        return answered / elapsed
    finally:
        for control in controls:
            control.close()


def timed_command(argv, env, cwd, runs, check_output=None):
    """Median wall time of ``argv`` run to completion ``runs`` times."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=60)
        timings.append(time.perf_counter() - started)
        if done.returncode != 0 or (check_output and check_output not in done.stdout):
            raise RuntimeError(
                "%s: exit %s\n%s%s"
                % (" ".join(argv), done.returncode, done.stdout.decode(), done.stderr.decode())
            )
    return harness.median(timings)


def circusctl_status(daemon, runs):
    argv = [daemon.impl.python, "-m", "circus.circusctl", "--endpoint", daemon.endpoint, "status"]
    env = daemon.impl.env(daemon.tag)
    return timed_command(argv, env, daemon.tmp.name, runs, check_output=b"active")


def interpreter_start(daemon, runs):
    argv = [daemon.impl.python, "-c", "pass"]
    return timed_command(argv, daemon.impl.env(daemon.tag), daemon.tmp.name, runs)


def run_once(impl, n, args, context):
    """Every figure for one implementation at one size; a failure is noted, not raised."""
    figures = {"load_note": "load average %.2f at start" % os.getloadavg()[0]}
    with harness.Daemon(impl, n, context, args.circus_options) as daemon:
        try:
            measure(daemon, n, args, context, figures)
        except Exception as exc:
            harness.report_failure(impl, n, exc, daemon)
            figures["error_note"] = "%s: %s" % (type(exc).__name__, exc)
    return figures


def measure(daemon, n, args, context, figures):
    """Fill ``figures`` (in place, so a failure keeps what was measured)."""
    daemon.launch()
    daemon.wait_workers(n, timeout=60 + n * 0.1)
    control = daemon.wait_for_control()
    try:
        figures["status_p50"], figures["status_p99"], figures["status_cpu"] = round_trips(
            control, daemon.pid, args.calls, "status"
        )
        figures["list_p50"], figures["list_p99"], figures["list_cpu"] = round_trips(
            control, daemon.pid, max(1, args.calls // 2), "list", name=harness.WATCHER
        )
    finally:
        control.close()
    figures["throughput"] = throughput(context, daemon.endpoint, args.clients, args.duration)
    if args.ctl_runs:
        figures["circusctl"] = circusctl_status(daemon, args.ctl_runs)
        figures["interpreter"] = interpreter_start(daemon, args.ctl_runs)
    os.kill(daemon.pid, signal.SIGTERM)
    daemon.proc.wait(timeout=60)


def main(argv=None):
    args = parse_args(argv)
    harness.install_sigterm_as_interrupt()
    impls = harness.implementations(args.only)
    context = zmq.Context()
    results = {}
    try:
        for n in args.sizes:
            for impl in impls:
                figures = run_once(impl, n, args, context)
                harness.describe(impl, n, figures, ROWS)
                results.setdefault(n, {})[impl.name] = figures
    except KeyboardInterrupt:
        print("interrupted; every process started was killed", file=sys.stderr)
        return 130
    finally:
        context.term()
    names = [impl.name for impl in impls]
    for n in args.sizes:
        rows = [
            (label, unit, {name: results[n][name].get(key) for name in names})
            for key, label, unit in ROWS
        ]
        title = "N = %d workers (%d calls, %d clients for %g s)" % (
            n,
            args.calls,
            args.clients,
            args.duration,
        )
        harness.print_table(title, rows, names)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"args": vars(args), "when": time.strftime("%Y-%m-%d %H:%M"), "results": results},
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
