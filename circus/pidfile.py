"""The pid file of circusd: refuse to start when a live circusd holds it."""

import errno
import os


class PidfileInUse(RuntimeError):
    """Another live process holds the pid file."""


class Pidfile:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.pid = None

    def _read(self):
        try:
            with open(self.path) as handle:
                return int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return None

    def check(self, pid=None):
        """Raise PidfileInUse when a live process other than ``pid`` holds the file."""
        pid = os.getpid() if pid is None else pid
        old = self._read()
        if old and old != pid and _alive(old):
            raise PidfileInUse(
                "pid file %s is held by the running process %d" % (self.path, old)
            )

    def create(self, pid=None):
        """Write ``pid``; raises PidfileInUse when a live other process holds the file."""
        pid = os.getpid() if pid is None else pid
        self.check(pid)
        tmp = "%s.%d.tmp" % (self.path, pid)
        with open(tmp, "w") as handle:
            handle.write("%d\n" % pid)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)
        self.pid = pid

    def unlink(self):
        """Remove the file if it still holds our pid."""
        if self.pid is not None and self._read() == self.pid:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.pid = None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
