"""Command lines of the children tests run, and the shared worker script.

* ``python(code, *args)``: an ini-safe command line running ``code`` in a
  fresh interpreter.
* ``SLEEPER``: the command line of a child that sleeps until stopped.
* ``Workers``: the worker script (``scripts/worker.py``), copied to a temp
  dir, that reports what it sees (pid, argv, env, cwd, umask, fds, limits) as
  a JSON file once it is ready, and can misbehave on request (ignore SIGTERM,
  fork a grandchild, serve HTTP on an inherited socket, write a lot to
  stdout, exit at once).
* ``Probe``: the probe script (``scripts/probe.py``), for what a worker's
  report does not show.
"""

import json
import shlex
import sys
from pathlib import Path

from .polling import until, until_async

SCRIPTS = Path(__file__).resolve().parent / "scripts"


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


# A worker of any kind that just sleeps until it is stopped.
SLEEPER = python("import time\nwhile True: time.sleep(60)")


class _Script:
    """A script of ``scripts/`` (and the ``reporting`` module it imports),
    copied into ``directory``; its runs write JSON reports into
    ``directory/<REPORTS>`` named ``<marker>.<pid>.json``."""

    NAME = REPORTS = None

    def __init__(self, directory):
        self.dir = Path(directory) / self.REPORTS
        self.dir.mkdir(parents=True, exist_ok=True)
        for name in (self.NAME, "reporting.py"):
            (Path(directory) / name).write_text((SCRIPTS / name).read_text())
        self.script = Path(directory) / self.NAME

    def args(self, marker, *flags):
        """The script's command line without the interpreter."""
        words = [str(self.script), "--marker=" + marker, "--dir=%s" % self.dir]
        return " ".join(shlex.quote(w) for w in words + ["--" + f for f in flags])

    def cmd(self, marker, *flags, interpreter=sys.executable):
        return "%s %s" % (shlex.quote(interpreter), self.args(marker, *flags))

    def reports(self, marker):
        """Every report of ``marker`` so far, oldest first."""
        found = [json.loads(p.read_text()) for p in self.dir.glob("%s.*.json" % marker)]
        return sorted(found, key=lambda r: r["monotonic"])

    def wait_reports(self, marker, count, timeout=10):
        """Wait until at least ``count`` reports of ``marker`` exist; return them."""
        until(lambda: len(self.reports(marker)) >= count, timeout,
              what=lambda: "%d report(s) of %r (have %d)" % (count, marker, len(self.reports(marker))))
        return self.reports(marker)


class Workers(_Script):
    """The worker script (``scripts/worker.py``), written into ``directory``, and its reports.

    ``cmd(marker, *flags)`` gives the command line of a worker; flags are
    ``"ignore-term"``, ``"record-stop"``, ``"fork-child"``, ``"exit=CODE"``,
    ``"spew=BYTES"``, ``"http=FD"``, ``"wid=VALUE"`` or any ``"key=value"``
    (kept in the report's argv). Each started worker writes
    ``<marker>.<pid>.json`` once ready; ``record-stop`` workers write
    ``<marker>.<pid>.stopped`` when they get SIGTERM or SIGINT.
    """

    NAME, REPORTS = "worker.py", "reports"

    def report(self, marker, pid, timeout=10):
        """The report of worker ``pid``, waiting for it to be written."""
        path = self.dir / ("%s.%d.json" % (marker, pid))
        until(path.exists, timeout, what="report of %s[%d]" % (marker, pid))
        return json.loads(path.read_text())

    def stops(self, marker):
        """The stop records of ``marker`` (``record-stop`` workers)."""
        found = [json.loads(p.read_text()) for p in self.dir.glob("%s.*.stopped" % marker)]
        return sorted(found, key=lambda r: r["monotonic"])

    async def await_reports(self, marker, count, timeout=10):
        """``wait_reports`` for async tests: polls without blocking the loop."""
        await until_async(lambda: len(self.reports(marker)) >= count, timeout,
                          what="%d report(s) of %r" % (count, marker))
        return self.reports(marker)


class Probe(_Script):
    """The probe script (``scripts/probe.py``): where ``Workers`` cannot see
    what a test needs, a probe reports it: argv[0], interpreter and sys.path,
    ids and groups, resource limits, what each fd is (blocking mode, bound
    device, address), and the signals it got. ``--serve=FD`` serves HTTP
    like a worker's ``--http=FD``.
    """

    NAME, REPORTS = "probe.py", "probe-reports"

    def wait(self, marker, count=1, timeout=10):
        """``wait_reports`` with one report by default."""
        return self.wait_reports(marker, count, timeout)

    def signals(self, marker, pid):
        """The signals probe ``pid`` got so far."""
        path = self.dir / ("%s.%d.signals" % (marker, pid))
        return json.loads(path.read_text()) if path.exists() else []


# An HTTP watcher ``web`` of ``ReadyWorkers`` on a socket circusd binds (an ini
# body; ``%(cmd)s``, ``%(numprocesses)d`` and ``%(extra)s``, more watcher keys).
WEB_STACK = """
    [socket:web]
    host = 127.0.0.1
    port = 0
    backlog = 1024

    [watcher:web]
    cmd = %(cmd)s
    numprocesses = %(numprocesses)d
    use_sockets = true
    graceful_timeout = 10
    %(extra)s
"""


class ReadyWorkers(_Script):
    """The readiness worker (``scripts/ready_worker.py``): notify messages, HTTP, a graceful SIGTERM.

    Flags: ``"ready-after=S"``, ``"never-ready"``, ``"watchdog-for=S"``,
    ``"serve=FD"``, ``"listen=PORT"``, ``"listen-after=S"``,
    ``"healthy-after=S"``, ``"latency=S"``, ``"mode-file=PATH"`` (``broken``
    inside: never ready, never serving), ``"status=TEXT"``, ``"extend=USEC"``,
    ``"stopping-after=S"``, ``"trigger-after=S"``, ``"ready-on=PATH"``,
    ``"watchdog-while=PATH"``. Each writes
    ``<marker>.<pid>.json`` (pid, argv, env) at its start.
    """

    NAME, REPORTS = "ready_worker.py", "ready-reports"
