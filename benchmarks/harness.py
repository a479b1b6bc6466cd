"""Shared machinery of the benchmarks: run a circusd, watch it, clean up after it.

The benchmarks compare two implementations of circusd, each run as a separate
interpreter from an ini file written to a temporary directory: ours (this tree)
and, when the environment variable ``CIRCUS019_PYTHON`` names an interpreter
with ``circus==0.19.0`` installed, the original. Everything talks over
``ipc://`` paths inside that directory, so runs never collide on ports.

Every process a benchmark starts carries ``BENCH_TAG=<random>`` in its
environment (circusd inherits it, workers get it from ``[env:w]``), so
:func:`kill_tagged` finds and kills leftovers even when circusd died first and
its workers were re-parented; workers run in their own sessions, so killing
circusd's process group alone would miss them.

Polling, the event subscriber and the process-group sweep are the tests'
(``tests/helpers``).
"""

import dataclasses
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import psutil
import zmq

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)  # the tests' helpers, shared with the benchmarks

from tests.helpers.events import Subscriber  # noqa: E402,F401  (harness.Subscriber)
from tests.helpers.polling import until  # noqa: E402
from tests.helpers.processes import kill_groups  # noqa: E402
WATCHER = "w"
WORKER_CMD = "/bin/sleep 3600"
WORKER_COMM = "sleep"


@dataclasses.dataclass(frozen=True)
class Implementation:
    """One circus to measure: a label, its interpreter, and its import path."""

    name: str
    python: str
    pythonpath: str | None

    def env(self, tag):
        """The environment circusd (and circusctl) run with.

        Bytecode is cached (outside the source tree) even where the caller's
        environment says PYTHONDONTWRITEBYTECODE: an installed circus has its
        .pyc files, and compiling every module at each start is not what a
        user waits for.
        """
        drop = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "circus-bench-pyc", self.name)
        env["BENCH_TAG"] = tag
        return env

    def warm_up(self):
        """Compile the package and import the entry points once, untimed."""
        code = (
            "import compileall, os, circus\n"
            "compileall.compile_dir(os.path.dirname(circus.__file__), quiet=1)\n"
            "import circus.circusd, circus.arbiter, circus.controller, circus.circusctl\n"
        )
        subprocess.run(
            [self.python, "-c", code],
            env=self.env("warm-up"),
            cwd="/",
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def implementations(only=None):
    """Ours, then 0.19 when ``CIRCUS019_PYTHON`` is set, each warmed up; ``only`` keeps one."""
    found = [Implementation("ours", sys.executable, REPO)]
    other = os.environ.get("CIRCUS019_PYTHON")
    if other:
        found.append(Implementation("0.19", other, None))
    if only:
        found = [impl for impl in found if impl.name == only]
        if not found:
            sys.exit("--only %s: no such implementation (set CIRCUS019_PYTHON for 0.19)" % only)
    for impl in found:
        impl.warm_up()
    return found


# --------------------------------------------------------------------------- config


def write_config(directory, numprocesses, tag, circus_options=()):
    """Write ``circus.ini`` for one watcher of ``numprocesses`` sleepers; return endpoints.

    ``circus_options`` are extra ``(key, value)`` lines for ``[circus]`` (``--set``).

    ``check_delay`` is left at the ini default (5 s) on purpose: 0.19 finds dead
    workers only at that tick, ours on SIGCHLD, and the benchmark measures the
    defaults a user gets. The multicast port is random to keep concurrent runs
    from sharing one.
    """
    endpoint = "ipc://%s/control.sock" % directory
    pubsub = "ipc://%s/events.sock" % directory
    port = random.randint(20000, 60000)
    text = (
        "[circus]\n"
        "endpoint = %s\n"
        "pubsub_endpoint = %s\n"
        "multicast_endpoint = udp://239.255.%d.%d:%d\n"
        "%s"
        "\n[watcher:%s]\n"
        "cmd = %s\n"
        "numprocesses = %d\n"
        "\n[env:%s]\n"
        "BENCH_TAG = %s\n"
    ) % (
        endpoint,
        pubsub,
        random.randint(1, 254),
        random.randint(1, 254),
        port,
        "".join("%s = %s\n" % option for option in circus_options),
        WATCHER,
        WORKER_CMD,
        numprocesses,
        WATCHER,
        tag,
    )
    path = os.path.join(directory, "circus.ini")
    with open(path, "w") as f:
        f.write(text)
    return path, endpoint, pubsub


# --------------------------------------------------------------------------- /proc


def children(pid):
    """Pids of the direct children of ``pid`` (all threads), [] if it is gone."""
    pids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return pids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                pids.extend(int(p) for p in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def proc_state(pid):
    """``(comm, state letter)`` of ``pid``, or None when it no longer exists."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm is in parentheses and may itself contain ") ": split at the last one.
    left, right = stat.index(b"("), stat.rindex(b")")
    return stat[left + 1 : right].decode("utf8", "replace"), stat[right + 2 : right + 3].decode()


def live_workers(circusd_pid):
    """Children of circusd that have exec'd the worker and are not zombies."""
    live = []
    for pid in children(circusd_pid):
        state = proc_state(pid)
        if state is not None and state[0] == WORKER_COMM and state[1] != "Z":
            live.append(pid)
    return live


def gone(pid):
    """True when ``pid`` does not exist or is a zombie (dead, awaiting its reaper)."""
    state = proc_state(pid)
    return state is None or state[1] == "Z"


def tagged_pids(tag):
    """Pids whose environment contains ``BENCH_TAG=<tag>``."""
    needle = ("BENCH_TAG=%s" % tag).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def kill_tagged(tag):
    """SIGKILL every process carrying ``tag``; return how many there were."""
    pids = [p for p in tagged_pids(tag) if p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def wait_until(predicate, timeout, interval=0.005, what="condition"):
    """``until``, polling more often by default: the benchmarks time what they wait for."""
    return until(predicate, timeout, interval, what)


# --------------------------------------------------------------------------- ZeroMQ


class Control:
    """A persistent DEALER speaking the JSON protocol (works with both implementations)."""

    def __init__(self, context, endpoint, timeout=30.0, prepare=None):
        self.timeout = timeout
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if prepare is not None:  # e.g. CurveZMQ keys, set before the connect
            prepare(self.socket)
        self.socket.connect(endpoint)
        self.counter = 0

    def send(self, command, **properties):
        """Send one request; return its id."""
        self.counter += 1
        call_id = "%s-%d" % (id(self), self.counter)
        message = {"id": call_id, "command": command, "properties": properties}
        self.socket.send(json.dumps(message).encode())
        return call_id

    def receive(self, call_id):
        """The reply carrying ``call_id`` (older replies are skipped)."""
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.socket.poll(int(left * 1000) + 1):
                raise TimeoutError("no reply to %s within %.0f s" % (call_id, self.timeout))
            reply = json.loads(self.socket.recv())
            if reply.get("id") == call_id:
                return reply

    def call(self, command, **properties):
        """Send and wait; raise RuntimeError on an error reply."""
        reply = self.receive(self.send(command, **properties))
        if reply.get("status") != "ok":
            raise RuntimeError("%s failed: %s" % (command, reply))
        return reply

    def close(self):
        self.socket.close()


# --------------------------------------------------------------------------- daemon


class Daemon:
    """One circusd run of ``impl`` with ``numprocesses`` workers in a fresh temp dir.

    Use as a context manager: leaving it (normally, on error or on Ctrl-C) kills
    circusd's process group and every tagged leftover, then removes the dir.
    """

    def __init__(self, impl, numprocesses, context, circus_options=()):
        self.impl = impl
        self.numprocesses = numprocesses
        self.context = context
        self.tag = uuid.uuid4().hex
        self.tmp = tempfile.TemporaryDirectory(prefix="circus-bench-")
        self.config, self.endpoint, self.pubsub = write_config(
            self.tmp.name, numprocesses, self.tag, circus_options
        )
        self.proc = None
        self.launched_at = None
        self.log = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def launch(self):
        """Start circusd; ``launched_at`` is the epoch just before the exec."""
        self.log = open(os.path.join(self.tmp.name, "circusd.log"), "wb")
        argv = [self.impl.python, "-m", "circus.circusd", self.config]
        self.launched_at = time.time()
        self.proc = subprocess.Popen(
            argv,
            cwd=self.tmp.name,
            env=self.impl.env(self.tag),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.proc

    @property
    def pid(self):
        return self.proc.pid

    def check_alive(self):
        """Raise with the log's tail if circusd has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(
                "%s circusd exited with %s:\n%s" % (self.impl.name, self.proc.returncode, self.tail())
            )

    def tail(self, lines=15):
        try:
            with open(os.path.join(self.tmp.name, "circusd.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf8", "replace")
        except OSError:
            return ""

    def wait_workers(self, count, timeout):
        """Poll until ``count`` live workers run; return (epoch seen, their pids).

        Reading the state of 1000 children costs ~25 ms, which would take a core
        from circusd on a small machine: each poll reads the children list
        (under 1 ms) and only checks the children not yet seen as workers.
        """
        workers = set()

        def ready():
            self.check_alive()
            pids = children(self.pid)
            if len(pids) < count:
                return None
            for pid in pids:
                if pid not in workers:
                    state = proc_state(pid)
                    if state is not None and state[0] == WORKER_COMM and state[1] != "Z":
                        workers.add(pid)
            found = [pid for pid in pids if pid in workers]
            return found if len(found) >= count else None

        pids = wait_until(ready, timeout, what="%d live workers" % count)
        return time.time(), pids

    def wait_for_control(self, timeout=30.0):
        """A connected :class:`Control` once circusd answers ``numwatchers``."""
        control = Control(self.context, self.endpoint, timeout=timeout)
        try:
            control.call("numwatchers")
        except BaseException:
            control.close()
            raise
        return control

    def cleanup(self):
        """Kill circusd's group and every tagged process; remove the temp dir."""
        try:
            if self.proc is not None:
                kill_groups([self.proc.pid])
                self.proc.wait(timeout=10)
            # Sweep again until none is left: a worker may have been forked
            # between a sweep and circusd's death.
            until(lambda: not kill_tagged(self.tag), 10, interval=0.05, what="no process tagged %s" % self.tag)
        finally:
            if self.log is not None:
                self.log.close()
            self.tmp.cleanup()


def cpu_seconds(pid):
    """User + system CPU seconds consumed by ``pid`` itself (not its children)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def rss_mb(pid):
    return psutil.Process(pid).memory_info().rss / (1024 * 1024)


# --------------------------------------------------------------------------- figures


def percentile(values, fraction):
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def median(values):
    return statistics.median(values)


def fmt(value, unit):
    """A figure for the table: ``None`` -> ``-``; seconds shown in ms below 1 s."""
    if value is None:
        return "-"
    if unit == "s":
        return "%.1f ms" % (value * 1000) if value < 1 else "%.2f s" % value
    if unit == "ms":
        return "%.3f ms" % value if value < 1 else "%.2f ms" % value
    if unit == "MB":
        return "%.1f MB" % value
    if unit == "cpu":
        return "%.3f s" % value
    if unit == "/s":
        return "%.0f/s" % value
    if unit == "us":
        return "%.0f us" % value
    return str(value)


def gain(ours, theirs, unit):
    """How many times better ours is, as ``"12.3x"`` (below 1: worse), or ``-``.

    Better is smaller for times, CPU and memory, larger for rates (``/s``).
    """
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return "-"
    return "%.1fx" % (ours / theirs if unit == "/s" else theirs / ours)


def print_table(title, rows, impl_names):
    """Rows are ``(label, unit, {impl name: value})``; a gain column when both ran."""
    headers = ["figure"] + list(impl_names)
    both = "ours" in impl_names and "0.19" in impl_names
    if both:
        headers.append("ours better by")
    lines = []
    for label, unit, values in rows:
        line = [label] + [fmt(values.get(name), unit) for name in impl_names]
        if both:
            line.append(gain(values.get("ours"), values.get("0.19"), unit))
        lines.append(line)
    widths = [max(len(str(row[i])) for row in [headers] + lines) for i in range(len(headers))]
    print()
    print(title)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)))
    sys.stdout.flush()


def describe(impl, n, figures, rows):
    """One line per run, as soon as it is done: every figure and every note."""
    notes = {k: v for k, v in figures.items() if k.endswith(("_note", "_source"))}
    text = ", ".join("%s=%s" % (key, fmt(figures.get(key), unit)) for key, _, unit in rows)
    print("  %s N=%d: %s %s" % (impl.name, n, text, notes or ""), flush=True)


def report_failure(impl, n, exc, daemon):
    """Say on stderr that one run failed, with the end of circusd's log."""
    tail = daemon.tail()
    text = "  %s N=%d failed: %s: %s" % (impl.name, n, type(exc).__name__, exc)
    if tail and tail not in str(exc):
        text += "\n  circusd log tail:\n%s" % tail
    print(text, file=sys.stderr, flush=True)


def install_sigterm_as_interrupt():
    """SIGTERM to the benchmark unwinds like Ctrl-C, so context managers clean up."""

    def handler(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, handler)


def measure_each(only, measure):
    """``{impl name: measure(impl, context)}`` for each implementation (see ``implementations``).

    SIGTERM and Ctrl-C unwind every context manager (so every process started
    is killed) and return None.
    """
    install_sigterm_as_interrupt()
    context = zmq.Context()
    results = {}
    try:
        for impl in implementations(only):
            results[impl.name] = measure(impl, context)
    except KeyboardInterrupt:
        print("interrupted; every process started was killed", file=sys.stderr)
        return None
    finally:
        context.term()
    return results



def add_set_option(parser):
    """``--set KEY=VALUE`` (repeatable): an extra ``[circus]`` line for every run."""
    parser.add_argument(
        "--set",
        dest="circus_options",
        action="append",
        default=[],
        type=_key_value,
        metavar="KEY=VALUE",
        help="add KEY = VALUE to [circus] (e.g. loglevel=warning); repeatable",
    )


def _key_value(text):
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError("expected KEY=VALUE, got %r" % text)
    return key.strip(), value.strip()
