"""Helpers shared by the integration and end-to-end tests.

* ``python(code, *args)``: an ini-safe command line running ``code`` in a
  fresh interpreter.
* ``Workers``: one worker script, written to a temp dir, that reports what it
  sees (pid, argv, env, cwd, umask, fds, limits) as a JSON file once it is
  ready, and can misbehave on request (ignore SIGTERM, fork a grandchild,
  serve HTTP on an inherited socket, write a lot to stdout, exit at once).
* ``until`` / ``until_async``: poll a predicate against a deadline.
* ``ProcessTracker``: remembers every descendant of some roots, so that a
  fixture can assert that nothing a test started is left behind.
* ``Circusd``: a real ``circusd`` subprocess on an ini file in a temp dir.
* ``http_get_unix`` / ``http_get_tcp``: one HTTP GET, body returned.
"""

import asyncio
import contextlib
import functools
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent


# -- command lines ----------------------------------------------------------


def python(code, *args, interpreter=None):
    """Return a command line that runs ``code`` with ``args`` in ``sys.argv[1:]``.

    The code is hex-encoded so that no character of it can be taken by the
    ini parser (``;`` comments, continuation lines) or by circus
    substitutions; ``args`` are shell-quoted but still see ``$(circus.x)``
    substitution, which works on the raw text.
    """
    loader = "exec(bytes.fromhex(\"%s\").decode())" % code.encode().hex()
    words = [interpreter or sys.executable, "-c", loader, *args]
    return " ".join(shlex.quote(str(w)) for w in words)


WORKER_SOURCE = r'''
"""Test worker: report what we see, then behave as asked (see argv flags)."""
import json, os, resource, select, signal, socket, sys, time

opts = {}
for arg in sys.argv[1:]:
    key, _, value = arg.lstrip("-").partition("=")
    opts[key] = value
marker, outdir = opts["marker"], opts["dir"]
pid = os.getpid()


def write(name, payload):
    tmp = os.path.join(outdir, ".%s.tmp" % name)
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.rename(tmp, os.path.join(outdir, name))


def open_fds():
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass  # the fd of the listing itself, closed by now
    return {fd: t for fd, t in fds.items() if not t.startswith("/proc/")}


def on_term(signum, frame):
    if "record-stop" in opts:
        write("%s.%d.stopped" % (marker, pid), {"pid": pid, "time": time.time(),
              "monotonic": time.monotonic(), "signal": signum})
    if "ignore-term" in opts:
        return
    os._exit(0)


fds = open_fds()
umask = os.umask(0)
os.umask(umask)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

grandchild = None
if "fork-child" in opts:
    grandchild = os.fork()
    if grandchild == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            time.sleep(60)

if "spew" in opts:
    chunk = b"x" * 65535 + b"\n"
    left = int(opts["spew"])
    while left > 0:
        left -= os.write(1, chunk[:left])

report = {
    "pid": pid, "ppid": os.getppid(), "argv": sys.argv[1:], "wid": opts.get("wid"),
    "env": dict(os.environ), "cwd": os.getcwd(), "umask": umask, "fds": fds,
    "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    "uid": os.getuid(), "gid": os.getgid(), "time": time.time(),
    "monotonic": time.monotonic(), "grandchild": grandchild,
    "pgid": os.getpgid(0), "sid": os.getsid(0),
}
write("%s.%d.json" % (marker, pid), report)

if "exit" in opts:
    os._exit(int(opts["exit"]))

if "http" in opts:
    # The listening socket is shared with circusd and the other workers and
    # is non-blocking: wait for readability, lose the accept race quietly.
    listener = socket.socket(fileno=int(opts["http"]))
    while True:
        select.select([listener], [], [])
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(4096)
                if not more:
                    break
                data += more
            body = str(pid).encode()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))

while True:
    time.sleep(60)
'''


class Workers:
    """The worker script, written into ``directory``, and its reports.

    ``cmd(marker, *flags)`` gives the command line of a worker; flags are
    ``"ignore-term"``, ``"record-stop"``, ``"fork-child"``, ``"exit=CODE"``,
    ``"spew=BYTES"``, ``"http=FD"``, ``"wid=VALUE"`` or any ``"key=value"``
    (kept in the report's argv). Each started worker writes
    ``<marker>.<pid>.json`` once ready; ``record-stop`` workers write
    ``<marker>.<pid>.stopped`` when they get SIGTERM or SIGINT.
    """

    def __init__(self, directory):
        self.dir = Path(directory) / "reports"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.script = Path(directory) / "worker.py"
        self.script.write_text(WORKER_SOURCE)

    def cmd(self, marker, *flags):
        words = [sys.executable, str(self.script), "--marker=" + marker, "--dir=%s" % self.dir]
        return " ".join(shlex.quote(w) for w in words + ["--" + f for f in flags])

    def reports(self, marker):
        """Every report of ``marker`` so far, oldest first."""
        found = [json.loads(p.read_text()) for p in self.dir.glob("%s.*.json" % marker)]
        return sorted(found, key=lambda r: r["monotonic"])

    def report(self, marker, pid, timeout=10):
        """The report of worker ``pid``, waiting for it to be written."""
        path = self.dir / ("%s.%d.json" % (marker, pid))
        until(path.exists, timeout, what="report of %s[%d]" % (marker, pid))
        return json.loads(path.read_text())

    def stops(self, marker):
        """The stop records of ``marker`` (``record-stop`` workers)."""
        found = [json.loads(p.read_text()) for p in self.dir.glob("%s.*.stopped" % marker)]
        return sorted(found, key=lambda r: r["monotonic"])

    def wait_reports(self, marker, count, timeout=10):
        """Wait until at least ``count`` reports of ``marker`` exist; return them."""
        until(lambda: len(self.reports(marker)) >= count, timeout,
              what="%d report(s) of %r (have %d)" % (count, marker, len(self.reports(marker))))
        return self.reports(marker)

    async def await_reports(self, marker, count, timeout=10):
        """``wait_reports`` for async tests: polls without blocking the loop."""
        await until_async(lambda: len(self.reports(marker)) >= count, timeout,
                          what="%d report(s) of %r" % (count, marker))
        return self.reports(marker)


# -- polling ----------------------------------------------------------------


def _describe(predicate, what):
    return what or getattr(predicate, "__name__", repr(predicate))


def until(predicate, timeout=10, interval=0.02, what=None):
    """Poll ``predicate()`` until it returns a truthy value, and return it.

    Raises AssertionError naming ``what`` (or the predicate) after
    ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, _describe(predicate, what)))
        time.sleep(interval)


async def until_async(predicate, timeout=10, interval=0.02, what=None):
    """Async ``until``: ``predicate`` may be a plain function or return an awaitable."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, _describe(predicate, what)))
        await asyncio.sleep(interval)


def pid_alive(pid):
    """True if ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def async_test(fn=None, *, timeout=60):
    """Run an ``async def`` test in a fresh event loop (``asyncio.run``) with a deadline."""
    if fn is None:
        return functools.partial(async_test, timeout=timeout)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        async def guarded():
            async with asyncio.timeout(timeout):
                return await fn(*args, **kwargs)

        return asyncio.run(guarded())

    return wrapper


def ipc_endpoints(directory):
    """Private control / pub-sub endpoints and an ephemeral multicast port."""
    directory = Path(directory)
    return {
        "controller": "ipc://%s" % (directory / "ctl.sock"),
        "pubsub_endpoint": "ipc://%s" % (directory / "pub.sock"),
        "multicast_endpoint": "udp://237.219.251.97:0",
    }


@contextlib.asynccontextmanager
async def running_arbiter(directory, watchers, **kw):
    """An arbiter from ``get_arbiter`` started on the running loop; stopped on exit."""
    from tornado.ioloop import IOLoop

    from circus import get_arbiter

    options = dict(ipc_endpoints(directory), check_delay=0.5)
    options.update(kw)
    fds_before = arbiter_fds()
    arbiter = get_arbiter(watchers, loop=IOLoop.current(), **options)
    await arbiter.start()
    try:
        yield arbiter
    finally:
        await arbiter.stop()
    await until_async(lambda: arbiter_fds() <= fds_before, timeout=3,
                      what="the arbiter to close its fds: %s" % describe_fds(arbiter_fds() - fds_before))


def arbiter_fds():
    """Open fds, but not the /proc files a ProcessTracker thread is reading at this instant."""
    return {fd for fd, target in describe_fds(open_fds()).items() if not target.startswith("/proc/")}


def open_fds():
    """The fd numbers open in this process."""
    return {int(fd) for fd in os.listdir("/proc/self/fd")} - {-1}


def describe_fds(fds):
    """``{fd: target}`` for error messages."""
    found = {}
    for fd in sorted(fds):
        try:
            found[fd] = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            pass
    return found


class Events:
    """Subscriber to an arbiter's event channel (async, for integration tests).

    ``async with Events(arbiter) as events`` connects a SUB socket and, to
    beat ZeroMQ's slow-joiner loss, publishes probes through
    ``arbiter.publish`` until one comes back. ``await events.next(topic)``
    returns the payload of the next event whose topic is ``topic``.
    """

    def __init__(self, arbiter):
        self.arbiter = arbiter
        self.seen = []  # (topic, payload) in arrival order

    async def __aenter__(self):
        import zmq
        import zmq.asyncio

        self._context = zmq.asyncio.Context()
        self._sub = self._context.socket(zmq.SUB)
        self._sub.linger = 0
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(self.arbiter.pubsub_endpoint)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.arbiter.publish("test.probe", {})
            if await self._sub.poll(50):
                break
        else:
            raise AssertionError("no probe came back on %s" % self.arbiter.pubsub_endpoint)
        while await self._sub.poll(0):  # drain the probes
            await self._sub.recv_multipart()
        return self

    async def __aexit__(self, *exc):
        self._sub.close()
        self._context.term()

    async def next(self, topic, timeout=5):
        """Payload of the next event with exactly ``topic``; earlier ones are kept in ``seen``."""
        async with asyncio.timeout(timeout):
            while True:
                raw_topic, raw = await self._sub.recv_multipart()
                event = (raw_topic.decode(), json.loads(raw))
                if event[0] != "test.probe":
                    self.seen.append(event)
                if event[0] == topic:
                    return event[1]


def live_pids(watcher):
    """Pids of a watcher's processes that are alive (not zombies), sorted."""
    return sorted(pid for pid in list(watcher.processes) if pid_alive(pid))


# -- leftovers ----------------------------------------------------------------


class ProcessTracker:
    """Samples the descendants of some root pids in a thread, remembering each.

    A process is identified by ``(pid, create_time)`` so that a reused pid is
    not mistaken for a leftover. ``leftovers()`` lists the remembered
    processes still alive; ``kill_leftovers()`` SIGKILLs them.
    """

    def __init__(self, interval=0.02):
        self.interval = interval
        self.roots = set()
        self.seen = {}  # (pid, create_time) -> cmdline
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="process-tracker", daemon=True)
        self._thread.start()

    def add_root(self, pid):
        with self._lock:
            self.roots.add(pid)
        self.sample()

    def _remember(self, proc):
        try:
            key = (proc.pid, proc.create_time())
            if key not in self.seen:
                self.seen[key] = " ".join(proc.cmdline())[:200]
        except psutil.Error:
            pass

    def sample(self):
        """Record the current descendants of every root (and the roots)."""
        with self._lock:
            for root in list(self.roots):
                try:
                    top = psutil.Process(root)
                    family = [top] if root != os.getpid() else []
                    family += top.children(recursive=True)
                except psutil.Error:
                    continue
                for proc in family:
                    self._remember(proc)

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def leftovers(self):
        """Remembered processes that are still alive (zombies count as gone)."""
        left = []
        for (pid, created), cmdline in self.seen.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append((pid, cmdline))
            except psutil.Error:
                pass
        return left

    def kill_leftovers(self):
        for pid, _ in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# -- circusd ----------------------------------------------------------------


class Circusd:
    """A ``circusd`` subprocess on ``<directory>/circus.ini``.

    ``directory`` holds the ini, the ipc endpoints (``ctl.sock``,
    ``pub.sock``), ``stdout.log`` / ``stderr.log``. The process runs in its
    own process group; every descendant is recorded by ``tracker``.
    """

    # Run through a script named ``circusd`` so that argv[0] (and the usage
    # line) is what an installed entry point gives.
    SCRIPT = "import sys\nfrom circus.circusd import main\nsys.exit(main())\n"

    def __init__(self, directory, tracker, env=None):
        self.dir = Path(directory)
        self.tracker = tracker
        self.ini = self.dir / "circus.ini"
        self.endpoint = "ipc://%s" % (self.dir / "ctl.sock")
        self.pubsub_endpoint = "ipc://%s" % (self.dir / "pub.sock")
        self.extra_env = dict(env or {})
        self.proc = None
        self._out = self._err = None

    # ini -------------------------------------------------------------------

    def circus_section(self, **keys):
        """The ``[circus]`` section: private ipc endpoints plus ``keys``."""
        values = {
            "endpoint": self.endpoint,
            "pubsub_endpoint": self.pubsub_endpoint,
            "multicast_endpoint": "udp://237.219.251.97:0",
        }
        values.update({k: str(v) for k, v in keys.items()})
        return "[circus]\n" + "".join("%s = %s\n" % kv for kv in values.items())

    def write_ini(self, body, circus=None, path=None):
        """Write ``[circus]`` (from the ``circus`` dict) then ``body``; return the path."""
        path = Path(path or self.ini)
        text = self.circus_section(**(circus or {})) + "\n" + textwrap.dedent(body)
        path.write_text(text)
        return path

    # process ---------------------------------------------------------------

    def environ(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def command(self, *args):
        script = self.dir / "bin" / "circusd"
        if not script.exists():
            script.parent.mkdir(exist_ok=True)
            script.write_text(self.SCRIPT)
        return [sys.executable, str(script), *[str(a) for a in args]]

    def start(self, *args, ini=True, prefix=(), pass_fds=()):
        """Start circusd with ``args`` (and the ini path last unless ``ini=False``).

        ``prefix`` runs before circusd's own command (a program that execs
        it), ``pass_fds`` are inherited.
        """
        assert self.proc is None, "one circusd per Circusd object"
        argv = [*prefix, *self.command(*args, *([self.ini] if ini else []))]
        self._out = open(self.dir / "stdout.log", "wb")
        self._err = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(argv, cwd=self.dir, env=self.environ(), stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, start_new_session=True,
                                     pass_fds=pass_fds)
        self.tracker.add_root(self.proc.pid)
        return self

    def run(self, *args, ini=True, timeout=20):
        """Run circusd to completion; return ``(returncode, stdout, stderr)``."""
        self.start(*args, ini=ini)
        rc = self.wait(timeout)
        return rc, self.stdout(), self.stderr()

    @property
    def pid(self):
        return self.proc.pid

    def stdout(self):
        return (self.dir / "stdout.log").read_text(errors="replace")

    def stderr(self):
        return (self.dir / "stderr.log").read_text(errors="replace")

    def log(self):
        """Everything circusd wrote so far (stdout then stderr)."""
        return self.stdout() + self.stderr()

    def wait_log(self, pattern, timeout=10):
        """Wait for a regex to match the log; return the match."""
        return until(lambda: re.search(pattern, self.log(), re.M), timeout,
                     what="circusd log to match %r; log:\n%s" % (pattern, self.log()[-3000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def children(self):
        """Live (non-zombie) direct children of circusd."""
        self.tracker.sample()
        try:
            kids = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [k for k in kids if pid_alive(k.pid)]

    def pids(self, marker):
        """Sorted pids of circusd's live children whose command line has ``--marker=<marker>``."""
        found = []
        for kid in self.children():
            try:
                if "--marker=" + marker in kid.cmdline():
                    found.append(kid.pid)
            except psutil.Error:
                pass
        return sorted(found)

    def wait_pids(self, marker, count, timeout=10):
        """Wait until exactly ``count`` live workers of ``marker`` exist; return their pids."""
        until(lambda: len(self.pids(marker)) == count, timeout,
              what="%d live %r worker(s), have %s; log tail:\n%s"
              % (count, marker, self.pids(marker), self.log()[-2000:]))
        return self.pids(marker)

    def signal(self, signum):
        self.tracker.sample()
        self.proc.send_signal(signum)

    def wait(self, timeout=15):
        """Wait for circusd to exit and return its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("circusd still running after %ss; log tail:\n%s"
                                 % (timeout, self.log()[-3000:])) from None

    def terminate(self, timeout=15):
        """SIGTERM circusd and wait for its exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def close(self):
        """Stop circusd if still running: SIGTERM, wait, then SIGKILL its group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.signal(signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        for f in (self._out, self._err):
            if f:
                f.close()


# -- http ------------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.unix_path))
        self.sock = sock


def _get(conn, url):
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        assert response.status == 200, response.status
        return response.read().decode()
    finally:
        conn.close()


def http_get_unix(path, url="/", timeout=10):
    """GET ``url`` over the unix socket at ``path``; return the body."""
    return _get(_UnixHTTPConnection(path, timeout), url)


def http_get_tcp(host, port, url="/", timeout=10):
    """GET ``url`` from ``host:port``; return the body."""
    return _get(http.client.HTTPConnection(host, port, timeout=timeout), url)


def listening_ports(pid, host="127.0.0.1"):
    """TCP ports on which process ``pid`` listens at ``host``."""
    conns = psutil.Process(pid).net_connections(kind="tcp")
    return sorted(c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr.ip == host)


@contextlib.asynccontextmanager
async def controlled(directory, watchers, **kw):
    """A running arbiter and ``send_message`` of a client of its control socket.

    The client has a ZeroMQ context of its own, so the arbiter's fd check
    is not confused by the client's sockets.
    """
    import zmq

    from circus.client import AsyncCircusClient

    async with running_arbiter(directory, watchers, **kw) as arbiter:
        context = zmq.Context()
        client = AsyncCircusClient(context=context, endpoint=arbiter.endpoint, timeout=15)
        try:
            yield arbiter, client.send_message
        finally:
            client.stop()
            context.term()
