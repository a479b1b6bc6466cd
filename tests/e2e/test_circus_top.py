"""circus-top in a pseudo-terminal, against a real circusd with statsd on."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios

from helpers import REPO_ROOT, until

ANSI = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z@]|[()][0-9A-Za-z]|[=>78DEHM])")
LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"


class Terminal:
    """circus-top on a pty of ``rows`` x ``cols``; ``text()`` is what it printed, escapes removed."""

    def __init__(self, endpoint, tracker, rows=40, cols=100, args=()):
        argv = [sys.executable, "-c", "from circus.stats.client import main; main()", "--endpoint", endpoint,
                *map(str, args)]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TERM="xterm", LINES=str(rows), COLUMNS=str(cols))
        pid, fd = pty.fork()
        if pid == 0:
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd, self.raw = pid, fd, b""
        tracker.add_root(pid)
        self.status = None

    def resize(self, rows, cols, notify=True):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if notify:
            os.kill(self.pid, signal.SIGWINCH)

    def read(self, timeout=0.1):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.raw += os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the pty
                pass

    def text(self):
        return ANSI.sub(b" ", self.raw).decode("utf-8", "replace")

    def wait_text(self, predicate, what, timeout=20):
        def check():
            self.read()
            return predicate(self.text())

        until(check, timeout, interval=0, what="%s on screen; screen text:\n%s" % (what, self.text()[-3000:]))

    def wait_exit(self, timeout=10):
        def exited():
            self.read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            return pid != 0

        until(exited, timeout, interval=0, what="circus-top to exit")
        self.read(0.05)
        return self.status

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


def start_circusd(circusd, workers, tmp_path, **circus):
    stats = "ipc://%s" % (tmp_path / "stats.sock")
    daemon = circusd()
    daemon.write_ini("""
        [watcher:sleepy]
        cmd = %s
        numprocesses = 2

        [watcher:other]
        cmd = %s
        """ % (workers.cmd("sleepy"), workers.cmd("other")),
        circus={"statsd": "true", "stats_endpoint": stats, "check_delay": 0.5, **circus})
    daemon.start()
    return daemon, stats


def test_circus_top_shows_each_watcher_with_its_pids_and_quits_on_q(circusd, workers, tmp_path, tracker):
    daemon, stats = start_circusd(circusd, workers, tmp_path)
    pids = daemon.wait_pids("sleepy", 2) + daemon.wait_pids("other", 1)
    term = Terminal(stats, tracker)
    try:
        term.wait_text(lambda t: "Waiting for data" in t or "Circus Top" in t, "the title")
        term.wait_text(lambda t: all(str(p) in t for p in pids), "every worker pid")
        text = term.text()
        for word in ("Circus Top", "sleepy", "other", "circus", "PID", "CPU (%)", "MEMORY (%)", "AGE (s)",
                     "(avg)", "(sum)", "(circusd)", "(circusd-stats)", str(daemon.pid)):
            assert word in text, word
        os.write(term.fd, b"q")
        assert term.wait_exit() == 0
        # curses left the alternate screen and restored the terminal after its last draw.
        assert term.raw.rstrip().endswith(LEAVE_ALTERNATE_SCREEN) or LEAVE_ALTERNATE_SCREEN in term.raw[-200:]
    finally:
        term.close()


def test_circus_top_fits_a_resized_terminal_and_leaves_on_ctrl_c(circusd, workers, tmp_path, tracker):
    daemon, stats = start_circusd(circusd, workers, tmp_path)
    daemon.wait_pids("sleepy", 2)
    term = Terminal(stats, tracker, rows=40, cols=100)
    try:
        term.wait_text(lambda t: "sleepy" in t, "the sleepy block")
        mark = len(term.raw)
        term.resize(12, 50)

        def redrawn(_):
            after = ANSI.sub(b" ", term.raw[mark:]).decode("utf-8", "replace")
            return "Circus Top" in after and "(circusd)" in after and "-" * 50 not in after

        term.wait_text(redrawn, "a full redraw for 50 columns")
        os.write(term.fd, b"\x03")  # Ctrl-C from the keyboard: SIGINT
        assert term.wait_exit() == 0
        assert LEAVE_ALTERNATE_SCREEN in term.raw[-200:]
    finally:
        term.close()


def test_circus_top_with_curve_keys_shows_the_workers(circusd, workers, tmp_path, tracker):
    from circus.curve import keygen

    _, server = keygen(str(tmp_path / "server"), "circusd")
    public, secret = keygen(str(tmp_path / "viewers"), "top")
    daemon, stats = start_circusd(circusd, workers, tmp_path, curve_secret_key=server,
                                  curve_readonly_keys=tmp_path / "viewers")
    pids = daemon.wait_pids("sleepy", 2)
    term = Terminal(stats, tracker, args=["--curve-key", secret, "--server-key", server.replace("_secret", "")])
    try:
        term.wait_text(lambda t: all(str(p) in t for p in pids), "every worker pid, through CurveZMQ")
        os.write(term.fd, b"q")
        assert term.wait_exit() == 0
    finally:
        term.close()
