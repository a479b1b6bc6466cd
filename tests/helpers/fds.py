"""The fds open in this process, to check that an arbiter closes what it opened."""

import os


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


def arbiter_fds():
    """Open fds, but not the /proc files a ProcessTracker thread is reading at this instant."""
    return {fd for fd, target in describe_fds(open_fds()).items() if not target.startswith("/proc/")}
