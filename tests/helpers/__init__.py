"""Helpers shared by the tests (and the benchmarks), one job per module.

=================  ==========================================================
``environment``    ``REPO_ROOT``; ``repo_env()`` for a child that imports circus
``polling``        ``until`` / ``until_async`` against a deadline; ``async_test``
``workers``        ``python(code)`` command lines; the worker script and its reports
``processes``      ``pid_alive``, ``live_pids``; ``ProcessTracker`` of leftovers
``fds``            the fds of this process, for the arbiter's fd check
``arbiters``       ``running_arbiter`` / ``controlled``: an in-process arbiter
``events``         the subscriber to an arbiter's event channel
``circusd``        ``Circusd``: a real circusd subprocess on an ini file
``http_get``       one HTTP GET over TCP or a unix socket
``ports``          the TCP ports a process listens on
=================  ==========================================================

Tests import every name from here (``from helpers import until``).
"""

from .arbiters import controlled, ipc_endpoints, running_arbiter
from .circusd import Circusd
from .environment import REPO_ROOT, repo_env
from .events import Events
from .fds import arbiter_fds, describe_fds, open_fds
from .http_get import http_get_tcp, http_get_unix
from .polling import Timeout, async_test, until, until_async
from .ports import listening_ports
from .processes import ProcessTracker, live_pids, pid_alive
from .workers import Workers, python

__all__ = [
    "REPO_ROOT", "Circusd", "Events", "ProcessTracker", "Timeout", "Workers", "arbiter_fds",
    "async_test", "controlled", "describe_fds", "http_get_tcp", "http_get_unix", "ipc_endpoints",
    "listening_ports", "live_pids", "open_fds", "pid_alive", "python", "repo_env", "running_arbiter",
    "until", "until_async",
]
