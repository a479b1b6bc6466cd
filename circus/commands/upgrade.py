"""upgrade: circusd re-executes itself on the code on disk and keeps its workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import Command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Upgrade(Command):
    """Upgrade circusd in place, without restarting its workers

    circusd first runs the new code on disk on its configuration file
    (``circusd --check-config``); if that fails the reply is an error
    (errno 5) with its output, and nothing changes. Otherwise circusd
    re-executes itself (same pid) and the new code takes over its bound
    sockets and its running processes (pids, wids, ages, output pipes):
    no worker is restarted, no connection to a circus socket refused.
    SIGUSR2 does the same. See docs/upgrade.rst.

    ZMQ message
    -----------

    ::

        {"command": "upgrade"}

    The reply is sent just before the re-execution; the control socket is
    then bound again by the new code within a moment, and a client's next
    request waits for it (ZeroMQ reconnects).

    Command line
    ------------

    ::

        $ circusctl upgrade
    """

    name = "upgrade"

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        from circus.upgrade import upgrade

        return upgrade(arbiter)
