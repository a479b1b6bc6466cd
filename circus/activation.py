"""systemd socket activation, both ends.

Inbound: a supervisor that bound sockets for circusd (a systemd ``.socket``
unit, or a test) passes them as fds 3, 4, ... and says so in ``LISTEN_FDS``,
``LISTEN_FDNAMES`` and ``LISTEN_PID``; :func:`inherited_sockets` takes them,
by name, for the ``[socket:NAME]`` sections with ``systemd = true``.

Outbound: a watcher with ``listen_fds = true`` hands its sockets to each
worker the same way, so a program that supports socket activation runs
under circusd unchanged. ``LISTEN_PID`` must be the worker's own pid and the
fds must be 3, 4, ... in the worker, which only the child can arrange after
the fork: :func:`worker_argv` wraps the command in a few lines of Python that
move the fds into place, set ``LISTEN_PID`` and exec the command (same pid).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Dict, List, MutableMapping, Optional, Sequence

logger = logging.getLogger("circus.activation")

LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")

# What this process was given at exec, claimed once (see :func:`claim`).
_claimed: Optional[Dict[str, int]] = None


def claim() -> Dict[str, int]:
    """The sockets passed to this process, taken from the environment once.

    circusd calls it first thing, before any fd is opened; later calls (a
    ``[socket:NAME]`` with ``systemd = true``) get the same mapping.
    """
    global _claimed
    if _claimed is None:
        _claimed = inherited_sockets()
    return _claimed


def hand_over(fds: Dict[str, int]) -> None:
    """After an upgrade (``circus.upgrade``): the sockets the image before this one had claimed."""
    global _claimed
    _claimed = dict(fds)


def dup_inherited(name: str) -> int:
    """A new fd for the passed socket ``name`` (the original stays, for a reload)."""
    fds = claim()
    if name not in fds:
        given = ", ".join(sorted(fds)) or "none"
        raise ValueError("socket %s: systemd = true but circusd was given no socket named %r"
                         " (LISTEN_FDNAMES: %s)" % (name, name, given))
    return os.dup(fds[name])


def inherited_sockets(environ: MutableMapping[str, str] = os.environ) -> Dict[str, int]:
    """``{name: fd}`` of the sockets our supervisor passed, and forget the variables.

    Nothing when ``LISTEN_PID`` names another process (the variables were
    meant for a parent) or is missing. Unnamed fds are called ``unknown`` as
    systemd does; of two fds with one name the first is taken. The fds are
    made close-on-exec: a worker gets one only through its watcher.
    """
    values = {key: environ.pop(key, "") for key in _VARIABLES}
    if values["LISTEN_PID"] != str(os.getpid()):
        return {}
    try:
        count = int(values["LISTEN_FDS"])
    except ValueError:
        logger.warning("LISTEN_FDS=%r is not a number: no socket inherited", values["LISTEN_FDS"])
        return {}
    names = values["LISTEN_FDNAMES"].split(":") if values["LISTEN_FDNAMES"] else []
    found: Dict[str, int] = {}
    for index in range(max(count, 0)):
        fd = LISTEN_FDS_START + index
        name = names[index] if index < len(names) and names[index] else "unknown"
        try:
            os.set_inheritable(fd, False)
        except OSError:
            logger.warning("LISTEN_FDS says fd %d (%s) is passed, but it is not open", fd, name)
            continue
        if name in found:
            logger.warning("two inherited sockets are named %r: fd %d is ignored", name, fd)
            continue
        found[name] = fd
    return found


def worker_env(names: Sequence[str]) -> Dict[str, str]:
    """The variables a worker is given besides ``LISTEN_PID`` (set by the wrapper)."""
    return {"LISTEN_FDS": str(len(names)), "LISTEN_FDNAMES": ":".join(names)}


# Run by the child: fds in argv[1] (comma separated) become 3, 4, ...; the
# originals are closed; LISTEN_PID is its own pid; then it execs argv[3:],
# the program being argv[2] (an ``executable``) or else argv[3]. Only the
# standard library, so it works whatever the worker runs.
_WRAPPER = """\
import fcntl, os, sys
fds = [int(fd) for fd in sys.argv[1].split(",") if fd]
base = max(fds + [2]) + len(fds) + 1
high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base) for fd in fds]
for fd in fds:
    os.close(fd)
for target, fd in enumerate(high, 3):
    os.dup2(fd, target)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(sys.argv[2] or sys.argv[3], sys.argv[3:])
"""


def worker_argv(argv: Sequence[str], fds: Sequence[int],
                executable: Optional[str] = None) -> List[str]:
    """``argv`` run so that ``fds`` are 3, 4, ... and LISTEN_PID is the worker's pid.

    ``executable``, when given, is the program run with ``argv`` (as
    ``subprocess.Popen``'s). ``fds`` must be passed to the child
    (``pass_fds``); the worker has them at 3, 4, ... only.
    """
    return [sys.executable, "-c", _WRAPPER, ",".join(str(fd) for fd in fds),
            executable or "", *argv]


def worker_fds(names: Sequence[str]) -> Dict[str, int]:
    """``{name: fd}`` as the worker has them: what ``$(circus.sockets.NAME)`` gives it."""
    return {name: LISTEN_FDS_START + index for index, name in enumerate(names)}
