"""Helpers shared by the tests (and the benchmarks), one job per module.

=================  ===================================================================================
``environment``    ``REPO_ROOT``; ``repo_env()`` for a child that imports circus;
                   ``circusctl_on_path()`` for a shell that runs ``circusctl``;
                   ``system_tool()``: a program's path, or skip the test
``polling``        ``until`` / ``until_async`` against a deadline; ``async_test``
``workers``        ``python(code)``, ``SLEEPER``; the ``Workers``, ``Probe``, ``ReadyWorkers`` scripts
``processes``      ``pid_alive``, ``live_pids``; ``ProcessTracker`` of leftovers; ``kill_groups``
``fds``            the fds of this process, for the arbiter's fd check
``arbiters``       ``running_arbiter`` / ``controlled`` / ``client_of``: an in-process arbiter
``events``         ``Events`` (async, in-process arbiter), ``Subscriber`` (blocking, circusd)
``circusd``        ``Circusd``: a real circusd subprocess on an ini file; ``start``,
                   ``Client``, ``call`` for its control socket
``replies``        ``ok`` / ``error`` and kin: checks of control-socket replies
``http_get``       one HTTP GET over TCP or a unix socket
``ports``          the TCP ports a process listens on
=================  ===================================================================================

Tests import every name from here (``from helpers import until``).
"""

from .arbiters import client_of, controlled, ipc_endpoints, running_arbiter
from .circusd import Circusd, Client, call, start
from .environment import REPO_ROOT, circusctl_on_path, repo_env, system_tool
from .events import Events, Subscriber
from .fds import arbiter_fds, describe_fds, open_fds
from .http_get import http_get_tcp, http_get_unix
from .polling import Timeout, async_test, until, until_async
from .ports import listening_ports
from .processes import ProcessTracker, kill_groups, live_pids, pid_alive
from .replies import error, error_mentioning, not_error, ok, ok_call
from .workers import SLEEPER, WEB_STACK, Probe, ReadyWorkers, Workers, python

__all__ = [
    "Circusd", "Client", "Events", "Probe", "ProcessTracker", "REPO_ROOT", "ReadyWorkers", "SLEEPER", "Subscriber", "WEB_STACK",
    "Timeout", "Workers", "arbiter_fds", "async_test", "call", "circusctl_on_path", "client_of", "controlled",
    "describe_fds", "error", "error_mentioning", "http_get_tcp", "http_get_unix", "ipc_endpoints",
    "kill_groups", "listening_ports", "live_pids", "not_error", "ok", "ok_call", "open_fds",
    "pid_alive", "python", "repo_env", "running_arbiter", "start", "system_tool", "until", "until_async",
]
