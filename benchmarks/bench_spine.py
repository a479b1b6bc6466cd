"""Benchmark the supervision spine of circusd: start, respawn, idle, scale, stop.

For each size N (``/bin/sleep 3600`` workers) and each implementation (ours;
Circus 0.19 when ``CIRCUS019_PYTHON`` names its interpreter), interleaved::

    cold start   launch of circusd -> N workers exec'd (polled in /proc); and the
                 CPU seconds circusd used by then (steadier on a loaded machine)
    arbiter      first -> last worker spawn (spawn event times, else /proc start times)
    respawn      SIGKILL of a random worker -> replacement spawned: median, p90
                 ("event" = the spawn event's ``time`` minus the kill time;
                 "seen" = when the benchmark received that event)
    idle         circusd CPU seconds and RSS over --idle seconds with N workers
    scale-up     ``incr nb=100`` sent -> N+100 workers exec'd (needs the controller);
                 and the CPU seconds circusd used meanwhile
    stop all     SIGTERM to circusd -> circusd and every worker gone; and the CPU
                 seconds circusd used meanwhile

Both run with the ini defaults: in particular ``check_delay`` is 5 s, which is
how often 0.19 looks for dead workers; ours is told of a death by SIGCHLD.

Usage::

    CIRCUS019_PYTHON=/work/venv019/bin/python \\
        python benchmarks/bench_spine.py [--sizes 10,100,1000] [--idle 30]
        [--kills 20] [--kill-gap 5] [--only ours|0.19] [--repeat 1] [--json FILE]
        [--set KEY=VALUE ...]

``--set loglevel=warning`` (repeatable) adds a line to ``[circus]`` for every
run, to see what a setting costs.

The figures are printed; nothing is asserted.
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time

import psutil
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

SCALE_BY = 100
ROWS = [
    ("cold", "cold start (launch -> all running)", "s"),
    ("cold_cpu", "cold start, circusd CPU seconds", "cpu"),
    ("arbiter", "arbiter spawn spread (first -> last)", "s"),
    ("respawn_p50", "respawn median (event time - kill)", "s"),
    ("respawn_p90", "respawn p90 (event time - kill)", "s"),
    ("respawn_seen_p50", "respawn median (event received - kill)", "s"),
    ("idle_cpu", "idle circusd CPU seconds", "cpu"),
    ("rss", "circusd RSS after idle", "MB"),
    ("scale_up", "scale-up +%d (incr -> all running)" % SCALE_BY, "s"),
    ("scale_cpu", "scale-up +%d, circusd CPU seconds" % SCALE_BY, "cpu"),
    ("stop", "stop all (SIGTERM -> all gone)", "s"),
    ("stop_cpu", "stop all, circusd CPU seconds", "cpu"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="worker counts, comma-separated")
    parser.add_argument("--idle", type=float, default=30.0, help="idle window in seconds")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per run")
    parser.add_argument(
        "--kill-gap",
        type=float,
        default=5.0,
        help="kills are spread by a random 0..GAP s pause (GAP = check_delay keeps "
        "0.19's tick phase random)",
    )
    parser.add_argument("--only", choices=["ours", "0.19"], help="measure one implementation")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (medians shown)")
    parser.add_argument("--json", help="also write every figure to this file")
    harness.add_set_option(parser)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def cold_start(daemon, events, n):
    """Launch circusd; figures for the time until N workers run and the spawn spread."""
    daemon.launch()
    seen_at, pids = daemon.wait_workers(n, timeout=60 + n * 0.1)
    # CPU seconds are what circusd itself spent (interpreter start included):
    # unlike wall time, they barely move when other work loads the machine.
    figures = {"cold": seen_at - daemon.launched_at, "cold_cpu": harness.cpu_seconds(daemon.pid)}
    spawn_times = []
    while True:
        event = events.next(0.2)
        if event is None:
            break
        if event[0].endswith(".spawn"):
            spawn_times.append(event[1]["time"])
    if len(spawn_times) >= n:
        figures["arbiter"] = max(spawn_times) - min(spawn_times)
        figures["arbiter_source"] = "events"
    else:
        # Early events are lost before the SUB socket joins; /proc start times
        # have clock-tick (10 ms) resolution but miss nothing.
        starts = [psutil.Process(p).create_time() for p in pids]
        figures["arbiter"] = max(starts) - min(starts)
        figures["arbiter_source"] = "/proc (%d of %d events)" % (len(spawn_times), n)
    return figures


def idle(daemon, events, seconds):
    """circusd's CPU seconds over ``seconds`` of doing nothing, and its RSS after."""
    time.sleep(1.0)  # let the start settle (logging, gc) before the window opens
    events.drain()
    before = harness.cpu_seconds(daemon.pid)
    time.sleep(seconds)
    return {
        "idle_cpu": harness.cpu_seconds(daemon.pid) - before,
        "rss": harness.rss_mb(daemon.pid),
    }


def respawns(daemon, events, kills, gap):
    """Kill random workers one at a time; latency until each replacement is spawned."""
    by_event, by_receipt = [], []
    for _ in range(kills):
        time.sleep(random.uniform(0, gap))
        before = set(harness.live_workers(daemon.pid))
        victim = random.choice(sorted(before))
        events.drain()
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        _, payload, received = events.wait_for(
            lambda topic, p: topic.endswith(".spawn") and p.get("process_pid") not in before, timeout=60
        )
        by_event.append(payload["time"] - killed_at)
        by_receipt.append(received - killed_at)
    return {
        "respawn_p50": harness.median(by_event),
        "respawn_p90": harness.percentile(by_event, 0.9),
        "respawn_seen_p50": harness.median(by_receipt),
        "respawn_all": by_event,
    }


def scale_up(daemon, n):
    """``incr nb=100`` until N+100 run, then ``decr`` back to N; None if no controller."""
    try:
        control = daemon.wait_for_control(timeout=5)
    except (TimeoutError, RuntimeError) as exc:
        return {"scale_up": None, "scale_up_note": "no controller: %s" % exc}
    try:
        busy = call_when_free(control, daemon.pid, "incr", name=harness.WATCHER, nb=SCALE_BY)
        sent_at, cpu_before = busy["accepted_at"], busy["cpu_before"]
        seen_at, _ = daemon.wait_workers(n + SCALE_BY, timeout=60)
        cpu = harness.cpu_seconds(daemon.pid) - cpu_before
        call_when_free(control, daemon.pid, "decr", name=harness.WATCHER, nb=SCALE_BY, waiting=True)
        harness.wait_until(
            lambda: len(harness.live_workers(daemon.pid)) == n, 60, what="back to %d workers" % n
        )
        figures = {"scale_up": seen_at - sent_at, "scale_cpu": cpu}
        if busy["refusals"]:
            figures["scale_up_note"] = "incr refused %d times as busy first" % busy["refusals"]
        return figures
    finally:
        control.close()


def call_when_free(control, pid, command, timeout=30.0, **properties):
    """Send ``command``, again while circusd answers errno 5 (busy: 0.19's manage tick).

    Returns when it was accepted (epoch of the accepted send), circusd's (``pid``)
    CPU seconds just before that send, and how many times it was refused.
    """
    deadline = time.monotonic() + timeout
    refusals = 0
    while True:
        cpu_before = harness.cpu_seconds(pid)
        sent_at = time.time()
        reply = control.receive(control.send(command, **properties))
        if reply.get("status") == "ok":
            return {"accepted_at": sent_at, "cpu_before": cpu_before, "refusals": refusals}
        if reply.get("errno") != 5 or time.monotonic() > deadline:
            raise RuntimeError("%s failed: %s" % (command, reply))
        refusals += 1
        time.sleep(0.02)


def stop_all(daemon, timeout=60.0):
    """SIGTERM circusd; time until it has exited and every worker is dead."""
    pids = set(harness.live_workers(daemon.pid))
    cpu_before = harness.cpu_seconds(daemon.pid)
    # A blocking wait is exact (Popen.wait(timeout) naps up to 50 ms); a timer
    # guards against a circusd that never exits. WNOWAIT leaves the zombie in
    # place, and a zombie still shows its own CPU time (wait4's rusage would add
    # every worker circusd ever reaped).
    watchdog = threading.Timer(timeout, os.killpg, (daemon.pid, signal.SIGKILL))
    started = time.monotonic()
    os.kill(daemon.pid, signal.SIGTERM)
    watchdog.start()
    try:
        os.waitid(os.P_PID, daemon.pid, os.WEXITED | os.WNOWAIT)
    finally:
        watchdog.cancel()
    figures = {"stop_cpu": harness.cpu_seconds(daemon.pid) - cpu_before}
    _, status = os.waitpid(daemon.pid, 0)
    daemon.proc.returncode = os.waitstatus_to_exitcode(status)
    while pids:
        pids = {p for p in pids if not harness.gone(p)}
        if time.monotonic() - started > timeout:
            figures.update(stop=None, stop_note="%d workers still alive" % len(pids))
            return figures
        if pids:
            time.sleep(0.001)
    figures["stop"] = time.monotonic() - started
    if daemon.proc.returncode != 0:
        figures["stop_note"] = "exit status %s" % daemon.proc.returncode
    return figures


def run_once(impl, n, args, context):
    """Every figure for one implementation at one size; a failure is noted, not raised."""
    figures = {"load_note": "load average %.2f at start" % os.getloadavg()[0]}
    with harness.Daemon(impl, n, context, args.circus_options) as daemon:
        events = harness.Subscriber(daemon.pubsub, context=context)
        try:
            figures.update(cold_start(daemon, events, n))
            figures.update(idle(daemon, events, args.idle))
            if args.kills:
                figures.update(respawns(daemon, events, args.kills, args.kill_gap))
            try:
                figures.update(scale_up(daemon, n))
            except (RuntimeError, TimeoutError) as exc:  # still measure the stop
                figures["scale_up_note"] = "%s: %s" % (type(exc).__name__, exc)
            figures.update(stop_all(daemon))
        except Exception as exc:
            harness.report_failure(impl, n, exc, daemon)
            figures["error_note"] = "%s: %s" % (type(exc).__name__, exc)
        finally:
            events.close()
    return figures


def summarise(runs):
    """Median of each numeric figure over repeated runs; other values from the last run."""
    merged = {}
    for run in runs:
        for key, value in run.items():
            if not isinstance(value, (int, float)):
                merged[key] = value
    for key in {k for run in runs for k in run}:
        numbers = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if numbers:
            merged[key] = harness.median(numbers)
    return merged


def main(argv=None):
    args = parse_args(argv)
    harness.install_sigterm_as_interrupt()
    impls = harness.implementations(args.only)
    context = zmq.Context()
    results = {}
    try:
        for n in args.sizes:
            for impl in impls:
                runs = []
                for _ in range(args.repeat):
                    figures = run_once(impl, n, args, context)
                    harness.describe(impl, n, figures, ROWS)
                    runs.append(figures)
                results.setdefault(n, {})[impl.name] = summarise(runs)
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
        print_title = "N = %d workers (idle window %g s, %d kills)" % (n, args.idle, args.kills)
        harness.print_table(print_title, rows, names)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"args": vars(args), "when": time.strftime("%Y-%m-%d %H:%M"), "results": results},
                f,
                indent=1,
                default=str,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
