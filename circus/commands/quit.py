"""quit: stop every watcher, then circusd."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import WAITING, Command, discard

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Quit(Command):
    """Quit the arbiter immediately

    Every watcher is stopped (each with its graceful timeout), then circusd
    exits.

    ZMQ message
    -----------

    ::

        {"command": "quit", "properties": {"waiting": false}}

    Without ``waiting`` the reply is sent before anything is stopped; with
    it, once every watcher is stopped.

    Command line
    ------------

    ::

        $ circusctl quit [--waiting]
    """

    name = "quit"
    options = (WAITING,)
    waiting = True

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        return discard(arbiter.shutdown())
