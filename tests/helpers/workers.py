"""Command lines of the children tests run, and the shared worker script.

* ``python(code, *args)``: an ini-safe command line running ``code`` in a
  fresh interpreter.
* ``Workers``: the worker script (``scripts/worker.py``), copied to a temp
  dir, that reports what it sees (pid, argv, env, cwd, umask, fds, limits) as
  a JSON file once it is ready, and can misbehave on request (ignore SIGTERM,
  fork a grandchild, serve HTTP on an inherited socket, write a lot to
  stdout, exit at once).
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
        self.script.write_text((SCRIPTS / "worker.py").read_text())

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
