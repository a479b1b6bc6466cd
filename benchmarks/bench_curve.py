"""Benchmark what CurveZMQ costs the control plane: ``status`` round trips, Curve off vs on.

For each size N (``/bin/sleep 3600`` workers in one watcher ``w``), our
circusd runs twice: without Curve, then with ``curve_secret_key`` and
``curve_authorized_keys`` (keys from ``circus.curve.keygen`` in a temp dir)
and a client holding an authorized key. One persistent DEALER sends
``{"command": "status"}`` one at a time::

    status p50 / p99   round trip, ms
    status CPU         circusd's CPU time per call (steadier on a loaded machine)

Usage::

    python benchmarks/bench_curve.py [--sizes 10,1000] [--calls 2000] [--json FILE]

The figures are printed; nothing is asserted.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_control  # noqa: E402
import harness  # noqa: E402

from circus.curve import client_keys, keygen, secure_client  # noqa: E402

ROWS = bench_control.ROWS[:3]  # status p50, p99, circusd CPU per call
MODES = ("curve off", "curve on")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000", help="worker counts, comma-separated")
    parser.add_argument("--calls", type=int, default=2000, help="round trips per size and mode")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def make_keys(directory):
    """``([circus] lines, client socket setup)`` for a Curve run with keys in ``directory``."""
    _, server_secret = keygen(os.path.join(directory, "server"), "circusd")
    authorized = os.path.join(directory, "authorized")
    _, client_secret = keygen(authorized, "bench")
    keys = client_keys(client_secret, server_secret)
    options = [("curve_secret_key", server_secret), ("curve_authorized_keys", authorized)]
    return options, lambda socket: secure_client(socket, keys)


def run_once(impl, n, args, context, options, prepare):
    figures = {"load_note": "load average %.2f at start" % os.getloadavg()[0]}
    with harness.Daemon(impl, n, context, options) as daemon:
        try:
            daemon.launch()
            daemon.wait_workers(n, timeout=60 + n * 0.1)
            control = harness.Control(context, daemon.endpoint, prepare=prepare)
            try:
                harness.wait_until(lambda: _answers(control), 30, what="circusd answering")
                figures["status_p50"], figures["status_p99"], figures["status_cpu"] = bench_control.round_trips(
                    control, daemon.pid, args.calls, "status"
                )
            finally:
                control.close()
        except Exception as exc:
            harness.report_failure(impl, n, exc, daemon)
            figures["error_note"] = "%s: %s" % (type(exc).__name__, exc)
    return figures


def _answers(control):
    control.timeout = 1.0
    try:
        return control.call("numwatchers")
    except TimeoutError:
        return None
    finally:
        control.timeout = 30.0


def main(argv=None):
    args = parse_args(argv)
    harness.install_sigterm_as_interrupt()
    (impl,) = harness.implementations("ours")
    context = zmq.Context()
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="circus-bench-keys-") as keydir:
            curve_options, prepare = make_keys(keydir)
            setups = {"curve off": ((), None), "curve on": (curve_options, prepare)}
            for n in args.sizes:
                for mode in MODES:
                    options, setup = setups[mode]
                    figures = run_once(impl, n, args, context, options, setup)
                    harness.describe(harness.Implementation(mode, impl.python, impl.pythonpath), n, figures, ROWS)
                    results.setdefault(n, {})[mode] = figures
    except KeyboardInterrupt:
        print("interrupted; every process started was killed", file=sys.stderr)
        return 130
    finally:
        context.term()
    for n in args.sizes:
        rows = [(label, unit, {mode: results[n][mode].get(key) for mode in MODES}) for key, label, unit in ROWS]
        harness.print_table("N = %d workers (%d status calls, one client)" % (n, args.calls), rows, MODES)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "when": time.strftime("%Y-%m-%d %H:%M"), "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
