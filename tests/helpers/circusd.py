"""A real ``circusd`` subprocess on an ini file in a temp dir."""

import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from .environment import repo_env
from .polling import until
from .processes import kill_groups, pid_alive


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
        return repo_env(dict({"PYTHONUNBUFFERED": "1"}, **self.extra_env))

    def command(self, *args):
        script = self.dir / "bin" / "circusd"
        if not script.exists():
            script.parent.mkdir(exist_ok=True)
            script.write_text(self.SCRIPT)
        return [sys.executable, str(script), *[str(a) for a in args]]

    def start(self, *args, ini=True, stdin=subprocess.DEVNULL, prefix=(), pass_fds=()):
        """Start circusd with ``args`` (and the ini path last unless ``ini=False``).

        ``prefix`` runs before circusd's own command (a program that execs
        it, as systemd would); ``pass_fds`` are inherited.
        """
        assert self.proc is None, "one circusd per Circusd object"
        argv = [*prefix, *self.command(*args, *([self.ini] if ini else []))]
        self._out = open(self.dir / "stdout.log", "wb")
        self._err = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(argv, cwd=self.dir, env=self.environ(), stdin=stdin,
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

    def wait_answering(self, timeout=15):
        """Wait until circusd answers on its control socket; return self."""
        from circus.exc import CallError

        with Client(self, timeout=2) as client:

            def answers():
                try:
                    return client.send_message("numwatchers")["status"] == "ok"
                except CallError:  # not listening yet
                    return False

            until(answers, timeout, what=lambda: "circusd to answer; log:\n%s" % self.log()[-2000:])
        return self

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
        """Stop circusd if still running: SIGTERM and wait; then SIGKILL its
        process group and wait until no process of it is alive."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.signal(signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        kill_groups([self.proc.pid])
        self.proc.wait()
        for f in (self._out, self._err):
            if f:
                f.close()


def start(circusd, body, circus=None, env=None, **circus_keys):
    """A started circusd (from the ``circusd`` fixture) on ``body``.

    ``[circus]`` holds the keys of ``circus`` and ``circus_keys``; ``env`` is
    added to circusd's environment.
    """
    daemon = circusd(env=env)
    daemon.write_ini(body, circus=dict(circus or {}, **circus_keys) or None)
    return daemon.start()


class Client:
    """``with Client(daemon) as c``: a blocking CircusClient on a zmq context of its own."""

    def __init__(self, daemon, timeout=15):
        import zmq

        from circus.client import CircusClient

        self.context = zmq.Context()
        self.client = CircusClient(context=self.context, endpoint=daemon.endpoint, timeout=timeout)

    def __enter__(self):
        return self.client

    def __exit__(self, *exc):
        self.client.stop()
        self.context.term()


def call(daemon, command, timeout=10, **props):
    """One command to ``daemon`` through a client of its own; the reply."""
    with Client(daemon, timeout=timeout) as client:
        return client.send_message(command, **props)
