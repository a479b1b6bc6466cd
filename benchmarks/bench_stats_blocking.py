"""Benchmark how long ``stats`` and ``dstats`` hold circusd's loop: status latency meanwhile.

For each size N (``/bin/sleep 3600`` workers in one watcher ``w``) and each
implementation (ours; Circus 0.19 when ``CIRCUS019_PYTHON`` names its
interpreter), for each of ``stats`` (every watcher), ``stats w`` and
``dstats``: one DEALER sends the request while a second DEALER sends
``status`` round trips, one after the other, until the first gets its
reply. As a reference, 200 status round trips with nothing else running.
Printed per request, over ``--rounds`` rounds:

    took        time to the reply of the stats request itself (median)
    statuses    status round trips completed while it ran (median)
    status p50  status round trip, median over every round
    status max  the slowest status round trip (the longest the loop was held)

Usage::

    CIRCUS019_PYTHON=/work/venv019/bin/python \\
        python benchmarks/bench_stats_blocking.py [--sizes 1000] [--rounds 5]
        [--only ours|0.19] [--set KEY=VALUE ...]

The figures are printed; nothing is asserted.
"""

import argparse
import json
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

REQUESTS = [
    ("alone", "nothing (reference)", None),
    ("stats", "stats (every watcher)", {}),
    ("stats w", "stats w", {"name": harness.WATCHER}),
    ("dstats", "dstats", {}),
]


def one_round(reader, prober, command, properties):
    """``(seconds to the reply, [status round trips in seconds])`` of one request."""
    latencies = []
    started = time.perf_counter()
    call_id = reader.send(command, **properties)
    while not reader.socket.poll(0):
        sent = time.perf_counter()
        prober.call("status")
        latencies.append(time.perf_counter() - sent)
    reply = reader.receive(call_id)
    took = time.perf_counter() - started
    if reply.get("status") != "ok":
        raise RuntimeError("%s failed: %s" % (command, reply))
    return took, latencies


def measure(daemon, n, rounds, context):
    daemon.launch()
    daemon.wait_workers(n, timeout=60 + n * 0.1)
    reader = daemon.wait_for_control()
    prober = daemon.wait_for_control()
    figures = {}
    try:
        alone = []
        for _ in range(200):
            sent = time.perf_counter()
            prober.call("status")
            alone.append(time.perf_counter() - sent)
        figures["alone"] = {"took": 0.0, "statuses": len(alone), "p50": harness.median(alone) * 1000,
                            "max": max(alone) * 1000}  # fmt: skip
        for key, _, properties in REQUESTS[1:]:
            command = key.split()[0]
            tooks, counts, latencies = [], [], []
            for _ in range(rounds):
                took, round_latencies = one_round(reader, prober, command, properties)
                tooks.append(took)
                counts.append(len(round_latencies))
                latencies.extend(round_latencies)
            figures[key] = {
                "took": harness.median(tooks) * 1000,
                "statuses": harness.median(counts),
                "p50": harness.median(latencies) * 1000 if latencies else None,
                "max": max(latencies) * 1000 if latencies else None,
            }
    finally:
        reader.close()
        prober.close()
    return figures


def show(impl, n, figures):
    print("%s, N = %d workers:" % (impl.name, n))
    print("    %-24s %10s %10s %12s %12s" % ("request", "took ms", "statuses", "status p50", "status max"))
    for key, label, _ in REQUESTS:
        row = figures[key]

        def fmt(value):
            return "-" if value is None else "%.2f" % value

        print("    %-24s %10.1f %10d %12s %12s" % (label, row["took"], row["statuses"], fmt(row["p50"]),
                                                  fmt(row["max"])))  # fmt: skip
    sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000", help="worker counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["ours", "0.19"])
    parser.add_argument("--json", help="also write every figure to this file")
    harness.add_set_option(parser)
    args = parser.parse_args(argv)
    harness.install_sigterm_as_interrupt()
    context = zmq.Context()
    results = {}
    try:
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            for impl in harness.implementations(args.only):
                with harness.Daemon(impl, n, context, args.circus_options) as daemon:
                    try:
                        figures = measure(daemon, n, args.rounds, context)
                    except Exception as exc:
                        harness.report_failure(impl, n, exc, daemon)
                        continue
                show(impl, n, figures)
                results.setdefault(str(n), {})[impl.name] = figures
    except KeyboardInterrupt:
        print("interrupted; every process started was killed", file=sys.stderr)
        return 130
    finally:
        context.term()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
