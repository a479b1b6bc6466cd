"""Benchmark a kill storm: many ``kill -9`` at random moments across one watcher.

For each implementation (ours; Circus 0.19 when ``CIRCUS019_PYTHON`` names its
interpreter), circusd runs ``--workers`` (20) ``/bin/sleep`` workers with the
ini defaults (``check_delay`` 5 s, ``min_uptime`` 1 s, ``max_retry`` 5). The
storm sends ``--kills`` (1,000) SIGKILLs, each to a random live worker, after a
random pause of 0..``--gap`` ms (20). Meanwhile a sampler thread reads the
live workers from /proc every millisecond or so. Printed:

    replacement p50, p99   kill -> the time of the matching ``spawn`` event
                           (kills and spawns paired in order)
    zero alive             moments (samples starting a run of samples) with no
                           live worker at all
    back to N              last kill -> N workers alive again
    CPU per kill           circusd's CPU seconds over the storm / kills
    (note) kills           SIGKILLs that hit a live worker (the storm skips a
                           moment with none alive)

Usage::

    CIRCUS019_PYTHON=/work/venv019/bin/python \\
        python benchmarks/bench_killstorm.py [--workers 20] [--kills 1000]
        [--gap 20] [--only ours|0.19] [--set KEY=VALUE ...]

The figures are printed; nothing is asserted.
"""

import argparse
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

ROWS = [
    ("p50", "replacement median (spawn event - kill)", "s"),
    ("p99", "replacement p99 (spawn event - kill)", "s"),
    ("zero", "moments with zero workers alive", None),
    ("back", "last kill -> N alive again", "s"),
    ("cpu", "circusd CPU time per kill", "s"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=20, help="numprocesses of the watcher")
    parser.add_argument("--kills", type=int, default=1000, help="SIGKILLs in the storm")
    parser.add_argument("--gap", type=float, default=20.0, help="max pause between kills, ms")
    parser.add_argument("--only", choices=["ours", "0.19"], help="measure one implementation")
    harness.add_set_option(parser)
    return parser.parse_args(argv)


class ZeroSampler(threading.Thread):
    """Counts the moments when circusd has no live worker, until stopped."""

    def __init__(self, circusd_pid):
        super().__init__(daemon=True)
        self.circusd_pid = circusd_pid
        self.zero_moments = 0
        self.done = threading.Event()

    def run(self):
        was_zero = False
        while not self.done.is_set():
            zero = not harness.live_workers(self.circusd_pid)
            if zero and not was_zero:
                self.zero_moments += 1
            was_zero = zero
            time.sleep(0.001)


def storm(daemon, kills, gap):
    """Kill random live workers; return the epoch of each kill that hit one."""
    kill_times, killed = [], set()
    for _ in range(kills):
        time.sleep(random.uniform(0, gap / 1000.0))
        # A worker just killed may not be a zombie yet: never count it twice.
        alive = [pid for pid in harness.live_workers(daemon.pid) if pid not in killed]
        if not alive:
            continue
        victim = random.choice(alive)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.add(victim)
        kill_times.append(time.time())
    return kill_times


def run_once(impl, args, context):
    """Every figure for one implementation; a failure is noted, not raised."""
    figures = {"load_note": "load average %.2f at start" % os.getloadavg()[0]}
    n = args.workers
    with harness.Daemon(impl, n, context, args.circus_options) as daemon:
        events = harness.Subscriber(daemon.pubsub, context=context)
        try:
            daemon.launch()
            daemon.wait_workers(n, timeout=60)
            time.sleep(1.0)  # let the start settle; its spawn events are dropped below
            events.drain()
            sampler = ZeroSampler(daemon.pid)
            sampler.start()
            cpu_before = harness.cpu_seconds(daemon.pid)
            try:
                kill_times = storm(daemon, args.kills, args.gap)
                last_kill = time.time()
                seen_at, _ = daemon.wait_workers(n, timeout=60)
                cpu = harness.cpu_seconds(daemon.pid) - cpu_before
            finally:
                sampler.done.set()
                sampler.join()
            spawns = sorted(events.spawn_times(len(kill_times), timeout=10))
            latencies = [s - k for k, s in zip(kill_times, spawns)]
            figures.update(
                p50=harness.median(latencies) if latencies else None,
                p99=harness.percentile(latencies, 0.99) if latencies else None,
                zero=sampler.zero_moments,
                back=max(0.0, seen_at - last_kill),
                kills_note="%d kills hit a live worker" % len(kill_times),
                cpu=cpu / len(kill_times) if kill_times else None,
            )
            if len(spawns) < len(kill_times):
                figures["spawn_note"] = "%d spawn events for %d kills" % (len(spawns), len(kill_times))
        except Exception as exc:
            harness.report_failure(impl, n, exc, daemon)
            figures["error_note"] = "%s: %s" % (type(exc).__name__, exc)
        finally:
            events.close()
    return figures


def main(argv=None):
    args = parse_args(argv)

    def measure(impl, context):
        figures = run_once(impl, args, context)
        harness.describe(impl, args.workers, figures, ROWS)
        return figures

    results = harness.measure_each(args.only, measure)
    if results is None:
        return 130
    rows = [(label, unit, {name: figures.get(key) for name, figures in results.items()})
            for key, label, unit in ROWS]
    title = "kill storm: %d kill -9, 0-%g ms apart, across %d workers" % (args.kills, args.gap, args.workers)
    harness.print_table(title, rows, list(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
